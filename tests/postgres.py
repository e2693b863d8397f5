"""A throw-away PostgreSQL server for tests (Debian `postgresql` binaries, driver psycopg 3): initdb in a
temporary folder, started on a free loopback port, one database `central`. Skips when either is missing.
Running as root, the server runs as the `postgres` user (PostgreSQL refuses root)."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.mosquitto import free_port


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name) or sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found if isinstance(found, str) else (found[-1] if found else None)


_SERVERS: dict[str, tuple[list[str], Path, list[subprocess.Popen[bytes]]]] = {}


def _stop_server(data: Path, timeout_s: float = 15.0) -> None:
    """SIGINT ("fast" shutdown) to the postmaster itself: runuser does not pass signals on."""
    try:
        pid = int((data / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return
    try:
        os.kill(pid, signal.SIGINT)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            os.kill(pid, 0)
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return


@pytest.fixture
def postgres_url() -> Iterator[str]:
    initdb, postgres = _pg_bin("initdb"), _pg_bin("postgres")
    if not initdb or not postgres:
        pytest.skip("PostgreSQL server binaries not installed (Debian package `postgresql`)")
    psycopg = pytest.importorskip("psycopg", reason="PostgreSQL driver missing: pip install 'psycopg[binary]'")
    root = Path(tempfile.mkdtemp(prefix="hallwatch-pg-"))
    root.chmod(0o755)
    data, sock = root / "data", root / "sock"
    data.mkdir()
    sock.mkdir()
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(data, "postgres")
        shutil.chown(sock, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    subprocess.run([*as_user, initdb, "-D", str(data), "-U", "hallwatch", "--auth=trust", "-E", "UTF8"],
                   check=True, capture_output=True)
    cmd = [*as_user, postgres, "-D", str(data), "-p", str(port), "-k", str(sock), "-c", "listen_addresses=127.0.0.1",
           "-c", "fsync=off"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"postgresql://hallwatch@127.0.0.1:{port}/central"
    _SERVERS[url] = (cmd, data, [proc])
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with psycopg.connect(f"host=127.0.0.1 port={port} user=hallwatch dbname=postgres",
                                     autocommit=True) as conn:
                    conn.execute("CREATE DATABASE central")
                break
            except psycopg.OperationalError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"PostgreSQL did not start on port {port}") from None
                time.sleep(0.1)
        yield url
    finally:
        _stop_server(data)
        for p in _SERVERS.pop(url)[2]:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def restart_postgres(url: str, down_s: float) -> Iterator[None]:
    """Stop the server of `url` (fast shutdown), run the body, wait until `down_s` has passed, start it again."""
    cmd, data, procs = _SERVERS[url]
    t0 = time.monotonic()
    _stop_server(data)
    procs[-1].wait(15)
    yield
    time.sleep(max(0.0, down_s - (time.monotonic() - t0)))
    procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
