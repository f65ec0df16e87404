"""`/healthz` (alive), `/readyz` (dependencies answer) and `/metrics` for services without
HTTP APIs.

A deliberately tiny HTTP/1.1 responder on asyncio streams: probes need nothing more,
and the GPU workers and projections should not carry a web framework for two routes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable

from atelier.runtime.metrics import exposition

log = logging.getLogger(__name__)

Check = Callable[[], Awaitable[object]]


class HealthServer:
    def __init__(self, checks: dict[str, Check], *, timeout: float = 2.0) -> None:
        self.checks = checks
        self.timeout = timeout
        self._server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> None:
        self._server = await asyncio.start_server(self._serve, host, port)

    async def close(self) -> None:
        if self._server:
            self._server.close()
            await self._server.wait_closed()

    async def readiness(self) -> dict[str, str]:
        """Each check's outcome: "ok" or the error it raised."""

        async def run(check: Check) -> str:
            try:
                await asyncio.wait_for(check(), self.timeout)
            except Exception as error:
                return f"failed: {error!r}"
            return "ok"

        names = list(self.checks)
        outcomes = await asyncio.gather(*(run(self.checks[name]) for name in names))
        return dict(zip(names, outcomes, strict=True))

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = await asyncio.wait_for(reader.readline(), self.timeout)
            path = request_line.decode("latin-1").split(" ")[1] if request_line else ""
            content_type = "application/json"
            if path == "/metrics":
                status, (payload, content_type) = 200, exposition()
            elif path == "/healthz":
                status, body = 200, {"status": "ok"}
            elif path == "/readyz":
                checks = await self.readiness()
                ready = all(outcome == "ok" for outcome in checks.values())
                status, body = (200 if ready else 503), {"ready": ready, "checks": checks}
            else:
                status, body = 404, {"title": "Not Found"}
            if path != "/metrics":
                payload = json.dumps(body).encode()
            reason = {200: "OK", 404: "Not Found", 503: "Service Unavailable"}[status]
            writer.write(
                f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode()
                + payload
            )
            await writer.drain()
        except (TimeoutError, IndexError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


def nats_check(nc) -> Check:
    async def check() -> None:
        if not nc.is_connected:
            raise ConnectionError("not connected to NATS")
        await nc.flush(timeout=1)

    return check


def postgres_check(pool) -> Check:
    async def check() -> None:
        await pool.fetchval("SELECT 1")

    return check


def s3_check(objects, bucket: str) -> Check:
    async def check() -> None:
        await objects.head_bucket(bucket)

    return check


def projection_check(runner) -> Check:
    """Unready while a projection runner is stalled (see ProjectionRunner.stalled)."""

    async def check() -> None:
        if runner.stalled():
            raise RuntimeError(f"no progress for over {runner.stall_seconds:g} s")

    return check


def consumer_check(js, stream: str, durable: str) -> Check:
    async def check() -> None:
        await js.consumer_info(stream, durable)

    return check


async def serve_health(settings, checks: dict[str, Check], stack: contextlib.AsyncExitStack):
    """Start the health server if the settings give it a port; closed with `stack`."""
    if settings.health_port is None:
        return None
    server = HealthServer(checks)
    await server.start(settings.health_host, settings.health_port)
    stack.push_async_callback(server.close)
    return server
