"""The empty-post rule: a staffed window whose post zone has had nobody for `after_s` while the hall is open."""

from __future__ import annotations

from detectors.config import EmptyPostRuleConfig
from detectors.types import Event, EventSource


class EmptyPost:
    """Timer over one window's post zone.

    Call `update(people_in_post, now, is_open)` once per analysed frame. A person is present when seen
    within `gap_tolerance_s` (so a detector flicker does not reset anything); the alert starts when the
    post has had nobody for `after_s` while open, and ends when someone has been back for `clear_after_s`
    or when the hall closes. Long alerts send an `update` every `update_every_s`.
    """

    def __init__(self, source: EventSource, window_id: str, cfg: EmptyPostRuleConfig) -> None:
        self.source = source
        self.window_id = window_id
        self.cfg = cfg
        self._last_seen: float | None = None  # last time someone was at the post (or the hall opened)
        self._present_since: float | None = None  # start of the current presence run, during an alert
        self._alert_started: float | None = None
        self._last_emit = 0.0
        self._open = False
        self.state = "closed"

    @property
    def active(self) -> bool:
        return self._alert_started is not None

    def empty_for_s(self, now: float) -> float:
        """Seconds since someone was last at the post (0 while staffed or closed)."""
        if not self._open or self._last_seen is None:
            return 0.0
        return max(0.0, now - self._last_seen)

    def update(self, people_in_post: int, now: float, is_open: bool = True) -> list[Event]:
        if not is_open:
            events = [self.end(now, people_in_post, reason="closed")] if self.active else []
            self._open, self._last_seen, self._present_since, self.state = False, None, None, "closed"
            return events
        if not self._open:  # the hall just opened: the empty timer starts now, not at closing time
            self._open, self._last_seen = True, now
        if people_in_post > 0:
            return self._on_present(people_in_post, now)
        return self._on_absent(now)

    def _on_present(self, n: int, now: float) -> list[Event]:
        gap = now - self._last_seen if self._last_seen is not None else 0.0
        self._last_seen = now
        self.state = "staffed"
        if not self.active:
            return []
        if self._present_since is None or gap > self.cfg.gap_tolerance_s:
            self._present_since = now
        if now - self._present_since >= self.cfg.clear_after_s:
            return [self.end(now, n, reason="staffed")]
        return []

    def _on_absent(self, now: float) -> list[Event]:
        assert self._last_seen is not None
        empty_s = now - self._last_seen
        if empty_s <= self.cfg.gap_tolerance_s:
            return []  # a flicker: keep the state as it was
        self.state = "empty"
        self._present_since = None
        if not self.active:
            if empty_s >= self.cfg.after_s:
                self._alert_started = now
                self._last_emit = now
                return [self._event("start", now, 0, empty_for_s=round(empty_s, 3),
                                    empty_since=round(self._last_seen, 3))]
            return []
        if now - self._last_emit >= self.cfg.update_every_s:
            self._last_emit = now
            return [self._event("update", now, 0, empty_for_s=round(empty_s, 3))]
        return []

    def end(self, now: float, n: int, reason: str) -> Event:
        """End the active alert now (someone is back, the hall closed or the source ended)."""
        ev = self._event("end", now, n, reason=reason, alert_s=round(now - (self._alert_started or now), 3))
        self._alert_started = None
        self._present_since = None
        return ev

    def _event(self, state: str, now: float, people: int, **details: object) -> Event:
        started = self._alert_started if self._alert_started is not None else now
        return self.source.event("empty_post", state, self.window_id, now, started,  # type: ignore[arg-type]
                                 score=1.0, people=people, details=dict(details))
