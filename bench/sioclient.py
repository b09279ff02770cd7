"""A minimal Socket.IO v5 client over one aiohttp websocket, for the load generator.

Why not python-socketio's AsyncClient: the driver holds 10,000 of these in one process next to
the server under test on a 2-core machine; this client costs one task and a few objects per
connection and does only what a subscriber does (connect to "/", emit with an ack, receive
events, answer the server's pings). Wire format: Engine.IO v4 packets over websocket frames
("0" open, "2"/"3" ping/pong, "4" message), Socket.IO packets inside ("40" connect,
"42[id][...]" event, "43<id>[...]" ack).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import aiohttp

# Called with (event name, payload, perf_counter() at receipt).
OnEvent = Callable[[str, Any, float], None]


class SioClient:
    def __init__(self, session: aiohttp.ClientSession, base_url: str, on_event: OnEvent | None = None) -> None:
        self._session = session
        self._url = base_url.replace("http://", "ws://", 1) + "/socket.io/?EIO=4&transport=websocket"
        self._on_event = on_event
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._acks: dict[int, asyncio.Future[Any]] = {}
        self._next_ack = 0
        self._reader: asyncio.Task[None] | None = None
        self.closed_at: float | None = None

    @property
    def connected(self) -> bool:
        return self._ws is not None and not self._ws.closed and self.closed_at is None

    async def connect(self, timeout: float = 15) -> None:
        self._ws = await self._session.ws_connect(self._url, timeout=aiohttp.ClientWSTimeout(ws_close=2),
                                                  max_msg_size=0, autoping=True)
        async with asyncio.timeout(timeout):
            opened = await self._ws.receive_str()
            if not opened.startswith("0"):
                raise ConnectionError(f"expected an Engine.IO open packet, got {opened[:40]!r}")
            await self._ws.send_str("40")
            joined = await self._ws.receive_str()
            if not joined.startswith("40"):
                raise ConnectionError(f"Socket.IO connect refused: {joined[:80]!r}")
        self._reader = asyncio.create_task(self._read())

    async def call(self, event: str, data: Any, timeout: float = 15) -> Any:
        """Emit `event` with an ack and return the server's answer (the first ack argument)."""
        assert self._ws is not None
        ack_id, self._next_ack = self._next_ack, self._next_ack + 1
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._acks[ack_id] = future
        await self._ws.send_str(f"42{ack_id}" + json.dumps([event, data], separators=(",", ":")))
        try:
            async with asyncio.timeout(timeout):
                return await future
        finally:
            self._acks.pop(ack_id, None)

    async def _read(self) -> None:
        assert self._ws is not None
        try:
            async for message in self._ws:
                if message.type == aiohttp.WSMsgType.TEXT:
                    await self._packet(message.data)
        finally:
            self.closed_at = time.perf_counter()
            for future in self._acks.values():
                if not future.done():
                    future.set_exception(ConnectionError("connection closed"))

    async def _packet(self, text: str) -> None:
        if text == "2":
            await self._ws.send_str("3")  # type: ignore[union-attr]
        elif text.startswith("42"):
            received = time.perf_counter()
            name, *args = json.loads(text[text.index("["):])
            if self._on_event is not None:
                self._on_event(name, args[0] if args else None, received)
        elif text.startswith("43"):
            bracket = text.index("[")
            future = self._acks.get(int(text[2:bracket]))
            if future is not None and not future.done():
                answer = json.loads(text[bracket:])
                future.set_result(answer[0] if answer else None)
        elif text.startswith("41") or text == "1":
            await self.close()

    async def close(self) -> None:
        if self._ws is not None and not self._ws.closed:
            await self._ws.close()
        if self._reader is not None and self._reader is not asyncio.current_task():
            self._reader.cancel()
