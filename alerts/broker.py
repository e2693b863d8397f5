"""An embedded MQTT broker for the one-command demo only (amqtt, pure Python): production and the tests
use Mosquitto (see alerts/mosquitto.conf.example).

`start_embedded_broker(host, port)` runs amqtt on its own asyncio loop in a daemon thread and returns once
it accepts connections; `handle.stop()` shuts it down. Anonymous access, QoS 0/1/2, retained messages and
Last Will all work, which is what the publisher and the central service use.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


@dataclass
class BrokerHandle:
    host: str
    port: int
    _loop: asyncio.AbstractEventLoop = field(repr=False)
    _thread: threading.Thread = field(repr=False)
    _stop: asyncio.Event | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def stop(self, timeout_s: float = 10.0) -> None:
        if self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=timeout_s)


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def start_embedded_broker(host: str = "127.0.0.1", port: int = 0, timeout_s: float = 15.0) -> BrokerHandle:
    """Start amqtt on host:port (0 picks a free port); raises RuntimeError naming the address on failure."""
    from amqtt.broker import Broker

    for name in ("amqtt", "transitions"):  # both log every state change at INFO
        logging.getLogger(name).setLevel(logging.WARNING)
    port = port or _free_port(host)
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    errors: list[BaseException] = []
    handle = BrokerHandle(host, port, loop, threading.Thread())

    async def main() -> None:
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}", "max_connections": 1000}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }
        broker = Broker(config, loop=loop)
        handle._stop = asyncio.Event()
        try:
            await broker.start()
        except Exception as exc:  # amqtt raises its own BrokerError and plain OSError (port in use)
            errors.append(exc)
            ready.set()
            return
        ready.set()  # start() returns once the listener is bound and listening
        await handle._stop.wait()
        await broker.shutdown()

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(main())
        finally:
            loop.close()

    handle._thread = threading.Thread(target=run, name="embedded-mqtt-broker", daemon=True)
    handle._thread.start()
    if not ready.wait(timeout_s) or errors:
        raise RuntimeError(f"embedded MQTT broker could not start on {host}:{port}: "
                           f"{errors[0] if errors else 'timed out'}")
    log.info("embedded MQTT broker (amqtt, demo only) on %s:%d", host, port)
    return handle
