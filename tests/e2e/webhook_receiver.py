"""A real HTTP receiver on loopback for webhook deliveries (aiohttp), answering as a
script says: `ok` (200), a status code, or `hang` (answers after the sender's timeout)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from aiohttp import web
from standardwebhooks import Webhook


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    answered: int | str

    @property
    def event(self) -> dict:
        return json.loads(self.body)

    @property
    def id(self) -> str:
        return self.headers["webhook-id"]

    def verify(self, secret: str) -> dict:
        return Webhook(secret).verify(self.body, self.headers)


@dataclass
class Receiver:
    #: Answers, in order, for the first requests; `ok` after them.
    script: list[int | str] = field(default_factory=list)
    hang_seconds: float = 4.0
    received: list[Received] = field(default_factory=list)
    port: int = 0
    _runner: web.AppRunner | None = None
    _arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def start(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Receiver:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def _handle(self, request: web.Request) -> web.Response:
        answer = self.script.pop(0) if self.script else "ok"
        body = await request.read()
        async with self._arrived:
            self.received.append(Received(dict(request.headers), body, answer))
            self._arrived.notify_all()
        if answer == "hang":
            await asyncio.sleep(self.hang_seconds)
            return web.Response(status=200)
        return web.Response(status=200 if answer == "ok" else int(answer))

    async def wait_for(
        self, wanted: Callable[[list[Received]], object], timeout: float = 60.0
    ) -> list[Received]:
        async with asyncio.timeout(timeout):
            async with self._arrived:
                await self._arrived.wait_for(lambda: bool(wanted(self.received)))
        return self.received

    def of_type(self, event_type: str) -> list[Received]:
        return [r for r in self.received if r.event.get("type") == event_type]

    def types(self) -> Iterable[str]:
        return [r.event.get("type") for r in self.received]
