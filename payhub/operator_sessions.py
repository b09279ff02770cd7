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


def session_id(token: str) -> str:
    """The session's id: the sha256 of its token, as the table keeps it."""
    return hashlib.sha256(token.encode()).hexdigest()


def key_mark(settings: Settings) -> str:
    """Which API key a session was opened with, without storing the key."""
    return hmac.new(settings.secret_key.encode(), b"operator:" + settings.api_key.encode(), hashlib.sha256).hexdigest()


def open_session(settings: Settings) -> str:
    """A new session's token (for the cookie). Ended sessions are swept out here."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    db.session.execute(delete(OperatorSession).where(OperatorSession.expires_at < now))
    db.session.add(OperatorSession(token_hash=session_id(token), key_mark=key_mark(settings), created_at=now,
                                   expires_at=now + LIFETIME))
    db.session.commit()
    return token


def is_open(token: str, settings: Settings) -> bool:
    if len(token) > 100:
        return False
    row = db.session.execute(
        select(OperatorSession.key_mark, OperatorSession.expires_at)
        .where(OperatorSession.token_hash == session_id(token))
    ).first()
    db.session.rollback()  # end the read transaction at once
    return (row is not None and row.expires_at > utcnow()
            and hmac.compare_digest(row.key_mark.encode(), key_mark(settings).encode()))


def open_ids(ids: list[str], settings: Settings) -> set[str]:
    """Which of these session ids are still open (for sockets admitted by them)."""
    found = db.session.execute(
        select(OperatorSession.token_hash).where(OperatorSession.token_hash.in_(ids),
                                                 OperatorSession.expires_at > utcnow(),
                                                 OperatorSession.key_mark == key_mark(settings))
    ).scalars()
    still = set(found)
    db.session.rollback()
    return still


def close_session(token: str) -> None:
    db.session.execute(delete(OperatorSession).where(OperatorSession.token_hash == session_id(token)))
    db.session.commit()
