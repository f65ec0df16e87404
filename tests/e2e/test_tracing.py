"""One generation is one trace: from the HTTP request through the gateway's publish, the
scheduler's dispatch, the GPU worker's consume, inference and S3 uploads, the workspace
projection, to the SSE delivery. A rebuild of the projection links to those traces instead
of joining them.

The gateway, the scheduler, the SDXL worker and the workspace service run here in the
test's process,
each from its own composition root, so that one in-memory exporter sees every span;
they talk to each other only through real NATS, PostgreSQL and S3.

Users' tokens reach no span and no log line, whether sent in `?access_token=` (the event
stream) or in the Authorization header.
"""

import asyncio
import contextlib
import io
import logging
import socket
import uuid

import httpx
import pytest
import uvicorn
from opentelemetry import trace
from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from atelier.gateway.config import GatewaySettings
from atelier.gateway.entrypoints.http import create_app
from atelier.gpu_sdxl.config import SdxlSettings
from atelier.gpu_sdxl.pipeline import SdxlPipeline
from atelier.gpu_sdxl.renderer import SdxlRenderer
from atelier.gpu_sdxl.tiny_model import build_tiny_sdxl
from atelier.inference.service import serve as serve_worker
from atelier.platform.identity import issue_token
from atelier.runtime import tracing
from atelier.runtime.bus import connect, ensure_streams
from atelier.runtime.db import create_pool
from atelier.runtime.logs import JsonFormatter
from atelier.runtime.rebuild import rebuild
from atelier.scheduler import bootstrap as scheduler
from atelier.scheduler.config import SchedulerSettings
from atelier.workspace import bootstrap as workspace
from atelier.workspace.config import WorkspaceSettings
from atelier.workspace.projection import WorkspaceProjection
from tests.helpers import EventStream, done, eventually, job_assets

pytestmark = pytest.mark.e2e

SECRET = "a-secret-for-the-tracing-test-only-0123456789"
WORKSPACE = WorkspaceProjection.name
SCHEDULER = "scheduler"


@pytest.fixture(scope="module")
def spans():
    """The SDK as a service installs it, exporting into memory (once per process)."""
    exporter = InMemorySpanExporter()
    provider = tracing.tracer_provider("test", environ={})
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    tracing.instrument_libraries(provider)
    yield exporter
    AsyncPGInstrumentor().uninstrument()


@pytest.fixture
async def services(servers, private_nats, tmp_path):
    """Gateway, scheduler, SDXL worker and workspace on a private log; yields the gateway's
    URL and the workspace's settings."""
    env = await _private_log(servers, private_nats)
    workspace_settings = WorkspaceSettings(**env, db_schema=f"trace_{uuid.uuid4().hex[:8]}")
    scheduler_settings = SchedulerSettings(**env, db_schema=f"trace_s_{uuid.uuid4().hex[:8]}")
    model = build_tiny_sdxl(tmp_path / "tiny-sdxl")
    renderer = SdxlRenderer(SdxlPipeline.load(str(model), device="cpu", dtype="float32"))
    port = free_port()
    gateway = _gateway(GatewaySettings(**env, jwt_secret=SECRET, http_port=port))
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(workspace.run(workspace_settings, stop)),
        asyncio.create_task(scheduler.run(scheduler_settings, stop)),
        # no warm-up: its renders at the default size would be traced too (and slow on CPU)
        asyncio.create_task(serve_worker(SdxlSettings(**env, warmup=[]), renderer, stop)),
        asyncio.create_task(gateway.serve()),
    ]
    try:
        await eventually(lambda: _started(gateway, tasks), timeout=60)
        yield f"http://127.0.0.1:{port}", workspace_settings
    finally:
        stop.set()
        gateway.should_exit = True
        for task in tasks:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 30)


@pytest.fixture
async def lone_gateway(servers, private_nats, monkeypatch):
    """The gateway alone on a private log, capturing the Authorization header in its spans
    (as an operator may configure it) and beating idle event streams every 0.2 s; yields
    its URL."""
    monkeypatch.setenv("OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST", "authorization")
    env = await _private_log(servers, private_nats)
    port = free_port()
    gateway = _gateway(
        GatewaySettings(**env, jwt_secret=SECRET, http_port=port, sse_heartbeat_seconds=0.2)
    )
    task = asyncio.create_task(gateway.serve())
    try:
        await eventually(lambda: _started(gateway, [task]), timeout=60)
        yield f"http://127.0.0.1:{port}"
    finally:
        gateway.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 30)


