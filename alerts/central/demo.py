"""The one-command demo's alert side: a central config with a SQLite file and fresh random passwords for
one user per role plus an API token for the edge node (role `node`, for clip uploads), and
`start_demo_stack()` which brings up the embedded broker and the central service together.

    stack = start_demo_stack("demo-out", http_port=8080)
    print(stack.url, stack.creds["manager"])
    pub = Publisher(stack.mqtt, site, node); pub.start()   # then pub.publish_event(ev) as the replay runs
    ...; pub.flush(10); pub.stop(); stack.stop()
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alerts.central.config import CentralConfig, parse_central_config
from alerts.config import MqttConfig

DEMO_USERS = (("admin", "admin"), ("manager", "manager"), ("supervisor", "supervisor"),
              ("technician", "technician"), ("edge", "node"))


def demo_config(workdir: str | Path, mqtt_url: str, *, http_host: str = "127.0.0.1", http_port: int = 8080,
                escalate_after_s: float = 120.0) -> tuple[CentralConfig, dict[str, str]]:
    """Write the password/token files under `workdir` and return the config plus `{username: password}`
    (and `edge_token` for the node's clip uploads), for the demo to print."""
    workdir = Path(workdir)
    secrets_dir = workdir / "secrets"
    secrets_dir.mkdir(parents=True, exist_ok=True)
    creds: dict[str, str] = {}
    users = []
    for name, role in DEMO_USERS:
        entry = {"username": name, "role": role}
        if role == "node":
            token = secrets.token_urlsafe(24)
            (secrets_dir / f"{name}.token").write_text(token + "\n")
            entry["token_file"] = str(secrets_dir / f"{name}.token")
            creds["edge_token"] = token
        else:
            password = secrets.token_urlsafe(9)
            (secrets_dir / f"{name}.pw").write_text(password + "\n")
            entry["password_file"] = str(secrets_dir / f"{name}.pw")
            creds[name] = password
        users.append(entry)
    cfg = parse_central_config({
        "db": f"sqlite:///{(workdir / 'central.sqlite').resolve()}",
        "mqtt": {"url": mqtt_url},
        "http": {"host": http_host, "port": http_port},
        "users": users,
        "clips_dir": str((workdir / "central-clips").resolve()),
        "escalation": {"after_s": escalate_after_s},
    }, "<demo>")
    return cfg, creds


@dataclass
class DemoStack:
    """A running broker (embedded unless one was given) and central service, for `hallwatch demo`."""

    url: str  # the dashboard
    creds: dict[str, str]  # {username: password, "edge_token": token}
    mqtt: MqttConfig  # for the demo's Publisher (outbox under the work dir)
    _central: Any = field(repr=False)
    _broker: Any = field(default=None, repr=False)

    def stop(self) -> None:
        self._central.stop()
        if self._broker is not None:
            self._broker.stop()


def start_demo_stack(workdir: str | Path, *, http_host: str = "127.0.0.1", http_port: int = 8080,
                     mqtt_url: str | None = None, password_log2_n: int = 14) -> DemoStack:
    """Start the embedded amqtt broker (when `mqtt_url` is None) and the central service with a SQLite file
    under `workdir`; returns once the central service is subscribed, so the node's events flow at once."""
    from alerts.broker import start_embedded_broker
    from alerts.central.service import run_central_in_thread

    workdir = Path(workdir)
    broker = start_embedded_broker("127.0.0.1", 0) if mqtt_url is None else None
    url = broker.url if broker is not None else str(mqtt_url)
    cfg, creds = demo_config(workdir, url, http_host=http_host, http_port=http_port)
    cfg.password_log2_n = password_log2_n
    try:
        handle = run_central_in_thread(cfg, wait_mqtt_s=15)
    except (RuntimeError, OSError):
        if broker is not None:
            broker.stop()
        raise
    node_mqtt = MqttConfig(url=url, outbox=str((workdir / "outbox.sqlite").resolve()), stats_every_s=5.0)
    return DemoStack(handle.url, creds, node_mqtt, handle, broker)
