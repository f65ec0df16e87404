"""The scheduler's Prometheus metrics (served on its health port's /metrics)."""

from prometheus_client import Counter, Gauge

DISPATCHED = Counter(
    "atelier_scheduler_dispatched_total", "Jobs handed to the workers", ["model", "tier"]
)
QUEUED = Gauge("atelier_scheduler_waiting", "Jobs waiting for a worker", ["model"])
SLOTS = Gauge("atelier_scheduler_slots", "Jobs the model's live workers hold at once", ["model"])
ACTIVE = Gauge("atelier_scheduler_active", "1 on the replica that dispatches")