@pytest.fixture
def json_logs():
    """Every INFO line of the process, as a service writes it (`configure_logging`)."""
    output = io.StringIO()
    handler = logging.StreamHandler(output)
    handler.setFormatter(JsonFormatter("test"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield output
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


async def _private_log(servers, private_nats) -> dict[str, str]:
    """Settings for services on `private_nats`, its streams provisioned."""
    nc = await connect(private_nats.url, name="provision")
    await ensure_streams(nc)
    await nc.close()
    return {k.lower(): v for k, v in servers.as_env().items()} | {"nats_url": private_nats.url}


def _gateway(settings: GatewaySettings) -> uvicorn.Server:
    config = uvicorn.Config(
        create_app(settings),
        host="127.0.0.1",
        port=settings.http_port,
        log_config=None,
        access_log=False,
    )
    return uvicorn.Server(config)


async def _started(gateway: uvicorn.Server, tasks: list[asyncio.Task]) -> bool:
    for task in tasks:
        if task.done():
            task.result()  # a service that failed to start fails the test with its error
    return gateway.started


async def test_one_generation_is_one_trace_across_gateway_gpu_and_workspace(spans, services):
    url, workspace_settings = services
    token = issue_token(SECRET, uuid.uuid4(), audience="authenticated", lifetime_s=600)
    headers = {"Authorization": f"Bearer {token}"}
    request = {"model": "sdxl", "prompt": "a lantern", "width": 64, "height": 64, "steps": 2}
    async with (
        httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as api,
        EventStream(api) as stream,
    ):
        response = await api.post("/v1/generations", json=request)
        assert response.status_code == 202, response.text
        job = response.json()["job_id"]
        await stream.until(done(job))
        await job_assets(api, job, 1)

    http = _one(spans, "POST /v1/generations", kind=SpanKind.SERVER)
    trace_id = http.context.trace_id
    in_trace = [s for s in spans.get_finished_spans() if s.context.trace_id == trace_id]
    by_name = {}
    for span in in_trace:
        by_name.setdefault(span.name, []).append(span)

    publish_requested = by_name["publish generation.requested"][0]
    scheduled = _child_of(by_name["process generation.requested"], publish_requested, SCHEDULER)
    publish_dispatched = _child_of(by_name["publish generation.dispatched"], scheduled)
    consume = _child_of(by_name["process generation.dispatched"], publish_dispatched, "gpu-sdxl")
    assert consume.kind == SpanKind.CONSUMER
    assert consume.attributes["messaging.system"] == "nats"
    # the workspace projects the request too (the job's status), in the same trace
    _child_of(by_name["process generation.requested"], publish_requested, WORKSPACE)
    render = _child_of(by_name["render sdxl"], consume)
    assert render.attributes["atelier.steps"] == 2
    uploads = [s for s in by_name["S3.PutObject"] if s.parent.span_id == consume.context.span_id]
    assert {s.attributes["aws.s3.bucket"] for s in uploads} == {"workspace-temp"}
    assert len(uploads) == 2  # the image and its thumbnail

    completed = _child_of(by_name["publish generation.completed"], consume)
    projected = _child_of(by_name["process generation.completed"], completed, WORKSPACE)
    queries = [s for s in in_trace if s.parent and s.parent.span_id == projected.context.span_id]
    assert queries
    assert all(s.attributes["db.system"] == "postgresql" for s in queries)
    _child_of(by_name["deliver generation.completed"], completed, "sse")

    # A rebuild reads the same events long after: its own trace, linked to theirs.
    async with _pool(workspace_settings) as pool:
        nc = await connect(workspace_settings.nats_url, name="rebuild")
        try:
            await rebuild(
                js=nc.jetstream(),
                pool=pool,
                projection=WorkspaceProjection(),
                schema=workspace_settings.db_schema,
            )
        finally:
            await nc.close()
    replay = _one(spans, f"rebuild {WORKSPACE}")
    assert replay.context.trace_id != trace_id
    assert replay.parent is None
    assert trace_id in {link.context.trace_id for link in replay.links}


async def test_tokens_reach_no_span_and_no_log_line(spans, lone_gateway, json_logs):
    url = lone_gateway
    token = issue_token(SECRET, uuid.uuid4(), audience="authenticated", lifetime_s=600)
    spans.clear()
    async with (
        httpx.AsyncClient(base_url=url, timeout=30) as browser,
        EventStream(browser, client="console", access_token=token) as stream,
    ):
        assert stream.response.status_code == 200
        await stream.until(lambda read: read.comments)  # a heartbeat
    headers = {"Authorization": f"Bearer {token}"}
    request = {"model": "sdxl", "prompt": "a lantern", "width": 64, "height": 64, "steps": 2}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as api:
        response = await api.post("/v1/generations", json=request)
        assert response.status_code == 202, response.text

    async def stream_span():  # it ends once the gateway sees the client gone
        return [s for s in spans.get_finished_spans() if s.name == "GET /v1/events"]

    (stream_span,) = await eventually(stream_span, timeout=30)
    submit = _one(spans, "POST /v1/generations", kind=SpanKind.SERVER)
    recorded = [
        (
            span.name,
            dict(span.attributes),
            [(event.name, dict(event.attributes)) for event in span.events],
            [dict(link.attributes) for link in span.links],
            span.status.description,
        )
        for span in spans.get_finished_spans()
    ]
    signature = token.rsplit(".", 1)[1]
    assert signature not in repr(recorded)
    assert stream_span.attributes["http.url"] == (
        f"{url}/v1/events?client=console&access_token=REDACTED"
    )
    assert submit.attributes["http.request.header.authorization"] == ("Bearer REDACTED",)
    assert signature not in json_logs.getvalue()
    # the HTTP client's request line, written as a service writes its lines
    assert "/v1/events?client=console&access_token=REDACTED" in json_logs.getvalue()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _one(exporter: InMemorySpanExporter, name: str, kind: SpanKind | None = None):
    found = [
        s
        for s in exporter.get_finished_spans()
        if s.name == name and (kind is None or s.kind == kind)
    ]
    assert len(found) == 1, f"{name}: {len(found)} spans"
    return found[0]


def _child_of(candidates, parent, group: str | None = None):
    """The one span among `candidates` whose parent is `parent` (and, for a consumer span,
    whose consumer group is `group`)."""
    children = [
        s
        for s in candidates
        if s.parent
        and s.parent.span_id == parent.context.span_id
        and (group is None or s.attributes["messaging.consumer.group.name"] == group)
    ]
    assert len(children) == 1, f"{parent.name} has {len(children)} such children ({group})"
    return children[0]


@contextlib.asynccontextmanager
async def _pool(settings: WorkspaceSettings):
    pool = await create_pool(settings.database_url, settings.db_schema)
    try:
        yield pool
    finally:
        await pool.close()
