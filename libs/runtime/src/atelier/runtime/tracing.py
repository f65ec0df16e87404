"""OpenTelemetry: one trace per request, from the HTTP call through every NATS hop.

Trace context travels in NATS headers (W3C `traceparent`). The span helpers here follow
the OTel semantic conventions: messaging spans (`publish`/`process`/`deliver` + event
type) for the log, CLIENT/SERVER spans for request/reply, `aws-api` spans for S3.
asyncpg is instrumented by its OTel instrumentation, FastAPI by the gateway.

`configure_tracing` installs the SDK in a service process. Spans are always recorded
(logs carry trace and span ids); they are exported only when the standard variables
ask for it: `OTEL_TRACES_EXPORTER=otlp|console|none`, defaulting to `otlp` when an
`OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT` is set and to `none` otherwise, so that dev
stacks and tests export nothing. `OTEL_SDK_DISABLED=true` turns the SDK off. Every
exporter sends spans with users' tokens redacted (`runtime/redaction.py`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

from opentelemetry import context, propagate, trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_ON,
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
)
from opentelemetry.trace import Link, SpanKind, Status

from atelier.runtime.redaction import redact, redact_attributes

tracer = trace.get_tracer("atelier")

MESSAGING_SYSTEM = "nats"


def inject(headers: dict[str, str]) -> dict[str, str]:
    """Add `traceparent` (and `tracestate`) of the current span to message headers."""
    propagate.inject(headers)
    return headers


def extract(headers: Mapping[str, str] | None) -> context.Context:
    """The trace context a message carries (an empty one when it carries none)."""
    return propagate.extract(dict(headers or {}))


# --- spans of our own hops ------------------------------------------------------------


@contextmanager
def publish_span(event_type: str, subject: str, message_id: str) -> Iterator[dict[str, str]]:
    """A PRODUCER span around appending one event; yields headers carrying its context."""
    attributes = _messaging("send", "publish", subject) | {"messaging.message.id": message_id}
    with tracer.start_as_current_span(
        f"publish {event_type}", kind=SpanKind.PRODUCER, attributes=attributes
    ):
        yield inject({})


@contextmanager
def process_span(
    event_type: str,
    subject: str,
    headers: Mapping[str, str] | None,
    *,
    group: str,
    operation: str = "process",
    **attributes: object,
) -> Iterator[trace.Span]:
    """A CONSUMER span for handling one event, a child of the span that published it."""
    attrs = _messaging("process", operation, subject) | {"messaging.consumer.group.name": group}
    with tracer.start_as_current_span(
        f"{operation} {event_type}",
        context=extract(headers),
        kind=SpanKind.CONSUMER,
        attributes=attrs | attributes,
    ) as span:
        yield span


@contextmanager
def replay_span(name: str, group: str, headers: Sequence[Mapping[str, str] | None]):
    """A span for replaying a batch of old events (a projection rebuild): it starts a trace
    of its own and *links* to the events' traces instead of joining them."""
    links = []
    for carried in headers:
        span_context = trace.get_current_span(extract(carried)).get_span_context()
        if span_context.is_valid:
            links.append(Link(span_context))
    attributes = {
        "messaging.system": MESSAGING_SYSTEM,
        "messaging.operation.type": "process",
        "messaging.consumer.group.name": group,
        "messaging.batch.message_count": len(headers),
    }
    with tracer.start_as_current_span(
        name, context=context.Context(), links=links, attributes=attributes
    ) as span:
        yield span


@contextmanager
def rpc_client_span(subject: str) -> Iterator[dict[str, str]]:
    """A CLIENT span around a NATS request; yields the request's headers."""
    name, attributes = _rpc(subject)
    with tracer.start_as_current_span(name, kind=SpanKind.CLIENT, attributes=attributes):
        yield inject({})


@contextmanager
def rpc_server_span(subject: str, headers: Mapping[str, str] | None) -> Iterator[trace.Span]:
    name, attributes = _rpc(subject)
    with tracer.start_as_current_span(
        name, context=extract(headers), kind=SpanKind.SERVER, attributes=attributes
    ) as span:
        yield span


@contextmanager
def s3_span(operation: str, bucket: str, key: str | None = None) -> Iterator[trace.Span]:
    """A CLIENT span for one S3 call, named and attributed as botocore's instrumentation
    names them (aiobotocore has no instrumentation of its own)."""
    attributes = {
        "rpc.system": "aws-api",
        "rpc.service": "S3",
        "rpc.method": operation,
        "aws.s3.bucket": bucket,
    }
    if key is not None:
        attributes["aws.s3.key"] = key
    with tracer.start_as_current_span(
        f"S3.{operation}", kind=SpanKind.CLIENT, attributes=attributes
    ) as span:
        yield span


