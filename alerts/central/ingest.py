"""Central ingest: one function for every MQTT message, `Ingest.handle(topic, payload)`.

Every payload is validated (alerts.wire) before it touches the store. A malformed, oversized or misaddressed
payload is logged, counted under `rejected_<reason>` and dropped; a database error is logged and counted
(`db_error`). Nothing raised here reaches the MQTT thread. Stored changes are announced through
`notify(kind, data)` (live dashboard, webhooks).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from alerts.central.store import Alarm, EventRow, Node, WindowState, alarm_dict
from alerts.wire import EventWire, WireError, parse_event, parse_stats, parse_status, parse_window_state

log = logging.getLogger(__name__)
Notify = Callable[[str, dict[str, Any]], None]


def dedupe_key(ev: EventWire) -> str:
    """`event_id|state`, plus `|t` for updates: a redelivered message collides, distinct updates do not."""
    key = f"{ev.event_id}|{ev.state}"
    return f"{key}|{ev.t:.3f}" if ev.state == "update" else key


class Ingest:
    """Validate and store messages from `<prefix>/<site>/<node>/{events,status,stats,windows/<w>/state}`."""

    def __init__(self, sessions: sessionmaker[Session], prefix: str, *, notify: Notify | None = None,
                 node_offline_alert: bool = True) -> None:
        self.sessions = sessions
        self.prefix = prefix.rstrip("/") + "/"
        self.notify: Notify = notify or (lambda kind, data: None)
        self.node_offline_alert = node_offline_alert
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()  # one writer at a time (SQLite) and consistent counters

    def _count(self, key: str) -> None:
        self.counts[key] += 1

    def handle(self, topic: str, payload: bytes) -> str:
        """Process one message; returns the outcome (`stored`, `duplicate`, `rejected_<reason>`, ...)."""
        with self._lock:
            self._count("received")
            try:
                outcome = self._dispatch(topic, payload)
            except WireError as exc:
                outcome = f"rejected_{exc.reason}"
                n = self.counts[outcome] + 1
                if n <= 20 or n % 1000 == 0:  # a flood of junk must not flood the log too
                    log.warning("rejected message on %r (%d bytes, %s #%d): %s", topic[:200], len(payload),
                                outcome, n, str(exc)[:200])
            except SQLAlchemyError as exc:
                outcome = "db_error"
                log.error("store failed for a message on %r: %s", topic[:200], exc)
            self._count(outcome)
            if outcome.startswith("rejected_"):
                self._count("rejected")
            return outcome

    def _dispatch(self, topic: str, payload: bytes) -> str:
        if not topic.startswith(self.prefix):
            raise WireError("topic", f"outside prefix {self.prefix!r}")
        parts = topic[len(self.prefix):].split("/")
        if parts == ["central", "status"]:
            return "own"
        if len(parts) < 3:
            raise WireError("topic", "expected <site>/<node>/<leaf>")
        site, node, leaf = parts[0], parts[1], parts[2:]
        if leaf == ["events"]:
            ev = parse_event(payload)
            if ev.site != site or ev.node != node:
                raise WireError("topic", f"event of {ev.site}/{ev.node} published under {site}/{node}")
            return self._event(ev)
        if leaf == ["status"]:
            return self._status(site, node, parse_status(payload))
        if leaf == ["stats"]:
            return self._stats(site, node, parse_stats(payload))
        if len(leaf) == 3 and leaf[0] == "windows" and leaf[2] == "state":
            ws = parse_window_state(payload)
            if ws.window != leaf[1]:
                raise WireError("topic", f"state of window {ws.window} published under {leaf[1]}")
            return self._window(site, node, ws.window, ws.state, ws.alert)
        raise WireError("topic", f"unknown leaf {'/'.join(leaf)!r}")

    def _event(self, ev: EventWire) -> str:
        now = time.time()
        with self.sessions() as s:
            s.add(EventRow(dedupe_key=dedupe_key(ev), event_id=ev.event_id, state=ev.state, type=ev.type,
                           site=ev.site, node=ev.node, camera=ev.camera, window=ev.window, t=ev.t,
                           started_at=ev.started_at, score=ev.score, people=ev.people, details=ev.details,
                           clip=ev.clip, received_at=now))
            try:
                s.flush()
            except IntegrityError:
                s.rollback()
                return "duplicate"
            alarm, change = self._apply(s, ev, now)
            s.commit()
            data = alarm_dict(alarm)
        self.notify(change, data)
        return "stored"

    @staticmethod
    def _apply(s: Session, ev: EventWire, now: float) -> tuple[Alarm, str]:
        """Open, update or close the incident's alarm; returns it and the change name."""
        alarm = s.scalars(select(Alarm).where(Alarm.event_id == ev.event_id)).first()
        change = "updated"
        if alarm is None:
            alarm = Alarm(event_id=ev.event_id, type=ev.type, site=ev.site, node=ev.node, camera=ev.camera,
                          window=ev.window, started_at=ev.started_at, opened_at=now, active=True,
                          status="open", keep=False, details={})
            s.add(alarm)
            change = "opened"
        alarm.score, alarm.people = ev.score, ev.people
        alarm.details = {**(alarm.details or {}), **ev.details}
        if ev.state == "end" and alarm.active:
            alarm.active, alarm.closed_at = False, now
            change = "closed" if change != "opened" else "opened"
        return alarm, change

    def _status(self, site: str, node: str, status: str) -> str:
        now = time.time()
        with self.sessions() as s:
            row = s.get(Node, (site, node)) or Node(site=site, node=node, status="unknown", stats={})
            s.add(row)
            changed = row.status != status
            row.status, row.last_seen = status, now
            if changed:
                row.changed_at = now
            alarm_change = self._node_alarm(s, site, node, status, now) if self.node_offline_alert else None
            s.commit()
            node_data = {"site": site, "node": node, "status": status, "changed_at": row.changed_at}
        self.notify("node_" + status, node_data)
        if alarm_change is not None:
            self.notify(*alarm_change)
        return "stored"

    @staticmethod
    def _node_alarm(s: Session, site: str, node: str, status: str, now: float) -> tuple[str, dict] | None:
        active = s.scalars(select(Alarm).where(Alarm.type == "node_offline", Alarm.site == site,
                                               Alarm.node == node, Alarm.active)).first()
        if status == "offline" and active is None:
            alarm = Alarm(event_id=f"{node}-offline-{int(now * 1000)}", type="node_offline", site=site,
                          node=node, camera=None, window=None, started_at=now, opened_at=now, active=True,
                          status="open", score=1.0, details={}, keep=False)
            s.add(alarm)
            s.flush()
            return "opened", alarm_dict(alarm)
        if status == "online" and active is not None:
            active.active, active.closed_at = False, now
            return "closed", alarm_dict(active)
        return None

    def _stats(self, site: str, node: str, stats: dict[str, Any]) -> str:
        with self.sessions() as s:
            row = s.get(Node, (site, node)) or Node(site=site, node=node, status="unknown", changed_at=0.0)
            s.add(row)
            row.stats, row.last_seen = stats, time.time()
            s.commit()
        return "stored"

    def _window(self, site: str, node: str, window: str, state: str, alert: dict | None) -> str:
        now = time.time()
        with self.sessions() as s:
            row = s.get(WindowState, (site, node, window)) or WindowState(site=site, node=node, window=window)
            s.add(row)
            row.state, row.alert, row.updated_at = state, alert, now
            s.commit()
        self.notify("window", {"site": site, "node": node, "window": window, "state": state, "alert": alert})
        return "stored"
