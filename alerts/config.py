"""Config of the edge node's MQTT publisher."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator


class TlsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ca: str | None = Field(None, description="CA certificate file (PEM)")
    cert: str | None = Field(None, description="client certificate file (PEM)")
    key: str | None = Field(None, description="client key file (PEM)")
    insecure: bool = Field(False, description="skip the broker host name check (tests only)")


class MqttConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field("mqtt://127.0.0.1:1883", description="mqtt://host:port or mqtts://host:port")
    username: str | None = None
    password_file: str | None = Field(None, description="file holding the password (never the password)")
    tls: TlsConfig | None = None
    topic_prefix: str = Field("hallwatch", min_length=1)
    client_id: str | None = Field(None, description="default: hallwatch-<site>-<node>")
    outbox: str = Field("var/outbox.sqlite", description="on-disk outbox (SQLite, WAL)")
    outbox_max_events: int = Field(100_000, ge=100, description="beyond this the oldest update events go "
                                   "first, then the oldest of any state")
    keepalive_s: int = Field(30, ge=5, le=3600)
    stats_every_s: float = Field(10.0, gt=0)

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not (v.startswith("mqtt://") or v.startswith("mqtts://")):
            raise ValueError("expected mqtt://host:port or mqtts://host:port")
        return v

    @field_validator("topic_prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        if any(c in v for c in "#+") or v.startswith("/") or v.endswith("/"):
            raise ValueError("topic prefix must not contain # or + nor start or end with /")
        return v
