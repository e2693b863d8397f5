"""Build a paho-mqtt 2.x client from an `MqttConnConfig`: url, credentials from a file, TLS, backoff.

Topic layout (DESIGN.md): `<prefix>/<site>/<node>/{events,status,stats,windows/<window>/state}` and the
central service's own retained presence on `<prefix>/central/status`.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt

from alerts.config import MqttConnConfig

CENTRAL_STATUS = "central/status"


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int
    tls: bool


def parse_url(url: str) -> BrokerAddress:
    """`mqtt://host:1883` or `mqtts://host:8883` -> BrokerAddress; ValueError naming the url otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise ValueError(f"mqtt url {url!r}: expected mqtt://host:port or mqtts://host:port")
    tls = parts.scheme == "mqtts"
    return BrokerAddress(parts.hostname, parts.port or (8883 if tls else 1883), tls)


def read_password(path: str) -> str:
    """The password in `path`, without the trailing newline; ValueError naming the file when unreadable."""
    try:
        return Path(path).read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as exc:
        raise ValueError(f"mqtt.password_file {path}: cannot read ({exc.strerror})") from None


def make_client(cfg: MqttConnConfig, client_id: str, *, clean_session: bool = True) -> tuple[mqtt.Client,
                                                                                              BrokerAddress]:
    """A configured (not yet connected) client and the broker address to connect to."""
    addr = parse_url(cfg.url)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                         protocol=mqtt.MQTTv311, clean_session=clean_session)
    if cfg.username:
        client.username_pw_set(cfg.username, read_password(cfg.password_file) if cfg.password_file else None)
    if addr.tls or cfg.tls is not None:
        tls = cfg.tls
        client.tls_set(ca_certs=tls.ca if tls else None, certfile=tls.cert if tls else None,
                       keyfile=tls.key if tls else None, cert_reqs=ssl.CERT_REQUIRED,
                       tls_version=ssl.PROTOCOL_TLS_CLIENT)
        if tls is not None and tls.insecure:
            client.tls_insecure_set(True)
    client.reconnect_delay_set(min_delay=1, max_delay=max(1, int(cfg.reconnect_max_s)))
    return client, addr


def node_topic(prefix: str, site: str, node: str, leaf: str) -> str:
    return f"{prefix}/{site}/{node}/{leaf}"
