"""Webhook sink (HTTP POST of JSON with retries, for SMS gateways and the like) and the escalation timer.

One worker thread per sink drains a bounded queue (1000 deliveries; when full the new delivery is dropped,
logged and counted). A failed POST (connection error or a non-2xx answer) is retried `retries` times with
doubling backoff from `backoff_s`, capped at 60 s.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from alerts.central.config import EscalationConfig, WebhookConfig
from alerts.central.store import Alarm, alarm_dict

log = logging.getLogger(__name__)


class WebhookSink:
    """Delivers `{"kind": ..., "alarm"|"node": {...}, "sent_at": epoch}` to every hook subscribed to kind."""

    def __init__(self, hooks: list[WebhookConfig], name: str = "webhooks") -> None:
        self.hooks = hooks
        self.counts: Counter[str] = Counter()
        self._q: queue.Queue[tuple[WebhookConfig, bytes] | None] = queue.Queue(maxsize=1000)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        if hooks:
            self._thread.start()

    def notify(self, kind: str, data: dict[str, Any]) -> None:
        key = "node" if kind.startswith("node_") else "alarm"  # a node going offline is also an alarm
        body = json.dumps({"kind": kind, key: data, "sent_at": round(time.time(), 3)}, default=str).encode()
        for hook in self.hooks:
            if kind in hook.events:
                try:
                    self._q.put_nowait((hook, body))
                except queue.Full:
                    self.counts["dropped"] += 1
                    log.error("webhook queue full: dropped a %s delivery to %s", kind, hook.url)

    def _run(self) -> None:
        while not self._stop.is_set():
            item = self._q.get()
            if item is None:
                return
            self._deliver(*item)

    def _deliver(self, hook: WebhookConfig, body: bytes) -> None:
        delay = hook.backoff_s
        for attempt in range(hook.retries + 1):
            req = urllib.request.Request(hook.url, data=body, method="POST",
                                         headers={"Content-Type": "application/json", **hook.headers})
            try:
                with urllib.request.urlopen(req, timeout=hook.timeout_s) as resp:
                    if 200 <= resp.status < 300:
                        self.counts["sent"] += 1
                        return
                    err = f"HTTP {resp.status}"
            except urllib.error.HTTPError as exc:
                err = f"HTTP {exc.code}"
            except (urllib.error.URLError, OSError) as exc:
                err = str(getattr(exc, "reason", exc))
            self.counts["retried" if attempt < hook.retries else "failed"] += 1
            log.warning("webhook %s attempt %d/%d failed: %s", hook.url, attempt + 1, hook.retries + 1, err)
            if attempt < hook.retries and self._stop.wait(delay):
                return
            delay = min(delay * 2, 60.0)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            with contextlib.suppress(queue.Full):  # a full queue: the stop flag ends the worker
                self._q.put_nowait(None)
            self._thread.join(timeout=5)


class Escalator:
    """Every `check_every_s`, escalates active alerts still unacknowledged `after_s` after they opened:
    stamps `escalated_at` and announces `escalated` (escalation webhooks, live dashboard)."""

    def __init__(self, cfg: EscalationConfig, sessions: sessionmaker[Session],
                 notify: Callable[[str, dict[str, Any]], None]) -> None:
        self.cfg = cfg
        self.sessions = sessions
        self.notify = notify
        self.sink = WebhookSink(cfg.webhooks, name="escalation-webhooks")
        self.escalated = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="escalator", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def check(self, now: float | None = None) -> list[dict[str, Any]]:
        """One pass; returns the alarms escalated now."""
        now = time.time() if now is None else now
        with self.sessions() as s:
            due = s.scalars(select(Alarm).where(Alarm.status == "open", Alarm.active,
                                                Alarm.escalated_at.is_(None),
                                                Alarm.opened_at <= now - self.cfg.after_s)).all()
            for a in due:
                a.escalated_at = now
            s.commit()
            out = [alarm_dict(a) for a in due]
        for data in out:
            self.escalated += 1
            log.warning("alarm %s (%s, window %s) unacknowledged for %.0f s: escalated", data["id"],
                        data["type"], data["window"], now - data["opened_at"])
            self.sink.notify("escalated", data)
            self.notify("escalated", data)
        return out

    def _run(self) -> None:
        while not self._stop.wait(self.cfg.check_every_s):
            try:
                self.check()
            except SQLAlchemyError as exc:  # keep escalating after a transient database error
                log.error("escalation check failed: %s", exc)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self.sink.stop()
