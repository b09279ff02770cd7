"""The `payhub` commands: run, sweep, simulate, worker, openapi.

Two ways in, the same commands: the `payhub` console script the setup installs into the
virtualenv (`.venv/bin/payhub sweep`), and Flask's CLI (`flask --app payhub payhub sweep`).
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from typing import Any

import click
import requests
from flask import Flask, current_app
from flask.cli import AppGroup, ScriptInfo

from . import ROOT
from .extensions import db
from .models import Payment
from .sandbox import ledger

payhub_cli = AppGroup("payhub", help="PayHub operations. Settings come from PAYHUB_* variables (and .env).")

SIMULATED = {"success": "success", "succeeded": "success", "failure": "failure", "failed": "failure",
             "processing": "processing", "pending": "processing"}


@payhub_cli.command("run", with_appcontext=False)
@click.option("--host", help="Address to listen on (PAYHUB_HOST, default 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port to listen on (PAYHUB_PORT, default 5000).")
@click.option("--async-mode", type=click.Choice(["eventlet", "gevent", "threading"]),
              help="Server mode (PAYHUB_ASYNC_MODE, default eventlet; threading is for development only).")
def run_command(host: str | None, port: int | None, async_mode: str | None) -> None:
    """Run the PayHub server (the same as `python app.py`). Stop it with Ctrl-C."""
    for name, value in (("PAYHUB_HOST", host), ("PAYHUB_PORT", port), ("PAYHUB_ASYNC_MODE", async_mode)):
        if value is not None:
            os.environ[name] = str(value)
    # app.py must monkey-patch before anything else is imported, so it runs as a fresh program.
    os.execv(sys.executable, [sys.executable, str(ROOT / "app.py")])  # noqa: S606 - our own program


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
    """Make the sandbox gateway report STATUS for a sandbox payment, with a signed callback
    to the running hub (its PAYHUB_PUBLIC_URL)."""
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


@payhub_cli.command("openapi")
def openapi_command() -> None:
    """Print the OpenAPI 3.1 document of the HTTP API (also served at /openapi.json)."""
    from .openapi import document

    click.echo(json.dumps(document(current_app), indent=2))


if importlib.util.find_spec("payhub.worker") is not None:

    @payhub_cli.command("worker", with_appcontext=False)
    def worker_command() -> None:
        """Run a worker process: the sweep and merchant notification retries, no HTTP (the web
        processes then run with PAYHUB_SCHEDULER=0). Stop it with Ctrl-C or SIGTERM."""
        from . import worker

        sys.exit(worker.main())


def init_app(app: Flask) -> None:
    app.cli.add_command(payhub_cli)


def main(argv: list[str] | None = None) -> Any:
    """The `payhub` console script."""
    from . import create_app, logs

    logs.configure(*logs.settings_from_env())
    return payhub_cli.main(args=argv, prog_name="payhub", obj=ScriptInfo(create_app=lambda: create_app()))
