"""Live updates for browsers: a fan-out from the MQTT/escalation threads to Server-Sent-Event streams.

Each browser gets a bounded asyncio queue (`maxsize` messages). When a slow browser's queue is full the
newest message for it is dropped and counted; the page re-reads the state on the next message anyway.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from typing import Any


class Bus:
    def __init__(self, maxsize: int = 1000) -> None:
        self.maxsize = maxsize
        self.dropped = 0
        self.published = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._subs: set[asyncio.Queue[str | None]] = set()
        self._lock = threading.Lock()

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Called once the web server's event loop runs."""
        self._loop = loop

    def publish(self, kind: str, data: dict[str, Any]) -> None:
        """Thread-safe: queue `{"kind", "data"}` to every connected browser."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        self.published += 1
        msg = json.dumps({"kind": kind, "data": data}, default=str)
        try:
            loop.call_soon_threadsafe(self._fanout, msg)
        except RuntimeError:  # the loop closed between the check and the call (shutdown)
            return

    def _fanout(self, msg: str | None) -> None:
        for q in list(self._subs):
            if q.full():
                self.dropped += 1
            else:
                q.put_nowait(msg)

    def close(self) -> None:
        """End every stream (server shutdown)."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(self._fanout, None)
            except RuntimeError:
                return

    async def stream(self, keepalive_s: float = 15.0) -> AsyncIterator[str]:
        """SSE lines for one browser until the server shuts down or the browser goes."""
        q: asyncio.Queue[str | None] = asyncio.Queue(self.maxsize)
        with self._lock:
            self._subs.add(q)
        try:
            yield "retry: 2000\n\n"
            while True:
                try:
                    msg = await asyncio.wait_for(q.get(), keepalive_s)
                except TimeoutError:
                    yield ": keepalive\n\n"
                    continue
                if msg is None:
                    return
                yield f"data: {msg}\n\n"
        finally:
            with self._lock:
                self._subs.discard(q)

    @property
    def listeners(self) -> int:
        return len(self._subs)
