"""An operator's decision on a payment under review (CONTRACT.md §3 `resolve`, §7).

The API route and the dashboard's Resolve control both come here, and from here through the
one door like every other update: source `operator`, kind `resolve`, the note on the event.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from .door import Outcome, apply_update
from .gateways.base import OPERATOR, StatusUpdate
from .lifecycle import RESOLUTIONS, Kind

NOTE_LIMIT = 1000
FIELDS = ("status", "note")


class BadResolution(ValueError):
    """The body of a resolve is not one an operator could mean; names the field at fault."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Resolution:
    status: str  # succeeded or refund_pending
    note: str


def read_resolution(body: Any) -> Resolution:
    """`{status: "succeeded" | "refund_pending", note}` -> a Resolution, or BadResolution."""
    if not isinstance(body, dict):
        raise BadResolution("body must be a JSON object", "body")
    extra = sorted(str(k) for k in body if k not in FIELDS)
    if extra:
        raise BadResolution(f"unknown field {extra[0]!r}", extra[0])
    status = body.get("status")
    if not isinstance(status, str) or status not in RESOLUTIONS:
        raise BadResolution(f"status must be one of {', '.join(RESOLUTIONS)}", "status")
    note = body.get("note")
    if not isinstance(note, str) or not note.strip():
        raise BadResolution("note must say why (a non-empty string)", "note")
    if len(note) > NOTE_LIMIT:
        raise BadResolution(f"note must be at most {NOTE_LIMIT} characters", "note")
    return Resolution(status, note.strip())


def resolve(payment_id: str, gateway: str, resolution: Resolution, *, via: str) -> Outcome:
    """Apply the operator's decision through the door. Applied only to a needs_review payment;
    otherwise recorded on the payment's log and not applied (the caller answers 409)."""
    return apply_update(StatusUpdate(
        gateway=gateway, status=resolution.status, kind=Kind.RESOLVE, gateway_status="", source=OPERATOR,
        payment_id=payment_id,
        # request_id: two decisions with the same words are still two decisions, not a duplicate.
        payload={"action": "resolve", "status": resolution.status, "note": resolution.note, "via": via,
                 "request_id": uuid.uuid4().hex},
    ))
