"""central.yaml: the central alarm service's config (strict pydantic, errors name the file and key)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from alerts.config import MqttConnConfig

ROLES = ("admin", "manager", "supervisor", "technician", "node")
Role = Literal["admin", "manager", "supervisor", "technician", "node"]
WEBHOOK_KINDS = ("opened", "closed", "acked", "resolved", "escalated", "node_offline", "node_online")


class CentralConfigError(Exception):
    """A central.yaml that cannot be used; the message names the file, the key and what was expected."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HttpConfig(_Strict):
    host: str = Field("127.0.0.1", description="address the web server binds")
    port: int = Field(8080, ge=0, le=65535, description="0 picks a free port (tests, demo)")
    session_hours: float = Field(12.0, gt=0, le=24 * 30, description="login session lifetime")
    max_clip_mb: float = Field(2048.0, gt=0, description="largest clip upload accepted")


class UserConfig(_Strict):
    username: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")
    role: Role
    password_file: str | None = Field(None, description="file holding the password (hashed on load)")
    token_file: str | None = Field(None, description="file holding an API token (e.g. for a node)")


class WebhookConfig(_Strict):
    url: str = Field(pattern=r"^https?://", description="receives HTTP POST of a JSON body")
    events: list[Literal["opened", "closed", "acked", "resolved", "escalated", "node_offline", "node_online"]] = (
        Field(default_factory=lambda: ["opened", "escalated"],
              description="opened/closed/acked/resolved/escalated carry the alarm (a node offline alarm has "
                          "type node_offline); node_offline/node_online carry the raw node status"))
    retries: int = Field(5, ge=0, le=50, description="attempts after the first, with doubling backoff")
    backoff_s: float = Field(1.0, gt=0, le=600)
    timeout_s: float = Field(5.0, gt=0, le=120)
    headers: dict[str, str] = Field(default_factory=dict)


class EscalationConfig(_Strict):
    after_s: float = Field(300.0, gt=0, description="an active alert unacknowledged this long escalates")
    check_every_s: float = Field(5.0, gt=0, le=600)
    webhooks: list[WebhookConfig] = Field(default_factory=list, description="sent `escalated` only")


class ClipRetentionConfig(_Strict):
    """Retention of uploaded clips (alerts/central/retention.py), the edge's policy applied to central."""

    keep_days: float = Field(30.0, gt=0, description="uploaded clips older than this are deleted")
    max_gb: float = Field(200.0, gt=0, description="oldest clips go first beyond this total")
    min_free_gb: float = Field(2.0, ge=0, description="oldest clips go first while the disk has less free")
    check_every_s: float = Field(600.0, gt=0, le=86400)


class CentralConfig(_Strict):
    db: str = Field("sqlite:///var/central.sqlite", description="SQLAlchemy URL: sqlite:///file or "
                    "postgresql://user@host/db (postgresql+psycopg://...)")
    mqtt: MqttConnConfig = MqttConnConfig()
    http: HttpConfig = HttpConfig()
    users: list[UserConfig] = Field(default_factory=list, description="created or updated at start")
    clips_dir: str = Field("var/central-clips", description="uploaded clips and snapshots")
    clip_retention: ClipRetentionConfig = ClipRetentionConfig()
    webhooks: list[WebhookConfig] = Field(default_factory=list)
    escalation: EscalationConfig = EscalationConfig()
    calibration: dict[str, str] = Field(default_factory=dict, description="node configs on this host that "
                                        "technicians may edit in the calibration tool: {name: path}, served "
                                        "at /calibrate/<name>/")
    node_offline_alert: bool = Field(True, description="a node whose Last Will fires raises an alert")
    password_log2_n: int = Field(14, ge=10, le=20, description="scrypt cost of stored password hashes "
                                 "(2**n); lower only for tests")
    sse_queue: int = Field(1000, ge=10, description="per-browser live queue; overflow is dropped, counted")

    @field_validator("db")
    @classmethod
    def _db(cls, v: str) -> str:
        if "://" not in v:
            return f"sqlite:///{v}"
        if not v.startswith(("sqlite", "postgresql")):
            raise ValueError("expected sqlite:///path or postgresql://...")
        return v

    @field_validator("users")
    @classmethod
    def _unique(cls, v: list[UserConfig]) -> list[UserConfig]:
        names = [u.username for u in v]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"username(s) {sorted(dup)} listed twice")
        return v


def parse_central_config(data: Any, path: Path | str = "<central config>") -> CentralConfig:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise CentralConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        return CentralConfig.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"])
            msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"].removeprefix("Value error, ")
            lines.append(f"{path}: {loc}: {msg}")
        raise CentralConfigError("\n".join(lines)) from None


def load_central_config(path: str | Path) -> CentralConfig:
    """Read central.yaml; relative files (sqlite db, clips dir, password/token/TLS files) are resolved
    against the config file's folder."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CentralConfigError(f"{path}: cannot read the config file ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise CentralConfigError(f"{path}: not valid YAML: {exc}") from None
    return resolve_paths(parse_central_config(data, path), path.parent)


def resolve_paths(cfg: CentralConfig, base: Path) -> CentralConfig:
    def fix(p: str | None) -> str | None:
        if p is None or Path(p).is_absolute():
            return p
        return str((base / p).resolve())

    if cfg.db.startswith("sqlite:///") and not cfg.db.startswith("sqlite:////"):
        rel = cfg.db.removeprefix("sqlite:///")
        if rel and rel != ":memory:":
            cfg.db = "sqlite:///" + str(fix(rel))
    cfg.clips_dir = str(fix(cfg.clips_dir))
    for u in cfg.users:
        u.password_file, u.token_file = fix(u.password_file), fix(u.token_file)
    cfg.mqtt.password_file = fix(cfg.mqtt.password_file)
    if cfg.mqtt.tls:
        cfg.mqtt.tls.ca, cfg.mqtt.tls.cert, cfg.mqtt.tls.key = (
            fix(cfg.mqtt.tls.ca), fix(cfg.mqtt.tls.cert), fix(cfg.mqtt.tls.key))
    return cfg
