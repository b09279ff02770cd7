"""The HTTP session each gateway adapter talks through."""

from __future__ import annotations

import requests
from requests.adapters import HTTPAdapter

# Connections kept open per gateway host: at least as many as the sweep polls one gateway with
# at once (PAYHUB_SWEEP_GATEWAY_CONCURRENCY), so a backlog reuses them instead of opening and
# discarding one per poll (requests keeps 10).
POOL = 64


def pooled_session() -> requests.Session:
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=POOL)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session
