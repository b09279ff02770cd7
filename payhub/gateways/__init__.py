"""The gateway registry: every adapter PayHub has, and which are enabled by the settings."""

from __future__ import annotations

from typing import Any

from ..sandbox.adapter import SandboxGateway
from .base import Gateway
from .payatom import PayAtomGateway
from .paytm import PaytmGateway
from .razorpay import RazorpayGateway
from .stripe_gateway import StripeGateway

# name -> adapter class. An adapter's from_config() returns None when its credentials are
# not set, which disables it (CONTRACT.md §1).
ADAPTERS: dict[str, Any] = {
    "sandbox": SandboxGateway,
    "paytm": PaytmGateway,
    "payatom": PayAtomGateway,
    "razorpay": RazorpayGateway,
    "stripe": StripeGateway,
}

KNOWN: tuple[str, ...] = tuple(ADAPTERS)


def build_gateways(settings: Any) -> dict[str, Gateway]:
    """The enabled gateways, by name."""
    enabled = {}
    for name, adapter in ADAPTERS.items():
        gateway = adapter.from_config(settings)
        if gateway is not None:
            enabled[name] = gateway
    return enabled
