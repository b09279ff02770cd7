"""`flask payhub ...` commands: sweep, simulate."""

from __future__ import annotations

import click
import requests
from flask import Flask, current_app
from flask.cli import AppGroup

from . import sandbox_ledger as ledger
from .extensions import db
from .models import Payment

payhub_cli = AppGroup("payhub", help="PayHub operations.")

SIMULATED = {"success": "success", "succeeded": "success", "failure": "failure", "failed": "failure",
             "processing": "processing", "pending": "processing"}


@payhub_cli.command("sweep")
def sweep_command() -> None:
    """Run one sweep now: poll stale pending payments, expire old ones."""
    from .scheduler import sweep

    report = sweep()
    click.echo(f"polled {len(report.polled)} payment(s), expired {len(report.expired)}")


@payhub_cli.command("simulate")
@click.argument("payment_id")
@click.argument("status", type=click.Choice(sorted(SIMULATED)))
@click.option("--amount", type=int, default=None, help="Amount paid in minor units (default: the payment's).")
def simulate_command(payment_id: str, status: str, amount: int | None) -> None:
    """Make the sandbox gateway report STATUS for a sandbox payment, with a signed callback."""
    payment = db.session.get(Payment, payment_id)
    if payment is None or payment.gateway != "sandbox" or not payment.gateway_order_id:
        raise click.ClickException("no sandbox payment with that id")
    txn = ledger.find(payment.gateway_order_id)
    if txn is None:
        raise click.ClickException("the sandbox has no transaction for that payment")
    gateway_status = SIMULATED[status]
    paid = amount if amount is not None else txn.amount
    ledger.settle(txn, gateway_status, paid)
    settings = current_app.config["PAYHUB"]
    body = ledger.callback_body(txn.id, gateway_status, paid)
    try:
        answer = ledger.post_callback(txn.callback_url, settings.sandbox_webhook_secret, body)
    except requests.RequestException as exc:
        raise click.ClickException(f"PayHub at {txn.callback_url} is not reachable ({type(exc).__name__}); "
                                   "the sandbox now reports it, so the next sweep or refresh will pick it up") from None
    click.echo(f"sent {gateway_status} callback for {payment_id}: HTTP {answer}")


def init_app(app: Flask) -> None:
    app.cli.add_command(payhub_cli)