def _messaging(operation_type: str, operation: str, subject: str) -> dict[str, object]:
    return {
        "messaging.system": MESSAGING_SYSTEM,
        "messaging.operation.type": operation_type,
        "messaging.operation.name": operation,
        "messaging.destination.name": subject,
    }


def _rpc(subject: str) -> tuple[str, dict[str, object]]:
    """RPC span name (`service/method`) and attributes of a request subject."""
    *_, service, method = subject.split(".")
    attributes = {
        "rpc.system": MESSAGING_SYSTEM,
        "rpc.service": service,
        "rpc.method": method,
        "messaging.destination.name": subject,
    }
    return f"{service}/{method}", attributes


# --- the SDK in a service process ---------------------------------------------------------


class NoBackgroundRoots(Sampler):
    """Record every trace our code starts, but not one started by a bare CLIENT call (a
    health probe's `SELECT 1`, a sweeper's query): those are noise, not requests."""

    def should_sample(self, parent_context, trace_id, name, kind=None, attributes=None, links=None):
        if kind == SpanKind.CLIENT:
            return SamplingResult(Decision.DROP)
        return ALWAYS_ON.should_sample(parent_context, trace_id, name, kind, attributes, links)

    def get_description(self) -> str:
        return "NoBackgroundRoots"


def tracer_provider(service: str, environ: Mapping[str, str] = os.environ) -> TracerProvider:
    """A provider for `service`, exporting where the OTEL_* variables say."""
    resource = Resource.create(
        {} if environ.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: f"atelier-{service}"}
    )
    provider = TracerProvider(resource=resource, sampler=ParentBased(root=NoBackgroundRoots()))
    for exporter in exporters(environ):
        provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def exporters(environ: Mapping[str, str]) -> list[SpanExporter]:
    endpoint = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    names = environ.get("OTEL_TRACES_EXPORTER", "otlp" if endpoint else "none")
    chosen: list[SpanExporter] = []
    for name in filter(None, (part.strip() for part in names.split(","))):
        if name == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            chosen.append(OTLPSpanExporter())  # endpoint, headers, timeout: from OTEL_*
        elif name == "console":
            chosen.append(ConsoleSpanExporter())
        elif name != "none":
            raise ValueError(f"OTEL_TRACES_EXPORTER={name!r}: use otlp, console or none")
    return [RedactingExporter(exporter) for exporter in chosen]


class RedactingExporter(SpanExporter):
    """Sends spans with users' tokens redacted from their attributes, events, links and
    status: whatever recorded one (an exception's message, a header captured by
    configuration), it does not leave the process."""

    def __init__(self, exporter: SpanExporter) -> None:
        self.exporter = exporter

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self.exporter.export([_redacted(span) for span in spans])

    def shutdown(self) -> None:
        self.exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.exporter.force_flush(timeout_millis)


def _redacted(span: ReadableSpan) -> ReadableSpan:
    status = span.status
    return ReadableSpan(
        name=redact(span.name),
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=redact_attributes(span.attributes),
        events=[
            Event(event.name, redact_attributes(event.attributes), event.timestamp)
            for event in span.events
        ],
        links=[Link(link.context, redact_attributes(link.attributes)) for link in span.links],
        kind=span.kind,
        status=Status(status.status_code, status.description and redact(status.description)),
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


def redact_server_span(span: trace.Span, _scope: object) -> None:
    """The ASGI instrumentation's `server_request_hook`: it has just recorded the request's
    URL, query and captured headers on the SERVER span; replace the tokens in them (so
    that no span, exported or not, holds one)."""
    recorded = getattr(span, "attributes", None) or {}  # a non-recording span has none
    redacted = redact_attributes(recorded)
    span.set_attributes({key: value for key, value in redacted.items() if value != recorded[key]})


def instrument_libraries(provider: trace.TracerProvider) -> None:
    """Instrument the libraries whose calls we do not wrap ourselves (asyncpg)."""
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

    instrumentor = AsyncPGInstrumentor()
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument(tracer_provider=provider)


def configure_tracing(service: str, environ: Mapping[str, str] = os.environ) -> None:
    """Install the SDK for this process (once, at start-up)."""
    if environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return
    provider = tracer_provider(service, environ)
    trace.set_tracer_provider(provider)
    instrument_libraries(provider)
