"""The edge node's MQTT publisher: events through a persistent outbox at QoS 1, retained window states,
node presence with a Last Will, periodic stats.

Delivery: `publish_event` writes the event to the outbox and returns at once. A sender thread publishes
outbox rows in id order while connected (at most `max_inflight` unacknowledged), and a row is deleted only
when its PUBACK arrives. On every (re)connect the sender starts again from the oldest row, so anything
unacknowledged is sent again (the central service drops duplicates by `event_id` + `state`). Each
connection gets a fresh paho client: paho would otherwise resend its in-flight messages by itself on
reconnect, before we know whether the central service is subscribed. With
`wait_for_central` (default) rows are held until the central service's retained `online` is seen on
`<prefix>/central/status`: after a broker restart without persistence nothing is published before the
central service has subscribed again, since the broker would acknowledge and then discard it.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from typing import Any

import paho.mqtt.client as mqtt

from alerts.config import MqttConfig
from alerts.mqttconn import CENTRAL_STATUS, BrokerAddress, make_client, node_topic
from alerts.outbox import Outbox
from detectors.types import Event

log = logging.getLogger(__name__)


def _acked(info: mqtt.MQTTMessageInfo) -> bool:
    """PUBACK received. paho raises from is_published() for a message handed over just as the connection
    dropped (rc NO_CONN): that one is not acknowledged, and is sent again by the next client."""
    try:
        return info.is_published()
    except (RuntimeError, ValueError):
        return False


def _plain(value: Any) -> Any:
    """numpy scalars and arrays that slip into `details` become plain JSON numbers and lists."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"event details hold a {type(value).__name__}, which is not JSON")


