"""Process lifecycle: run a service until SIGTERM or SIGINT, then let it drain."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable

from atelier.runtime.logs import configure_logging
from atelier.runtime.settings import RuntimeSettings
from atelier.runtime.tracing import configure_tracing

log = logging.getLogger(__name__)


def run_until_signalled(main: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run `main(stop)`; SIGTERM/SIGINT set `stop`, and `main` returns once drained."""

    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await main(stop)
        log.info("stopped")

    asyncio.run(runner())


def run_service(
    service: str, settings: RuntimeSettings, run: Callable[[asyncio.Event], Awaitable[None]]
) -> None:
    """Entry point of a service: JSON logs, traces, then `run(stop)` until SIGTERM/SIGINT."""
    configure_logging(service, settings.log_level)
    configure_tracing(service)
    run_until_signalled(run)


async def wait_all(stop: asyncio.Event, *workers: Awaitable[None]) -> None:
    """Run workers together; if one fails, stop the others and raise its error."""
    tasks = [asyncio.ensure_future(worker) for worker in workers]
    stopping = asyncio.ensure_future(stop.wait())
    try:
        done, _ = await asyncio.wait([*tasks, stopping], return_when=asyncio.FIRST_COMPLETED)
        failed = [t for t in done if t is not stopping and t.exception()]
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        if failed:
            raise failed[0].exception()  # type: ignore[misc]
    finally:
        stopping.cancel()


async def periodically(
    stop: asyncio.Event, interval: float, work: Callable[[], Awaitable[object]], what: str
) -> None:
    """Run `work` now and then every `interval` s until `stop`; a failure is logged and the
    next round tries again."""
    while not stop.is_set():
        try:
            await work()
        except Exception:
            log.exception("%s failed; next one in %.0f s", what, interval)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
