"""The FastAPI instrumentation, with the gateway's hook, records a request's URL and
captured headers without the user's token, while the route still reads the token."""

import uuid

from fastapi import FastAPI
from fastapi.testclient import TestClient
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from atelier.platform.identity import issue_token
from atelier.runtime import tracing

TOKEN = issue_token("s" * 48, uuid.uuid4(), audience="authenticated", lifetime_s=60)


def test_the_server_span_holds_the_url_and_headers_without_the_token():
    exported = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exported))
    app = FastAPI()

    @app.get("/v1/events")
    async def events(access_token: str) -> str:
        return access_token

    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=provider,
        server_request_hook=tracing.redact_server_span,
        http_capture_headers_server_request=["authorization"],
    )
    response = TestClient(app).get(
        f"/v1/events?client=console&access_token={TOKEN}",
        headers={"Authorization": f"Bearer {TOKEN}"},
    )

    assert response.json() == TOKEN
    (span,) = [s for s in exported.get_finished_spans() if s.kind == SpanKind.SERVER]
    signature = TOKEN.rsplit(".", 1)[1]
    assert signature not in repr(dict(span.attributes))
    assert span.attributes["http.url"].endswith("/v1/events?client=console&access_token=REDACTED")
    assert span.attributes["http.request.header.authorization"] == ("Bearer REDACTED",)
