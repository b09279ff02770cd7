from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.livehub import LiveHub


@pytest.fixture
def live_hub(tmp_path: Any) -> Iterator[Any]:
    """Start hubs: live_hub(**PAYHUB_env) -> a started LiveHub; all stopped at the end."""
    hubs: list[LiveHub] = []

    def start(folder: Any = None, **env: str) -> LiveHub:
        hub = LiveHub(folder or tmp_path / f"hub{len(hubs)}", **env).start()
        hubs.append(hub)
        return hub

    yield start
    for hub in hubs:
        hub.stop()
