"""A ready central config for the one-command demo: SQLite file, a free or given port, and fresh random
passwords for one user per role plus an API token for the edge node (role `node`, for clip uploads).
"""

from __future__ import annotations

import secrets
from pathlib import Path

from alerts.central.config import CentralConfig, parse_central_config

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
