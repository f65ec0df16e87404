"""Configuration of the JetStream streams, as plain data (no nats-py types here).

`atelier.runtime` turns these into nats-py `StreamConfig`s; the deploy job and the dev
stack create them idempotently from the same values.
"""

from __future__ import annotations

from dataclasses import dataclass

from atelier.contracts import subjects


@dataclass(frozen=True)
class StreamSpec:
    name: str
    subjects: tuple[str, ...]
    description: str
    #: Limits retention, file storage, no max age: the log is the source of truth.
    deny_delete: bool = True
    deny_purge: bool = True
    #: How long JetStream remembers a Nats-Msg-Id to drop a duplicate publish.
    duplicate_window_seconds: float = 120.0
    max_msg_size: int = 1024 * 1024
    #: 0: keep forever.
    max_age_seconds: float = 0
    #: Counter subjects (`Nats-Incr`): atomic, shared by every replica.
    counters: bool = False


#: The largest event is a request with two 2000-character prompts (a few KiB): anything
#: near this size is an attack or a bug, refused by JetStream before it reaches the log.
MAX_EVENT_BYTES = 256 * 1024

EVENTS = StreamSpec(
    name="ATELIER_EVENTS",
    subjects=(f"{subjects.EVENTS_ROOT}.>",),
    description="Atelier's domain events: the log every projection is rebuilt from",
    max_msg_size=MAX_EVENT_BYTES,
)

DEAD_LETTERS = StreamSpec(
    name="ATELIER_DEAD_LETTERS",
    subjects=(f"{subjects.DEAD_LETTER_ROOT}.>",),
    description="Messages a consumer refused, with the reason; kept for inspection",
    deny_delete=False,
    deny_purge=False,
)


def _counters(name: str, period: str, description: str, max_age_seconds: float) -> StreamSpec:
    """A stream of the limits' counters (`atelier.limits.{period}.…`), one subject per
    period; old periods age out."""
    return StreamSpec(
        name=name,
        subjects=(f"{subjects.LIMITS_ROOT}.{period}.>",),
        description=description,
        deny_delete=False,
        deny_purge=False,
        counters=True,
        max_age_seconds=max_age_seconds,
    )


RATE_COUNTERS = _counters(
    "ATELIER_RATES",
    "rate",
    "Per-user request counters, one subject per minute; old minutes age out",
    max_age_seconds=3600,
)

DAILY_COUNTERS = _counters(
    "ATELIER_DAILY",
    "daily",
    "Per-user counters of jobs admitted, one subject per UTC day (daily quotas)",
    max_age_seconds=3 * 86400,
)

ALL_STREAMS = (EVENTS, DEAD_LETTERS, RATE_COUNTERS, DAILY_COUNTERS)


@dataclass(frozen=True)
class BucketSpec:
    """A JetStream key-value bucket (its stream is `KV_{name}`), one value per key."""

    name: str
    description: str

    @property
    def subjects(self) -> str:
        """Where its values are written (`$KV.{name}.{key}`)."""
        return f"$KV.{self.name}.>"


ACTIVE_JOBS = BucketSpec(
    name="ATELIER_ACTIVE_JOBS",
    description="Per user: the jobs admitted and not ended yet (compare-and-set only)",
)

ALL_BUCKETS = (ACTIVE_JOBS,)
