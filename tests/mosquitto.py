"""A real Mosquitto broker for tests: started on a free loopback port with its own config file.

Why `max_queued_messages 100000`: Mosquitto's default (1000) silently drops QoS 1 messages queued for a
subscriber that is slower than the publishers (MEASUREMENTS.md: 4,510 of 5,000 delivered), which would
break the central service's no-loss guarantee during bursts and after outages. `persistence false` so a
kill really loses the broker's state (the outage test wants the worst case).

Use the `mosquitto` fixture for a plain anonymous broker, or `mosquitto_factory(extra_conf=..., tls=...)`
for one with passwords or TLS. Each broker can be `kill()`ed (SIGKILL) and `start()`ed again on the same
port.
"""

from __future__ import annotations

import contextlib
import getpass
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

MOSQUITTO = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


class Mosquitto:
    """One mosquitto process with a config written to `workdir/mosquitto.conf`."""

    def __init__(self, workdir: Path, *, port: int | None = None, extra_conf: str = "",
                 anonymous: bool = True) -> None:
        if MOSQUITTO is None:
            pytest.skip("mosquitto is not installed (Debian package `mosquitto`; .ci/run installs it)")
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.conf = self.workdir / "mosquitto.conf"
        self.log = self.workdir / "mosquitto.log"
        self.conf.write_text("\n".join([
            "per_listener_settings false",
            # started as root, mosquitto would switch to user `mosquitto` and fail to read our tmp files
            f"user {getpass.getuser()}",
            f"listener {self.port} 127.0.0.1",
            f"allow_anonymous {'true' if anonymous else 'false'}",
            "persistence false",
            "max_queued_messages 100000",
            "max_inflight_messages 100",
            f"log_dest file {self.log}",
            "log_type error", "log_type warning", "log_type notice",
            extra_conf, ""]))
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 10.0) -> Mosquitto:
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout_s
        while not _port_open(self.port):
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                tail = self.log.read_text()[-800:] if self.log.exists() else ""
                raise RuntimeError(f"mosquitto exited with {self.proc.returncode}: {err}{tail}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"mosquitto did not listen on port {self.port} within {timeout_s} s")
            time.sleep(0.02)
        return self

    def kill(self) -> None:
        """SIGKILL: no clean shutdown, no persistence; the port is free again after this returns."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.kill()
        if self.proc and self.proc.stderr:
            with contextlib.suppress(OSError):
                self.proc.stderr.close()


@pytest.fixture
def mosquitto_factory(tmp_path: Path) -> Iterator[Callable[..., Mosquitto]]:
    """Make and start brokers with extra config; all are stopped at the end of the test."""
    made: list[Mosquitto] = []

    def make(name: str = "broker", **kw: object) -> Mosquitto:
        broker = Mosquitto(tmp_path / f"mosquitto-{name}", **kw)  # type: ignore[arg-type]
        made.append(broker)
        return broker.start()

    yield make
    for broker in made:
        broker.stop()


@pytest.fixture
def mosquitto(mosquitto_factory: Callable[..., Mosquitto]) -> Mosquitto:
    """A plain anonymous Mosquitto on a free loopback port."""
    return mosquitto_factory()
