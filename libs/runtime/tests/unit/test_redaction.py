"""Users' tokens never reach a log line or an exported span; the text around them does."""

import base64
import io
import json
import logging

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, Status, StatusCode

from atelier.runtime import tracing
from atelier.runtime.logs import JsonFormatter
from atelier.runtime.redaction import redact, redact_attributes


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


SIGNATURE = _b64(b"an HMAC of thirty-two bytes, say")
TOKEN = ".".join(
    [_b64(b'{"alg":"HS256","typ":"JWT"}'), _b64(b'{"sub":"user","aud":"x"}'), SIGNATURE]
)


@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        (
            f"http://gw/v1/events?access_token={TOKEN}",
            "http://gw/v1/events?access_token=REDACTED",
        ),
        (
            f"/v1/events?client=console&access_token={TOKEN}&after=7#top",
            "/v1/events?client=console&access_token=REDACTED&after=7#top",
        ),
        ("access_token=opaque-but-secret", "access_token=REDACTED"),
        (f"Bearer {TOKEN}", "Bearer REDACTED"),
        ("bearer  dGhpcyBpcyBvcGFxdWU=", "bearer  REDACTED"),
        (f"{{'authorization': 'Bearer {TOKEN}'}}", "{'authorization': 'Bearer REDACTED'}"),
        (f'{{"token": "{TOKEN}", "user": "u"}}', '{"token": "REDACTED", "user": "u"}'),
        (f"ValueError: bad {TOKEN}\n  line 3", "ValueError: bad REDACTED\n  line 3"),
    ],
)
def test_the_token_is_replaced_and_the_rest_kept(text, redacted):
    assert redact(text) == redacted


@pytest.mark.parametrize(
    "text",
    [
        "a bearer token is required",
        'Bearer realm="atelier"',
        "GET /v1/events?after=7",
        "https://files/ws/u/j/0.webp?X-Amz-Date=20260101T000000Z&X-Amz-Expires=900",
    ],
)
def test_text_without_a_token_is_left_alone(text):
    assert redact(text) == text


def test_attributes_are_redacted_in_strings_and_sequences():
    attributes = {
        "http.url": f"http://gw/v1/events?access_token={TOKEN}",
        "http.request.header.authorization": (f"Bearer {TOKEN}",),
        "http.status_code": 200,
    }
    assert redact_attributes(attributes) == {
        "http.url": "http://gw/v1/events?access_token=REDACTED",
        "http.request.header.authorization": ("Bearer REDACTED",),
        "http.status_code": 200,
    }


# --- logs -----------------------------------------------------------------------------------


@pytest.fixture
def log_output():
    output = io.StringIO()
    handler = logging.StreamHandler(output)
    handler.setFormatter(JsonFormatter("test"))
    logger = logging.getLogger("test.redaction")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger, output
    logger.removeHandler(handler)


def test_a_log_line_carries_no_token_from_its_message_extras_or_traceback(log_output):
    logger, output = log_output
    logger.info("GET /v1/events?access_token=%s&client=console", TOKEN)
    logger.info("request", extra={"headers": {"authorization": f"Bearer {TOKEN}"}})
    try:
        raise ValueError(f"unreadable token {TOKEN}")
    except ValueError:
        logger.exception("request failed")

    assert TOKEN not in output.getvalue()
    assert SIGNATURE not in output.getvalue()
    message, extra, failure = (json.loads(line) for line in output.getvalue().splitlines())
    assert message["msg"] == "GET /v1/events?access_token=REDACTED&client=console"
    assert extra["headers"] == {"authorization": "Bearer REDACTED"}
    assert failure["msg"] == "request failed"
    assert "ValueError: unreadable token REDACTED" in failure["exc"]


# --- spans ----------------------------------------------------------------------------------


def test_exported_spans_carry_no_token():
    exported = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(tracing.RedactingExporter(exported)))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("linked") as linked:
        pass
    link = Link(linked.get_span_context(), {"origin": f"access_token={TOKEN}"})
    with tracer.start_as_current_span(
        "GET /v1/events",
        attributes={"http.url": f"http://gw/v1/events?client=console&access_token={TOKEN}"},
        links=[link],
    ) as span:
        span.set_attribute("http.request.header.authorization", [f"Bearer {TOKEN}"])
        failure = ValueError(f"unreadable token {TOKEN}")
        span.record_exception(failure)
        span.set_status(Status(StatusCode.ERROR, f"ValueError: {failure}"))

    sent = exported.get_finished_spans()[-1]
    everything = repr(
        [
            sent.attributes,
            [(event.name, event.attributes) for event in sent.events],
            [link.attributes for link in sent.links],
            sent.status.description,
        ]
    )
    assert SIGNATURE not in everything
    assert sent.attributes["http.url"] == "http://gw/v1/events?client=console&access_token=REDACTED"
    assert sent.attributes["http.request.header.authorization"] == ("Bearer REDACTED",)
    assert sent.events[0].attributes["exception.message"] == "unreadable token REDACTED"
    assert sent.status.description == "ValueError: unreadable token REDACTED"
    assert sent.links[0].context == linked.get_span_context()
    assert sent.context == span.get_span_context()


def test_every_configured_exporter_redacts():
    chosen = tracing.exporters({"OTEL_TRACES_EXPORTER": "console,otlp"})
    assert [type(exporter) for exporter in chosen] == [tracing.RedactingExporter] * 2


def test_the_server_hook_redacts_what_the_instrumentation_recorded():
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span(
        "GET /v1/events",
        attributes={
            "url.path": "/v1/events",
            "url.query": f"access_token={TOKEN}&client=console",
            "http.request.header.authorization": (f"Bearer {TOKEN}",),
        },
    ) as span:
        tracing.redact_server_span(span, {"type": "http"})
        assert dict(span.attributes) == {
            "url.path": "/v1/events",
            "url.query": "access_token=REDACTED&client=console",
            "http.request.header.authorization": ("Bearer REDACTED",),
        }
