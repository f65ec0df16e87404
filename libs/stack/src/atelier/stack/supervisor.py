"""Supervision of the platform's services: a process that exits though nobody stopped it
is started again after a delay, longer after each exit in a row.

Each process is watched by a thread of its own, so a slow restart (a GPU service loading
its model) holds up no other. Every exit and restart is told in the process's log and on
the `atelier.stack.supervisor` logger, which `make up` prints.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass

from atelier.stack.servers import ServerStartError
from atelier.stack.servers.process import SubprocessServer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Backoff:
    """0.5 s before the first restart, doubling up to 30 s; back to 0.5 s for a process
    that had stayed up a minute (a crash now and then is not a crash loop)."""

    first_s: float = 0.5
    cap_s: float = 30.0
    reset_after_s: float = 60.0

    def after(self, previous_s: float, up_s: float) -> float:
        """The next delay, after `previous_s` (0 for none) and a run of `up_s` seconds."""
        if previous_s == 0 or up_s >= self.reset_after_s:
            return self.first_s
        return min(previous_s * 2, self.cap_s)


class Supervisor:
    """Restarts the given processes from start() until stop() (or as a context manager)."""

    def __init__(
        self,
        processes: Iterable[SubprocessServer],
        backoff: Backoff = Backoff(),
        poll_s: float = 0.1,
    ) -> None:
        self.processes = list(processes)
        self.backoff = backoff
        self.poll_s = poll_s
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> Supervisor:
        self._stopping.clear()
        self._threads = [
            threading.Thread(target=self._watch, args=(p,), name=f"supervise {p.name}", daemon=True)
            for p in self.processes
        ]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        """No restart after this returns (one under way is finished first)."""
        self._stopping.set()
        for thread in self._threads:
            thread.join()
        self._threads = []

    def __enter__(self) -> Supervisor:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _watch(self, process: SubprocessServer) -> None:
        delay = 0.0
        while not self._stopping.wait(self.poll_s):
            if (ended := process.take_unexpected_exit()) is None:
                continue
            delay = self.backoff.after(delay, ended.up_s)
            number = process.restarts + 1
            _tell(process, f"{ended}; restart {number} in {delay:.1f} s")
            while not self._stopping.wait(delay):
                try:
                    if process.start_again():
                        _tell(process, f"is ready again (restart {number})")
                    break
                except ServerStartError as exc:
                    delay = self.backoff.after(delay, 0.0)
                    reason = str(exc).splitlines()[0]
                    _tell(process, f"did not start again ({reason}); next try in {delay:.1f} s")


def _tell(process: SubprocessServer, what: str) -> None:
    line = f"supervisor: {process.name} {what}"
    log.warning(line)
    process.note(line)
