"""Opening hours: is the hall open at a given time?

Times are epoch seconds. In replay, media time is turned into epoch time by the caller (a `start_at`
given to replay); the schedule itself never reads the clock.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from detectors.config import DAYS, ScheduleConfig


class Schedule:
    """Opening hours in a time zone, as minute ranges on chosen weekdays."""

    def __init__(self, cfg: ScheduleConfig | None) -> None:
        self.always_open = cfg is None
        if cfg is None:
            return
        self.tz = ZoneInfo(cfg.timezone)
        self.days = frozenset(DAYS.index(d) for d in cfg.days)
        self.ranges: list[tuple[int, int]] = []
        for r in cfg.open:
            a, b = r.split("-")
            self.ranges.append((_minutes(a), _minutes(b)))

    def is_open(self, epoch_s: float | None) -> bool:
        """Whether the hall is open at `epoch_s`; None (unknown wall time) counts as open."""
        if self.always_open or epoch_s is None:
            return True
        local = datetime.fromtimestamp(epoch_s, self.tz)
        if local.weekday() not in self.days:
            return False
        minute = local.hour * 60 + local.minute + local.second / 60.0
        return any(a <= minute < b for a, b in self.ranges)


def _minutes(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)
