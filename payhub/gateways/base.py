"""The gateway adapter base class and the normalized update every adapter produces.

Gateways are translators at the edge: bytes in, a verified `StatusUpdate` out; a payment in,
a status query out. They know nothing of the database or of sockets (DESIGN.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

import requests

from ..lifecycle import Kind, kind_of, target_of

# Sources of an update (CONTRACT.md §2 event `source`).
WEBHOOK = "webhook"
RETURN = "return"
POLL = "poll"
EXPIRY = "expiry"
API = "api"
OPERATOR = "operator"


class GatewayError(Exception):
    """The gateway could not be reached, timed out, or refused: a 502 to the merchant, a retry
    at the next sweep. The message must never contain a credential."""


class InvalidSignature(Exception):
    """The callback is not authentic (bad, missing or expired signature). Nothing changes."""


class BadCallback(Exception):
    """The callback is authentic (or could not even be checked) but cannot be understood."""


class UnverifiedReturn(Exception):
    """A browser return the gateway does not sign (e.g. Razorpay's failure return): anyone can
    send one, so it is never an update. Nothing is written and no token is issued; the web
    layer only sends the shopper on to a page they already hold a token for."""

    def __init__(self, gateway_order_id: str | None) -> None:
        super().__init__("unsigned browser return")
        self.gateway_order_id = gateway_order_id


class AmountNotAccepted(ValueError):
    """The gateway cannot take this amount/currency (e.g. below its minimum): a 400."""

    def __init__(self, message: str, field: str = "amount") -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class PaymentRef:
    """What an adapter may know of a payment: plain values, never a database object."""

    id: str
    order_id: str
    amount: int
    currency: str
    created_at: datetime
    gateway_order_id: str | None = None
    gateway_payment_id: str | None = None
    # A second gateway handle some gateways need to poll (PayAtom's ref_code).
    gateway_reference: str | None = None
    customer: Mapping[str, str] = field(default_factory=dict)
    return_url: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    # Where the browser lands after paying: PayHub's status page for this payment.
    status_page_url: str = ""
    # create() only: an earlier attempt to open this payment failed or its holder died, and may
    # have reached the gateway anyway (a gateway that refuses an order id twice needs a new one).
    reopening: bool = False


@dataclass(frozen=True)
class Checkout:
    """The result of creating the payment at the gateway."""

    gateway_order_id: str
    # What the shopper's browser needs: {"redirect_url": ...} or the gateway's client params.
    checkout: Mapping[str, Any]
    # Kept on the payment and handed back in PaymentRef.gateway_reference (PayAtom's ref_code).
    gateway_reference: str | None = None


@dataclass(frozen=True)
class StatusUpdate:
    """One normalized fact from a gateway (or the scheduler, or the API) about one payment.

    `kind` is what happened (lifecycle.Kind); the transition table decides by it. A source that
    only reports a status may give just `status` (`pending` means "still processing" and
    changes nothing) and the kind follows from it; with a `kind`, `status` must be the status it
    leads to (for RESOLVE, the operator's choice; for INFO, `pending`: no new status). The
    payment is found by `payment_id` when the source knows it, else by (`gateway`,
    `gateway_order_id`).
    """

    gateway: str
    status: str
    gateway_status: str
    source: str = WEBHOOK
    payment_id: str | None = None
    gateway_order_id: str | None = None
    gateway_payment_id: str | None = None
    gateway_event_id: str | None = None
    # The gateway's id of what the update is about when it is not the payment itself: the
    # refund of a refund event (Razorpay rfnd_..., Stripe re_...). The door tells one refund's
    # news from another's by it (a refund's failure may arrive before its creation).
    subject_id: str | None = None
    amount_received: int | None = None
    currency: str | None = None
    # The raw payload as received, with secrets and card data removed (see `redact`).
    payload: Mapping[str, Any] = field(default_factory=dict)
    # True when the event may be about another integration's object on a shared gateway account
    # (a Stripe intent without PayHub's metadata, a Razorpay order without PayHub's notes): if no
    # payment matches, it is recorded and answered 2xx instead of asking the gateway to retry.
    unknown_is_foreign: bool = False
    kind: Kind | None = None
    # (order id, amount) when the gateway signs them joined with no separator (PayAtom): the
    # same bytes could name another order. The hub then applies the update only if no other
    # payment it opened can claim them (payhub/joined_binding.py); otherwise nothing is written.
    joined_order_amount: tuple[str, str] | None = None
    # What the signature covers, when the payload holds more than that (Paytm's checksum covers
    # a form's values, not its field names): two updates with the same signed content are the
    # same update, however the unsigned rest was dressed (the door's duplicate check).
    signed_content: str | None = None
    # True when the shopper can make this update arrive again at will: the same signed bytes
    # pass through their browser (Paytm posts the same form to the return URL and as its
    # webhook), or their page asked for the poll (refresh with the subscribe token). The door
    # keeps a repeat of such an update once, as it does for browser returns.
    shopper_can_repeat: bool = False
    # Why the source sends it (e.g. an expiry for `gateway_unreachable`): the event's `reason`
    # when the transition table gives none (an applied update that is not a mismatch).
    reason: str | None = None

    def __post_init__(self) -> None:
        if self.kind is None:
            object.__setattr__(self, "kind", kind_of(self.status))
            return
        kind = Kind(self.kind)
        if self.status != target_of(kind, self.status if kind is Kind.RESOLVE else None):
            raise ValueError(f"a {kind} update cannot lead to {self.status!r}")
        object.__setattr__(self, "kind", kind)


@dataclass(frozen=True)
class RawRequest:
    """An incoming callback exactly as received: signatures are checked on `body`."""

    body: bytes
    headers: Mapping[str, str]
    content_type: str = ""
    form: Mapping[str, str] = field(default_factory=dict)
    args: Mapping[str, str] = field(default_factory=dict)
    method: str = "POST"


class Gateway:
    """The base of every adapter (RazorpayGateway, SandboxGateway, ...).

    Each adapter implements create, parse_webhook and poll. The optional parts have their
    defaults here, so callers use them directly (no probing for methods): `validate` accepts
    every payment, a browser return is served only where `accepts_returns`, `webhook_reply`
    leaves PayHub's default answer, and `opens_in_transaction` says whether create() may run
    inside the payment's own insert (the sandbox writes its ledger row there). `_request` is
    the one HTTP call wrapper: a transport failure becomes a GatewayError naming no credential.
    """

    name: ClassVar[str]
    # How error messages name the gateway ("razorpay unreachable", "Paytm status answered ...").
    label: ClassVar[str] = ""
    opens_in_transaction: ClassVar[bool] = False
    accepts_returns: ClassVar[bool] = False

    _base_url: str
    _timeout: float
    _http: requests.Session

    def create(self, payment: PaymentRef) -> Checkout:
        """Create the payment at the gateway. Raises GatewayError or AmountNotAccepted."""
        raise NotImplementedError

    def parse_webhook(self, request: RawRequest) -> StatusUpdate | None:
        """Verify a server-to-server callback on its raw bytes and normalize it.

        Raises InvalidSignature or BadCallback; None for an authentic event that says nothing
        about a payment's status (answered 2xx, nothing recorded).
        """
        raise NotImplementedError

    def poll(self, payment: PaymentRef) -> StatusUpdate:
        """Ask the gateway for the payment's status now. Raises GatewayError."""
        raise NotImplementedError

    def validate(self, *, order_id: str, amount: int, currency: str) -> None:
        """Raise AmountNotAccepted(message, field) for a payment this gateway cannot take, before
        anything is stored or sent (a 400 to the merchant). By default every payment is taken."""

    def parse_return(self, request: RawRequest) -> StatusUpdate:
        """Verify a browser return (GET or POST /return/<name>) and normalize it (source RETURN).
        Raises InvalidSignature / BadCallback like parse_webhook. Only where `accepts_returns`."""
        raise NotImplementedError(f"{self.name} has no browser return")

    def webhook_reply(self, result: str) -> tuple[Any, ...] | None:
        """The gateway's own answer to a webhook, for gateways that expect one (PayAtom): (body,
        status) or (body, status, headers); `result` is one of WEBHOOK_RESULTS. None: PayHub's
        default JSON answer."""
        return None

    def _named(self, what: str) -> str:
        return f"{self.label} {what}".strip()

    def _request(self, method: str, path: str, what: str = "", *, timeout: float | None = None,
                 **options: Any) -> requests.Response:
        """One HTTP call to the gateway's API; any transport failure is a GatewayError."""
        try:
            return self._http.request(method, self._base_url + path, timeout=timeout or self._timeout, **options)
        except requests.RequestException as exc:
            raise GatewayError(f"{self._named(what)} unreachable: {type(exc).__name__}") from None

    def _require_status(self, response: requests.Response, what: str = "", expected: int = 200) -> None:
        if response.status_code != expected:
            raise GatewayError(f"{self._named(what)} answered HTTP {response.status_code}")


SECRET_KEYS = frozenset({
    "card", "card_number", "cvv", "cvc", "pan", "number", "exp_month", "exp_year", "expiry",
    "client_secret", "password", "secret", "key_secret", "signature", "razorpay_signature",
    "checksumhash", "post_hash", "txntoken", "authorization", "token",
})


def redact(value: Any) -> Any:
    """Copy a payload with secrets and card data replaced, for the audit log."""
    if isinstance(value, Mapping):
        return {
            k: ("[redacted]" if str(k).lower() in SECRET_KEYS else redact(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


# What a webhook came to, for Gateway.webhook_reply.
WEBHOOK_RESULTS = (
    "applied", "duplicate", "not_applied", "unknown_payment", "invalid_signature",
    "bad_callback", "ignored", "error",
)
