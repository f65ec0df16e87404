"""When a failed delivery is tried again: the whole schedule, as data, in one place.

Attempt 1 goes at once; after a failed attempt n the next waits `DELAYS[n - 1]` (the
last delay repeats), each with up to ±`JITTER` of itself so that a receiver that comes
back is not hit by every delivery in the same second; attempts stop `WINDOW` after the
first one (the event's time), with one last attempt at the end of the window. `scale`
shortens every delay and the window alike (tests).
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

#: Seconds to wait after attempt 1, 2, 3, …: 5 s, 30 s, 2 min, 10 min, 30 min, 1 h, 2 h,
#: 4 h, then every 8 h.
DELAYS = (5, 30, 120, 600, 1800, 3600, 7200, 14400, 28800)
WINDOW = timedelta(hours=24)
JITTER = 0.1


def next_attempt(
    attempt: int,
    first: datetime,
    now: datetime,
    *,
    scale: float = 1.0,
    jitter: float | None = None,
) -> datetime | None:
    """After attempt `attempt` (1 for the first) failed at `now`: when to try again, or
    None when the window that began at `first` is over. `jitter` in [-1, 1] (random by
    default) moves the delay by up to JITTER of itself."""
    if jitter is None:
        jitter = random.uniform(-1.0, 1.0)
    delay = DELAYS[min(attempt, len(DELAYS)) - 1] * scale * (1 + JITTER * jitter)
    deadline = first + WINDOW * scale
    if now >= deadline:
        return None
    return min(now + timedelta(seconds=delay), deadline)
