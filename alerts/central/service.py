"""The central service assembled: store, ingest, MQTT subscriber, web server, webhooks and escalation.

`run_central_in_thread(cfg)` starts everything in background threads and returns a handle with `.url` and
`.stop()` (the demo and tests); `Central.serve_forever()` is what `hallwatch central` runs.

MQTT: a persistent session (clean_session false, fixed client id) subscribed at QoS 1 to the node topics,
re-subscribed on every connect (a broker restarted without persistence forgets subscriptions), and a
retained `online` on `<prefix>/central/status` (Last Will `offline`) that tells edge nodes when the central
service is subscribed and their outboxes may drain. PUBACK goes back after the message is stored; while the
database is unreachable the message is retried with backoff, not dropped.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
import uvicorn

from alerts.central.auth import bootstrap_users
from alerts.central.config import CentralConfig
from alerts.central.ingest import Ingest
from alerts.central.live import Bus
from alerts.central.retention import RetentionLoop
from alerts.central.store import open_store
from alerts.central.web import AppContext, create_app
from alerts.central.webhooks import Escalator, WebhookSink
from alerts.mqttconn import CENTRAL_STATUS, make_client

log = logging.getLogger(__name__)
LEAVES = ("events", "status", "stats", "windows/+/state")


class Central:
    """All parts of the service; `start()` runs them in threads, `stop()` ends them."""

    def __init__(self, cfg: CentralConfig) -> None:
        self.cfg = cfg
        self.engine, self.sessions = open_store(cfg.db)
        with self.sessions() as s:
            bootstrap_users(s, cfg)
        self.bus = Bus(cfg.sse_queue)
        self.webhooks = WebhookSink(cfg.webhooks)
        self.ingest = Ingest(self.sessions, cfg.mqtt.topic_prefix, notify=self.notify,
                             node_offline_alert=cfg.node_offline_alert)
        self.escalator = Escalator(cfg.escalation, self.sessions, self.notify)  # also general hooks asking for it
        self.retention = RetentionLoop(self.sessions, cfg.clips_dir, cfg.clip_retention)
        self.mqtt_counts: Counter[str] = Counter()
        self.listeners: list[Any] = []  # extra callables notify(kind, data), e.g. latency probes
        prefix = cfg.mqtt.topic_prefix
        self._status_topic = f"{prefix}/{CENTRAL_STATUS}"
        self.client, self.addr = make_client(cfg.mqtt, cfg.mqtt.client_id or "hallwatch-central",
                                             clean_session=False)
        self.client.will_set(self._status_topic, "offline", qos=1, retain=True)
        self.client.max_inflight_messages_set(100)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        ctx = AppContext(cfg, self.sessions, self.bus, self.notify, self.counters)
        self.app = create_app(ctx)
        self.server = uvicorn.Server(uvicorn.Config(self.app, host=cfg.http.host, port=cfg.http.port,
                                                    log_level="warning", timeout_graceful_shutdown=2,
                                                    lifespan="on"))
        self._web_thread = threading.Thread(target=self.server.run, name="central-web", daemon=True)
        self.connected = threading.Event()
        self._stopping = False

    def notify(self, kind: str, data: dict[str, Any]) -> None:
        """Announce a stored change to browsers, webhooks and any extra listener."""
        for fn in (self.bus.publish, self.webhooks.notify, *self.listeners):
            try:
                fn(kind, data)
            except Exception:  # a faulty listener must not take the MQTT thread down with it
                self.mqtt_counts["notify_errors"] += 1
                log.exception("listener %r failed on %s", fn, kind)

    def counters(self) -> dict[str, Any]:
        return {"ingest": dict(self.ingest.counts), "mqtt": dict(self.mqtt_counts),
                "webhooks": dict(self.webhooks.counts), "escalated": self.escalator.escalated,
                "clips_deleted": self.retention.deleted}

    # --- MQTT -------------------------------------------------------------------------------------
    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any = None) -> None:
        if rc.is_failure:
            log.error("broker %s:%d refused the central service: %s", self.addr.host, self.addr.port, rc)
            return
        self.mqtt_counts["connects"] += 1
        prefix = self.cfg.mqtt.topic_prefix
        client.subscribe([(f"{prefix}/+/+/{leaf}", 1) for leaf in LEAVES])
        # Published after SUBSCRIBE on the same connection, so the broker handles it after the subscription.
        client.publish(self._status_topic, "online", qos=1, retain=True)
        self.connected.set()
        log.info("central subscribed on %s:%d under %s/", self.addr.host, self.addr.port, prefix)

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any = None) -> None:
        self.connected.clear()
        self.mqtt_counts["disconnects"] += 1
        if self._stopping:
            return
        log.warning("central lost the broker %s:%d (%s); reconnecting", self.addr.host, self.addr.port, rc)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        # The PUBACK goes back when this returns, so a store that is down (database restarting) is retried
        # here with backoff rather than the message dropped. Meanwhile the broker queues the rest for us; if
        # the keepalive lapses it redelivers the unacknowledged messages on reconnect (persistent session).
        delay = 0.2
        while self.ingest.handle(msg.topic, msg.payload) == "db_error" and not self._stopping:
            log.warning("store unavailable; retrying the message on %s in %.1f s", msg.topic, delay)
            time.sleep(delay)
            delay = min(delay * 2, 10.0)

    # --- lifecycle --------------------------------------------------------------------------------
    def start(self, timeout_s: float = 15.0) -> None:
        self._web_thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if not self._web_thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"central web server did not start on {self.cfg.http.host}:{self.cfg.http.port}")
            time.sleep(0.02)
        self.client.connect_async(self.addr.host, self.addr.port, keepalive=self.cfg.mqtt.keepalive_s)
        self.client.loop_start()
        self.escalator.start()
        self.retention.start()
        log.info("central service at %s", self.url)

    @property
    def port(self) -> int:
        for server in self.server.servers:
            for sock in server.sockets:
                return int(sock.getsockname()[1])
        return self.cfg.http.port

    @property
    def url(self) -> str:
        host = self.cfg.http.host
        host = "127.0.0.1" if host in ("0.0.0.0", "") else host
        return f"http://{host}:{self.port}"

    def stop(self) -> None:
        self._stopping = True
        self.escalator.stop()
        self.retention.stop()
        if self.connected.is_set():
            info = self.client.publish(self._status_topic, "offline", qos=1, retain=True)
            try:
                info.wait_for_publish(timeout=2)
            except (RuntimeError, ValueError) as exc:
                log.warning("central offline status not sent: %s", exc)
        self.client.disconnect()
        self.client.loop_stop()
        self.bus.close()
        self.server.should_exit = True
        self._web_thread.join(timeout=10)
        self.webhooks.stop()
        self.engine.dispose()

    def serve_forever(self, on_started: Any = None) -> None:
        """Run until SIGINT/SIGTERM (the CLI); `on_started(self)` is called once the web server listens."""
        import signal

        done = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: done.set())
        self.start()
        if on_started is not None:
            on_started(self)
        try:
            while not done.wait(1.0):
                if not self._web_thread.is_alive():
                    raise RuntimeError("the central web server stopped")
        finally:
            self.stop()


@dataclass
class CentralHandle:
    central: Central

    @property
    def url(self) -> str:
        return self.central.url

    def stop(self) -> None:
        self.central.stop()


def run_central_in_thread(cfg: CentralConfig, *, wait_mqtt_s: float = 0.0) -> CentralHandle:
    """Start the central service in background threads; optionally wait until it is subscribed."""
    central = Central(cfg)
    central.start()
    if wait_mqtt_s > 0 and not central.connected.wait(wait_mqtt_s):
        log.warning("central service not connected to %s after %.0f s (still retrying)", cfg.mqtt.url,
                    wait_mqtt_s)
    return CentralHandle(central)
