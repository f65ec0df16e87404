"""The webhooks service's Prometheus metrics (served on its health port's /metrics)."""

from prometheus_client import Counter, Gauge

ATTEMPTS = Counter(
    "atelier_webhook_attempts_total",
    "Delivery attempts by outcome (succeeded, retrying, failed)",
    ["outcome"],
)
IN_FLIGHT = Gauge("atelier_webhook_attempts_in_flight", "Delivery attempts under way")
