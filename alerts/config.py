"""Config of the MQTT connection (edge publisher and central subscriber) and of the edge outbox."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class TlsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ca: str | None = Field(None, description="CA certificate file (PEM)")
    cert: str | None = Field(None, description="client certificate file (PEM)")
    key: str | None = Field(None, description="client key file (PEM)")
    insecure: bool = Field(False, description="skip the broker host name check (tests only)")


class MqttConnConfig(BaseModel):
    """How to reach the broker; shared by the edge publisher and the central subscriber."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field("mqtt://127.0.0.1:1883", description="mqtt://host:port or mqtts://host:port")
    username: str | None = None
    password_file: str | None = Field(None, description="file holding the password (never the password)")
    tls: TlsConfig | None = None
    topic_prefix: str = Field("hallwatch", min_length=1)
    client_id: str | None = Field(None, description="default: hallwatch-<site>-<node>; central: hallwatch-central")
    keepalive_s: int = Field(30, ge=5, le=3600)
    reconnect_max_s: float = Field(5.0, gt=0, le=600, description="longest wait between reconnect attempts")

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


class MqttConfig(MqttConnConfig):
    """The edge node's publisher: the connection plus the on-disk outbox.

    Outbox size policy: when `outbox_max_events` rows are queued, a new event first evicts the oldest queued
    `update` event (updates are superseded by later ones); when no update is queued, the oldest event of any
    state goes. Every eviction is logged and counted (`outbox_dropped` in the node's stats).
    """

    outbox: str = Field("var/outbox.sqlite", description="on-disk outbox (SQLite, WAL)")
    outbox_max_events: int = Field(100_000, ge=100, description="beyond this the oldest update events go "
                                   "first, then the oldest of any state")
    outbox_sync: Literal["full", "normal"] = Field("full", description="SQLite synchronous mode of the "
                                                   "outbox: full survives power loss, normal only crashes")
    max_inflight: int = Field(50, ge=1, le=1000, description="QoS 1 messages sent and not yet acknowledged")
    wait_for_central: bool = Field(True, description="hold events in the outbox until the central service "
                                   "announces itself online (retained <prefix>/central/status), so none is "
                                   "published to a broker that has no subscriber yet")
    stats_every_s: float = Field(10.0, gt=0)


class CentralLinkConfig(BaseModel):
    """Where an edge node uploads its finished clips and snapshots (alerts/clip_upload.py): the central
    service's base URL and the API token of a user with role `node`."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(pattern=r"^https?://", description="central service base url, e.g. http://central:8080")
    token_file: str = Field(description="file holding the node's API token (hallwatch central adduser --role node)")
    retries: int = Field(5, ge=0, le=50, description="upload attempts after the first, doubling backoff")
