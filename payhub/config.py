"""Every setting, read from the environment in one place (CONTRACT.md §1).

`load_settings()` reads PAYHUB_* variables (and a `.env` file if present); tests pass a
mapping instead. Secrets left unset in development are generated once and kept in
`instance/payhub-secrets.json` (mode 0600) so that tokens and the API key survive a restart.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

GENERATED = ("api_key", "secret_key", "sandbox_webhook_secret")


@dataclass(frozen=True)
class Settings:
    instance_path: str
    host: str = "127.0.0.1"
    port: int = 5000
    database_url: str = ""
    # PostgreSQL connections each process keeps open (payhub/dbpool.py); requests beyond wait.
    db_pool_size: int = 20
    message_queue: str = ""
    api_key: str = ""
    secret_key: str = ""
    public_url: str = ""
    poll_after: float = 900
    expire_after: float = 1800
    sweep_interval: float = 60
    # Ages past closing (failed/expired/cancelled) at which a payment is polled once more.
    late_watch: tuple[float, ...] = (3600, 21600, 86400, 259200)
    # Polls in flight in one sweep, in all and per gateway.
    sweep_concurrency: int = 32
    sweep_gateway_concurrency: int = 24
    scheduler: bool = True
    # Upgrade the database schema at start (under a lock); 0: only check that it is current.
    migrate: bool = True
    cors_origins: tuple[str, ...] = ()
    sandbox: bool = True
    sandbox_webhook_secret: str = ""
    sandbox_base_url: str = ""
    async_mode: str = "eventlet"
    token_ttl: int = 7 * 24 * 3600
    refresh_interval: float = 5
    gateway_timeout: float = 10
    log_level: str = "INFO"
    merchant_webhook_url: str = ""
    merchant_webhook_secret: str = ""
    # The demo shop at / (sandbox payments only); unset = on exactly when the sandbox is.
    demo_shop: bool | None = None
    # Abuse limits (CONTRACT.md §9, README "Security"). Limit strings are Flask-Limiter's
    # ("10/minute;100/hour"), counted per client address.
    rate_limits: bool = True
    rate_limit_storage: str = ""
    limit_shop: str = "10/minute;60/hour"
    limit_returns: str = "30/minute"
    limit_signin: str = "10/minute;50/hour"
    limit_status: str = "120/minute"
    limit_socket: str = "60/minute"
    limit_subscribe: str = "120/minute"
    # Long polls one process holds at once; beyond it GET …/status?wait= answers 429.
    long_poll_max: int = 1000
    # Seconds a client connection may stay silent (idle keep-alive, a request sent slowly)
    # before the server closes it (python app.py, eventlet). Socket.IO's pings come every 25 s.
    idle_timeout: float = 60
    # Connections one client address may hold at once (python app.py, eventlet; off with
    # rate_limits=0 and behind trusted proxies, which see every client's address).
    connections_per_address: int = 500
    # How many reverse proxies in front set X-Forwarded-For / -Proto (0: trust none).
    trusted_proxies: int = 0
    # Bearer token GET /metrics requires; empty = open (local use).
    metrics_token: str = ""
    # Seconds between two counts of /metrics' database figures in one process (0: every scrape).
    metrics_count_every: float = 5
    # Every other PAYHUB_* variable (gateway credentials, base URLs), lower-cased without
    # the prefix, for the gateway adapters' from_config().
    extra: Mapping[str, str] = field(default_factory=dict)
    # Names of the secrets that were generated at this start (printed once in dev).
    generated: tuple[str, ...] = ()

    def get(self, name: str, default: str = "") -> str:
        return self.extra.get(name, default) or default


_MAY_BE_ZERO = {"trusted_proxies", "metrics_count_every"}
_BOOL = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}


def _convert(name: str, kind: type, raw: str) -> object:
    raw = raw.strip()
    if kind is bool:  # also bool | None: an explicit value
        if raw.lower() not in _BOOL:
            raise ValueError(f"PAYHUB_{name.upper()} must be a boolean, not {raw!r}")
        return _BOOL[raw.lower()]
    if kind in (int, float):
        try:
            if not raw.isascii():  # "²" passes int() checks elsewhere; never here
                raise ValueError(raw)
            value = kind(raw)
        except ValueError:
            raise ValueError(f"PAYHUB_{name.upper()} must be a{'n integer' if kind is int else ' number'}, "
                             f"not {raw!r}") from None
        if value < 0 or (value == 0 and name not in _MAY_BE_ZERO):
            raise ValueError(f"PAYHUB_{name.upper()} must be {'0 or more' if name in _MAY_BE_ZERO else 'positive'}")
        return value
    if kind == tuple[str, ...]:
        return tuple(o.strip().rstrip("/") for o in raw.split(",") if o.strip())
    if kind == tuple[float, ...]:
        return _ages(name, raw)
    return raw


def _ages(name: str, raw: str) -> tuple[float, ...]:
    """A comma list of increasing positive ages in seconds; empty means none."""
    if not raw:
        return ()
    try:
        ages = tuple(float(part) for part in raw.split(","))
    except ValueError:
        ages = ()
    if not ages or any(not 0 < age < float("inf") for age in ages) or list(ages) != sorted(set(ages)):
        raise ValueError(f"PAYHUB_{name.upper()} must be empty or a comma list of increasing positive "
                         f"seconds, e.g. 3600,21600,86400,259200 (got {raw!r})")
    return ages


def load_settings(env: Mapping[str, str] | None = None, *, instance_path: str) -> Settings:
    """Build Settings from PAYHUB_* variables in `env` (default: os.environ + .env)."""
    if env is None:
        from dotenv import dotenv_values

        env = {**dotenv_values(".env"), **os.environ}
    types = {f.name: f.type for f in fields(Settings)}
    kinds = {"int": int, "float": float, "bool": bool, "bool | None": bool, "str": str,
             "tuple[str, ...]": tuple[str, ...], "tuple[float, ...]": tuple[float, ...]}
    values: dict[str, object] = {}
    extra: dict[str, str] = {}
    for key, raw in env.items():
        if not key.startswith("PAYHUB_") or raw is None:
            continue
        name = key[len("PAYHUB_"):].lower()
        if name in types and name not in ("extra", "generated", "instance_path"):
            values[name] = _convert(name, kinds[str(types[name])], str(raw))
        else:
            extra[name] = str(raw)
    values.setdefault("database_url", f"sqlite:///{Path(instance_path) / 'payhub.db'}")
    host, port = values.get("host", "127.0.0.1"), values.get("port", 5000)
    values.setdefault("public_url", f"http://{host}:{port}")
    values["public_url"] = str(values["public_url"]).rstrip("/")
    values.setdefault("sandbox_base_url", f"{values['public_url']}/sandbox")
    if values.get("demo_shop") is None:
        values["demo_shop"] = values.get("sandbox", True)
    settings = Settings(instance_path=instance_path, extra=extra, **values)  # type: ignore[arg-type]
    _check_merchant_webhook(settings)
    if settings.demo_shop and not settings.sandbox:
        raise ValueError("PAYHUB_DEMO_SHOP=1 needs PAYHUB_SANDBOX=1: the demo shop only makes sandbox payments")
    return _fill_secrets(settings)


def _check_merchant_webhook(settings: Settings) -> None:
    """Refuse to start with a merchant webhook URL but no usable Standard Webhooks secret."""
    if not settings.merchant_webhook_url:
        return
    import base64
    import binascii

    secret = settings.merchant_webhook_secret
    try:
        key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if not secret.startswith("whsec_") or len(key) < 16:
        raise ValueError("PAYHUB_MERCHANT_WEBHOOK_SECRET must be whsec_<base64 key of at least 16 bytes> "
                         "when PAYHUB_MERCHANT_WEBHOOK_URL is set")


def _fill_secrets(settings: Settings) -> Settings:
    """Generate the secrets left unset, once, and keep them in the instance folder."""
    missing = [n for n in GENERATED if not getattr(settings, n)]
    if not missing:
        return settings
    path = Path(settings.instance_path) / "payhub-secrets.json"
    stored = json.loads(path.read_text()) if path.exists() else {}
    fresh = [n for n in missing if n not in stored]
    for name in fresh:
        stored[name] = ("phk_" if name == "api_key" else "") + secrets.token_urlsafe(32)
    if fresh:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(stored, handle, indent=2)
    updates = {n: stored[n] for n in missing}
    return _replace(settings, generated=tuple(fresh), **updates)


def _replace(settings: Settings, **changes: object) -> Settings:
    from dataclasses import replace

    return replace(settings, **changes)
