"""Server-side dashboard sessions (CONTRACT.md §7): signing out ends the session everywhere.

The signed cookie holds a random token; the database holds only its sha256, the API key it
was opened with (as an HMAC mark, never the key) and when it ends. Every process checks the
same table, so a sign-out on one process is a sign-out on all of them.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from sqlalchemy import delete, select

from .config import Settings
from .extensions import db
from .models import OperatorSession, utcnow

LIFETIME = timedelta(hours=12)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def key_mark(settings: Settings) -> str:
    """Which API key a session was opened with, without storing the key."""
    return hmac.new(settings.secret_key.encode(), b"operator:" + settings.api_key.encode(), hashlib.sha256).hexdigest()


def open_session(settings: Settings) -> str:
    """A new session's token (for the cookie). Ended sessions are swept out here."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    db.session.execute(delete(OperatorSession).where(OperatorSession.expires_at < now))
    db.session.add(OperatorSession(token_hash=_hash(token), key_mark=key_mark(settings), created_at=now,
                                   expires_at=now + LIFETIME))
    db.session.commit()
    return token


def is_open(token: str, settings: Settings) -> bool:
    if len(token) > 100:
        return False
    row = db.session.execute(
        select(OperatorSession.key_mark, OperatorSession.expires_at).where(OperatorSession.token_hash == _hash(token))
    ).first()
    db.session.rollback()  # end the read transaction at once
    return (row is not None and row.expires_at > utcnow()
            and hmac.compare_digest(row.key_mark.encode(), key_mark(settings).encode()))


def close_session(token: str) -> None:
    db.session.execute(delete(OperatorSession).where(OperatorSession.token_hash == _hash(token)))
    db.session.commit()
