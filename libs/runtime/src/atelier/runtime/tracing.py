"""W3C trace context in NATS headers, so one request is one trace across services."""

from __future__ import annotations

from collections.abc import Mapping

from opentelemetry import context, propagate


def inject(headers: dict[str, str]) -> dict[str, str]:
    """Add `traceparent` (and `tracestate`) of the current span to message headers."""
    propagate.inject(headers)
    return headers


def extract(headers: Mapping[str, str] | None) -> context.Context:
    """The trace context a message carries (an empty one when it carries none)."""
    return propagate.extract(dict(headers or {}))
