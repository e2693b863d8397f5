"""Helpers shared by the tests/test_alerts_*.py files: configs, events, waiting on the central store."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from alerts.central.config import CentralConfig, parse_central_config
from alerts.config import MqttConfig
from detectors.types import Event, EventSource


def central_config(tmp: Path, mqtt_url: str, **over: Any) -> CentralConfig:
    """A central config on a free HTTP port with one user per role (password = username + '-pw')."""
    users = []
    for name, role in (("admin", "admin"), ("manager", "manager"), ("supervisor", "supervisor"),
                       ("tech", "technician"), ("node1", "node")):
        pw = tmp / f"{name}.pw"
        pw.write_text(f"{name}-pw\n")
        entry: dict[str, Any] = {"username": name, "role": role, "password_file": str(pw)}
        if role == "node":
            tok = tmp / f"{name}.token"
            tok.write_text(f"token-of-{name}-0123456789\n")
            entry["token_file"] = str(tok)
        users.append(entry)
    data: dict[str, Any] = {"db": f"sqlite:///{tmp / 'central.sqlite'}", "mqtt": {"url": mqtt_url},
                            "http": {"host": "127.0.0.1", "port": 0}, "users": users,
                            "clips_dir": str(tmp / "clips"), "password_log2_n": 10}
    for key, value in over.items():
        data[key] = value
    return parse_central_config(data)


def edge_config(tmp: Path, mqtt_url: str, name: str = "outbox", **over: Any) -> MqttConfig:
    kw: dict[str, Any] = {"outbox_sync": "normal", "stats_every_s": 3600.0, **over}
    return MqttConfig(url=mqtt_url, outbox=str(tmp / f"{name}.sqlite"), **kw)


def make_event(i: int, *, node: str = "n1", state: str = "start", window: str | None = "W1",
               kind: str = "empty_post", t: float | None = None) -> Event:
    src = EventSource("hall1", node, "cam1")
    started = 1000.0 + i
    return src.event(kind, state, window, time.time() if t is None else t, started, details={"seq": i},
                     people=0)


def wait_for(cond: Callable[[], Any], timeout_s: float, what: str, every_s: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(every_s)


def count_rows(sessions: Any, model: Any) -> int:
    with sessions() as s:
        return int(s.scalar(select(func.count()).select_from(model)))