class Publisher:
    """One node's link to the broker.

    Args:
        cfg: the node's `mqtt` config section.
        site, node: used in topics and the default client id `hallwatch-<site>-<node>`.
    """

    def __init__(self, cfg: MqttConfig, site: str, node: str) -> None:
        self.cfg = cfg
        self.site, self.node = site, node
        self.client_id = cfg.client_id or f"hallwatch-{site}-{node}"
        self._gen = 0  # generation of the current client; callbacks of retired clients are ignored
        self.client, self.addr = self._make_client()  # validated now: bad url / password file fail here
        self.outbox = Outbox(cfg.outbox, max_events=cfg.outbox_max_events, sync=cfg.outbox_sync)
        self._cv = threading.Condition()
        self._pending: list[tuple[int, mqtt.MQTTMessageInfo]] = []  # (outbox row id, paho info), in order
        self._cursor = 0  # highest row id handed to the current client
        self._connected = False
        self._lost = False  # the current client lost its connection: replace it
        self._failures = 0  # connections lost or refused in a row (backoff before the next client)
        self._central_online = not cfg.wait_for_central
        self._stop = threading.Event()
        self._windows: dict[str, bytes] = {}  # last retained state per window, re-sent on connect
        self._last_stats_at = time.monotonic()
        self.counters = {"published": 0, "acked": 0, "connects": 0, "disconnects": 0, "errors": 0}
        self._thread = threading.Thread(target=self._run, name=f"mqtt-outbox-{node}", daemon=True)

    def _topic(self, leaf: str) -> str:
        return node_topic(self.cfg.topic_prefix, self.site, self.node, leaf)

    def _make_client(self) -> tuple[mqtt.Client, BrokerAddress]:
        client, addr = make_client(self.cfg, self.client_id)
        client.will_set(self._topic("status"), "offline", qos=1, retain=True)
        client.max_inflight_messages_set(self.cfg.max_inflight)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        client.user_data_set(self._gen)
        return client, addr

    # --- public API -------------------------------------------------------------------------------
    def start(self) -> None:
        """Connect in the background (retrying with backoff) and start draining the outbox."""
        self.client.connect_async(self.addr.host, self.addr.port, keepalive=self.cfg.keepalive_s)
        self.client.loop_start()
        self._thread.start()

    def publish_event(self, event: Event) -> None:
        """Queue one event durably (outbox first); returns without waiting for the broker."""
        payload = json.dumps(event.to_dict(), sort_keys=True, separators=(",", ":"), default=_plain).encode()
        self.outbox.put(self._topic("events"), payload, event.state, time.time())
        with self._cv:
            self._cv.notify_all()

    def publish_window_state(self, window_id: str, state: str, alert: dict | None) -> None:
        """Retained current state of one window (`staffed|empty|closed`) and its current alert, if any."""
        payload = json.dumps({"window": window_id, "state": state, "alert": alert, "t": round(time.time(), 3)},
                             separators=(",", ":"), default=str).encode()
        with self._cv:
            self._windows[window_id] = payload
        self.client.publish(self._topic(f"windows/{window_id}/state"), payload, qos=1, retain=True)

    def publish_stats(self, stats: dict[str, Any]) -> None:
        """Health numbers (fps, drops, audio levels, detector ms) plus the outbox's own counters."""
        body = {**stats, **self._own_stats()}
        self.client.publish(self._topic("stats"), json.dumps(body, separators=(",", ":"), default=str), qos=0)
        self._last_stats_at = time.monotonic()

    def flush(self, timeout_s: float) -> bool:
        """Wait until every queued event is acknowledged by the broker; False on timeout."""
        deadline = time.monotonic() + timeout_s
        with self._cv:
            while len(self.outbox) > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cv.wait(min(left, 0.2))
        return True

    def stop(self) -> None:
        """Announce `offline` (when connected), disconnect and close the outbox; queued events stay on disk."""
        self._stop.set()
        with self._cv:
            self._cv.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        if self._connected:
            info = self.client.publish(self._topic("status"), "offline", qos=1, retain=True)
            try:
                info.wait_for_publish(timeout=2)
            except (RuntimeError, ValueError) as exc:
                log.warning("offline status not sent: %s", exc)
        self.client.disconnect()
        self.client.loop_stop()
        self.outbox.close()

    @property
    def connected(self) -> bool:
        return self._connected

    # --- paho callbacks (network thread; never call into paho while holding self._cv) ---------------
    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any = None) -> None:
        if userdata != self._gen:
            return
        if rc.is_failure:
            log.warning("broker %s:%d refused the connection: %s", self.addr.host, self.addr.port, rc)
            return
        log.info("connected to %s:%d as %s", self.addr.host, self.addr.port, self.client_id)
        client.publish(self._topic("status"), "online", qos=1, retain=True)
        if self.cfg.wait_for_central:
            client.subscribe(f"{self.cfg.topic_prefix}/{CENTRAL_STATUS}", qos=1)
        with self._cv:
            windows = dict(self._windows)
        for window, payload in windows.items():
            client.publish(self._topic(f"windows/{window}/state"), payload, qos=1, retain=True)
        with self._cv:
            self._connected = True
            self._failures = 0
            self.counters["connects"] += 1
            self._cv.notify_all()

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any = None) -> None:
        with self._cv:
            if userdata != self._gen:
                return
            self._connected = False
            self._lost = not self._stop.is_set()
            self._central_online = not self.cfg.wait_for_central
            self.counters["disconnects"] += 1
            self._cv.notify_all()
        if not self._stop.is_set():
            log.warning("disconnected from %s:%d (%s); %d events wait in the outbox", self.addr.host,
                        self.addr.port, rc, len(self.outbox))

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with self._cv:
            if userdata != self._gen:
                return
            self._central_online = msg.payload == b"online"
            self._cv.notify_all()
        log.info("central service is %s", msg.payload.decode(errors="replace"))

    def _on_publish(self, client: mqtt.Client, userdata: Any, mid: int, rc: Any, props: Any = None) -> None:
        with self._cv:
            self._cv.notify_all()

    # --- sender thread ----------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._step()
            except (sqlite3.Error, OSError) as exc:  # outbox trouble (disk full...): log, back off, go on
                self.counters["errors"] += 1
                log.error("outbox sender: %s; retrying in 1 s", exc)
                self._stop.wait(1.0)

    def _step(self) -> None:
        """One round: replace a lost client, delete acknowledged rows, hand new rows to paho, or wait."""
        if self._lost:
            self._replace_client()
        self._reap()
        with self._cv:
            ready = self._connected and self._central_online
            room = self.cfg.max_inflight - len(self._pending)
            cursor = self._cursor
        rows = self.outbox.peek(cursor, room) if ready and room > 0 else []
        for row in rows:
            info = self.client.publish(row.topic, row.payload, qos=1)
            with self._cv:
                self._pending.append((row.id, info))
                self._cursor = row.id
                self.counters["published"] += 1
        if not rows:
            with self._cv:
                if not self._lost and not self._stop.is_set() and not self._any_acked():
                    self._cv.wait(0.5)
        if time.monotonic() - self._last_stats_at > self.cfg.stats_every_s and self._connected:
            self.publish_stats({})

    def _any_acked(self) -> bool:
        return any(_acked(info) for _, info in self._pending)

    def _reap(self) -> None:
        """Delete the rows whose PUBACK has arrived."""
        with self._cv:
            done = [row for row, info in self._pending if _acked(info)]
            if not done:
                return
            self._pending = [(row, info) for row, info in self._pending if not _acked(info)]
            for row in done:
                self.outbox.delete(row)
            self.counters["acked"] += len(done)
            self._cv.notify_all()

    def _replace_client(self) -> None:
        """Drop the client that lost its connection (and the messages paho still holds) for a new one;
        sending restarts from the oldest unacknowledged row once connected again."""
        old = self.client
        with self._cv:
            self._gen += 1
        old.disconnect()
        old.loop_stop()
        self._reap()
        # back off when connections keep failing (refused login, broker flapping): no tight reconnect loop
        self._failures += 1
        if self._stop.wait(min(self.cfg.reconnect_max_s, 0.25 * 2 ** min(self._failures - 1, 10))):
            return
        new, _ = self._make_client()
        with self._cv:
            self._pending.clear()
            self._cursor = 0
            self._lost = False
            self.client = new
        new.connect_async(self.addr.host, self.addr.port, keepalive=self.cfg.keepalive_s)
        new.loop_start()

    def _own_stats(self) -> dict[str, Any]:
        return {"outbox": len(self.outbox), "outbox_dropped": self.outbox.dropped, **self.counters,
                "t": round(time.time(), 3)}
