"""One way to run a server as a child process: start, wait for a real probe, stop, kill.

Each server runs in its own session (process group), so `kill()` takes its children with it
and a Ctrl-C in the terminal reaches only the parent, which then stops the servers in order.
Its output goes to DATA/logs/NAME.log; its pid to DATA/run/NAME.pid, so a server left behind
by a parent that died is found and stopped before the next start on the same data directory.

A server is *wanted* from start() until stop() or kill(); an exit while it is wanted was
asked for by nobody, and `take_unexpected_exit` and `start_again` let a supervisor (see
atelier.stack.supervisor) start it again without racing a deliberate stop or start.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import subprocess
import sys
import sysconfig
import threading
import time
import weakref
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from .base import ServerStartError

_live: weakref.WeakSet[SubprocessServer] = weakref.WeakSet()


@atexit.register
def _stop_all_at_exit() -> None:
    for server in list(_live):
        with contextlib.suppress(Exception):
            server.stop()


def find_binary(name: str, *, accept: Callable[[Path], bool] = lambda _: True) -> Path:
    """The executable `name` from this interpreter's environment first, then from PATH.

    `accept` can refuse a candidate (e.g. a system binary of too old a version).
    """
    dirs = [Path(sys.executable).parent, Path(sysconfig.get_path("scripts"))]
    dirs += [Path(p) for p in os.environ.get("PATH", "").split(os.pathsep) if p]
    seen: list[str] = []
    for directory in dirs:
        candidate = directory / name
        if str(candidate) in seen or not os.access(candidate, os.X_OK):
            continue
        seen.append(str(candidate))
        if accept(candidate):
            return candidate
    refused = f" (refused: {', '.join(seen)})" if seen else ""
    raise FileNotFoundError(f"no usable {name!r} found in {dirs[0]} or on PATH{refused}")


def log_tail(path: Path, lines: int = 25) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 16384))
            text = f.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return "(no log file)"
    return "\n".join(text.splitlines()[-lines:])


def wait_until_ready(
    probe: Callable[[], object],
    *,
    what: str,
    timeout: float,
    alive: Callable[[], int | None] = lambda: None,
    log_path: Path | None = None,
) -> None:
    """Call `probe` until it returns without raising; ServerStartError on timeout or exit.

    `alive` returns the exit code of a process that has died (None while it runs).
    """
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        code = alive()
        if code is not None:
            raise _start_error(f"{what} exited with code {code} while starting", log_path)
        try:
            probe()
            return
        except Exception as exc:  # any failure of the probe means "not ready yet"
            last_error = exc
        if time.monotonic() > deadline:
            msg = f"{what} was not ready after {timeout:.0f} s (last probe: {last_error!r})"
            raise _start_error(msg, log_path)
        time.sleep(0.05)


def _start_error(message: str, log_path: Path | None) -> ServerStartError:
    if log_path is None:
        return ServerStartError(message)
    return ServerStartError(f"{message}\n--- last lines of {log_path} ---\n{log_tail(log_path)}")


@dataclass(frozen=True)
class Exit:
    """How a process ended on its own, and how long it had been up (ready) before."""

    #: Popen.returncode: the exit code, or minus the signal that killed it
    status: int
    up_s: float

    def __str__(self) -> str:
        if self.status >= 0:
            how = f"exited with code {self.status}"
        else:
            try:
                how = f"was killed by {signal.Signals(-self.status).name}"
            except ValueError:
                how = f"was killed by signal {-self.status}"
        return f"{how} after {self.up_s:.1f} s up"


class SubprocessServer(ABC):
    """Base of the embedded servers. Subclasses give `name`, `command()` and `probe()`."""

    name: str = "server"
    #: the signal for a graceful stop
    stop_signal: signal.Signals = signal.SIGTERM
    start_timeout: float = 30.0
    stop_timeout: float = 15.0

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.log_path = self.data_dir / "logs" / f"{self.name}.log"
        self.pid_path = self.data_dir / "run" / f"{self.name}.pid"
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.RLock()
        self._wanted = False
        self._up_since = 0.0
        #: Restarts after an exit nobody asked for, when the last one began (monotonic
        #: clock), and how the process last ended on its own.
        self.restarts = 0
        self.restarted_at: float | None = None
        self.last_exit: Exit | None = None
        self._restarted = threading.Condition()

    # -- what a subclass provides -------------------------------------------------------

    def prepare(self) -> None:  # noqa: B027 — an optional hook
        """Before each start: choose ports, write config files, initialise data."""

    @abstractmethod
    def command(self) -> Sequence[str]:
        """The argv that runs the server in the foreground."""

    def popen_kwargs(self) -> dict[str, Any]:
        """Extra subprocess.Popen arguments (env, user, cwd)."""
        return {}

    @abstractmethod
    def probe(self) -> None:
        """Raise unless the server answers its protocol."""

    def after_ready(self) -> None:  # noqa: B027 — an optional hook
        """After the first successful probe (e.g. create a database)."""

    def after_exit(self) -> None:  # noqa: B027 — an optional hook
        """After the process has gone, however it went (e.g. remove stale files)."""

    # -- the Server protocol -------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self.running and self._proc else None

    def start(self) -> None:
        with self._lock:
            self._wanted = True
            if not self.running:
                self._launch()

    def _launch(self) -> None:
        """Start the process and wait until it is ready (with the lock held)."""
        for sub in ("logs", "run"):
            (self.data_dir / sub).mkdir(parents=True, exist_ok=True)
        self._stop_leftover()
        for attempt in range(3):
            try:
                return self._start_once()
            except ServerStartError as exc:
                # another process took a port between our check and the server's bind
                if attempt == 2 or "address already in use" not in str(exc).lower():
                    raise
                self.note("a port was taken meanwhile; starting again")

    def _start_once(self) -> None:
        self.prepare()
        argv = [str(a) for a in self.command()]
        with open(self.log_path, "ab") as log:
            log.write(f"\n=== {time.strftime('%F %T')} starting: {' '.join(argv)}\n".encode())
            log.flush()
            self._proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                **self.popen_kwargs(),
            )
        self.pid_path.write_text(f"{self._proc.pid}\n")
        _live.add(self)
        try:
            wait_until_ready(
                self.probe,
                what=self.name,
                timeout=self.start_timeout,
                alive=self._proc.poll,
                log_path=self.log_path,
            )
            self.after_ready()
        except BaseException:
            self._finish(self._proc)  # not kill(): it is still wanted
            raise
        self._up_since = time.monotonic()

    def stop(self) -> None:
        with self._lock:
            self._wanted = False
            proc = self._proc
            if proc is not None and proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, self.stop_signal)
                try:
                    proc.wait(self.stop_timeout)
                except subprocess.TimeoutExpired:
                    self.note(f"did not stop within {self.stop_timeout:.0f} s, killing it")
            self._finish(proc)

    def kill(self) -> None:
        with self._lock:
            self._wanted = False
            self._finish(self._proc)

    # -- supervision ----------------------------------------------------------------------

    def take_unexpected_exit(self) -> Exit | None:
        """If its process has exited though nobody stopped or killed it (both forget the
        process), clear up after it (what is left of its group, its pid file) and say how it
        ended. It stays wanted, for `start_again`."""
        with self._lock:
            proc = self._proc
            if proc is None or proc.poll() is None:
                return None
            self.last_exit = Exit(proc.returncode, time.monotonic() - self._up_since)
            self._finish(proc)
            return self.last_exit

    def start_again(self) -> bool:
        """Start it again unless stop(), kill() or start() came since it exited (False then);
        counted once it is ready. ServerStartError if it does not start."""
        with self._lock:
            if not self._wanted or self.running:
                return False
            began = time.monotonic()
            self._launch()
        with self._restarted:
            self.restarts += 1
            self.restarted_at = began
            self._restarted.notify_all()
        return True

    def wait_restarted(self, after: int, timeout: float) -> float:
        """Until it has been restarted more than `after` times and is ready again; when
        that restart began. TimeoutError if it has not within `timeout` seconds."""
        with self._restarted:
            if not self._restarted.wait_for(lambda: self.restarts > after, timeout):
                raise TimeoutError(
                    f"{self.name} was not restarted within {timeout:.0f} s "
                    f"(restarts: {self.restarts}, last exit: {self.last_exit})"
                )
            assert self.restarted_at is not None
            return self.restarted_at

    # -- plumbing -------------------------------------------------------------------------

    def _finish(self, proc: subprocess.Popen[bytes] | None) -> None:
        """SIGKILL whatever is left of the process group, wait for all of it, forget it."""
        if proc is not None:
            members = _descendants(proc.pid) if proc.poll() is None else []
            if members or proc.poll() is None or _group_alive(proc.pid):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            # e.g. postgres backends: a restart must not find them still holding shared memory
            _wait_gone(members, timeout=10)
        self._proc = None
        _live.discard(self)
        self.pid_path.unlink(missing_ok=True)
        self.after_exit()

    def _stop_leftover(self) -> None:
        """Stop a server of this data directory left running by a parent that died."""
        try:
            pid = int(self.pid_path.read_text().strip())
            process = psutil.Process(pid)
            cmdline = " ".join(process.cmdline())
        except (FileNotFoundError, ValueError, psutil.Error):
            return
        if str(self.data_dir) not in cmdline:
            return
        self.note(f"stopping pid {pid} left over from an earlier run")
        with contextlib.suppress(psutil.Error):
            process.send_signal(self.stop_signal)
            process.wait(self.stop_timeout)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(psutil.Error):
            process.wait(5)

    def note(self, message: str) -> None:
        """A line of our own in its log."""
        with contextlib.suppress(OSError), open(self.log_path, "a") as log:
            log.write(f"=== {time.strftime('%F %T')} {message}\n")


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def _wait_gone(processes: list[psutil.Process], timeout: float) -> None:
    """Until each process has exited (a zombie counts: it holds nothing any more)."""

    def alive(process: psutil.Process) -> bool:
        try:
            return process.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False

    deadline = time.monotonic() + timeout
    while any(alive(p) for p in processes) and time.monotonic() < deadline:
        time.sleep(0.02)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True
