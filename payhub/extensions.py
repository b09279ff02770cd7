"""Extensions created unbound and bound in create_app(), so the scheduler and CLI can import
them without an app."""

from flask import request
from flask_limiter import Limiter
from flask_socketio import SocketIO
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass


def client_address() -> str:
    """The rate limits' key: the peer address, or the one trusted proxies name (ProxyFix)."""
    return request.remote_addr or "unknown"


db = SQLAlchemy(model_class=Base)
socketio = SocketIO()
# Per-address limits on the unauthenticated entry points (payhub/ratelimit.py).
limiter = Limiter(key_func=client_address)
# CSRF tokens for the dashboard's forms; checked only where a view asks (dashboard.py).
csrf = CSRFProtect()
