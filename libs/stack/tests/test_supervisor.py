"""The supervisor of the services, on a stand-in service: `python -m http.server` serving a
file named readyz (no NATS, database or S3 needed)."""

from __future__ import annotations

import logging
import os
import re
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from atelier.stack.servers.process import Exit
from atelier.stack.services import HOST, ServiceProcess
from atelier.stack.supervisor import Backoff, Supervisor

#: Short delays, doubling: 0.1 s, 0.2 s, 0.4 s, then 0.4 s again.
QUICK = Backoff(first_s=0.1, cap_s=0.4, reset_after_s=60.0)


class StaticService(ServiceProcess):
    """A ServiceProcess that is ready while its directory has a file named readyz."""

    start_timeout = 5.0

    def __init__(self, data_dir: Path) -> None:
        super().__init__("static", "http.server", data_dir, {}, "PORT")
        self.www = self.data_dir / "www"
        self.www.mkdir(parents=True, exist_ok=True)
        self.ready_file = self.www / "readyz"
        self.ready_file.write_text("ok")

    def command(self) -> list[str]:
        return [sys.executable, "-m", "http.server", "--bind", HOST, "--directory",
                str(self.www), str(self.port)]  # fmt: skip


@pytest.fixture
def service(tmp_path: Path) -> Iterator[StaticService]:
    service = StaticService(tmp_path)
    service.start()
    with Supervisor([service], QUICK, poll_s=0.02):
        yield service
    service.stop()


def kill_9(service: StaticService) -> float:
    """SIGKILL its process group behind its back, as the OOM killer or a crash would."""
    assert service.pid is not None
    killed = time.monotonic()
    os.killpg(service.pid, signal.SIGKILL)
    return killed


def told(service: StaticService) -> list[str]:
    return re.findall(r"supervisor: static .*", service.log_path.read_text())


def wait_told(service: StaticService, what: str, timeout: float = 30) -> list[str]:
    """The supervisor's lines in the log, once one of them contains `what`."""
    deadline = time.monotonic() + timeout
    while not any(what in line for line in told(service)):
        assert time.monotonic() < deadline, told(service)
        time.sleep(0.02)
    return told(service)


def test_a_killed_service_is_started_again_and_the_restart_is_told(service, caplog) -> None:
    caplog.set_level(logging.WARNING, "atelier.stack.supervisor")
    first_pid = service.pid
    killed = kill_9(service)
    restarted_at = service.wait_restarted(0, timeout=30)
    assert restarted_at - killed >= QUICK.first_s
    assert service.running
    assert service.pid != first_pid
    service.probe()
    assert service.restarts == 1
    assert service.last_exit is not None
    assert service.last_exit.status == -signal.SIGKILL
    lines = wait_told(service, "ready again")
    assert re.fullmatch(r"supervisor: static was killed by SIGKILL after [\d.]+ s up; "
                        r"restart 1 in 0\.1 s", lines[0])  # fmt: skip
    assert lines[1:] == ["supervisor: static is ready again (restart 1)"]
    assert [r.getMessage() for r in caplog.records if r.name == "atelier.stack.supervisor"] == lines


def test_the_delay_doubles_with_each_exit_in_a_row(service) -> None:
    for restarts in range(4):
        killed = kill_9(service)
        assert service.wait_restarted(restarts, timeout=30) - killed >= 0.1 * 2 ** min(restarts, 2)
    delays = re.findall(r"restart \d in ([\d.]+) s", "\n".join(told(service)))
    assert delays == ["0.1", "0.2", "0.4", "0.4"]


def test_stop_and_kill_are_not_undone_but_a_later_start_is_supervised(service) -> None:
    service.stop()
    time.sleep(0.5)  # poll interval + first delay, several times over
    assert not service.running
    service.start()
    service.kill()  # as the chaos suite's restart() does, before it starts it itself
    time.sleep(0.5)
    assert not service.running
    assert service.restarts == 0
    assert told(service) == []
    service.start()
    kill_9(service)
    service.wait_restarted(0, timeout=30)
    assert service.running


def test_a_restart_that_does_not_start_is_tried_again_later(service) -> None:
    service.start_timeout = 1.0
    service.ready_file.unlink()
    kill_9(service)
    wait_told(service, "did not start again")
    service.ready_file.write_text("ok")
    service.wait_restarted(0, timeout=30)
    lines = wait_told(service, "ready again")
    assert re.search(r"did not start again \(static was not ready after 1 s .*\); "
                     r"next try in 0\.2 s", lines[1]), lines  # fmt: skip
    assert lines[-1] == "supervisor: static is ready again (restart 1)"


def test_the_backoff_resets_after_a_long_run() -> None:
    assert QUICK.after(0.0, up_s=0.0) == 0.1
    assert QUICK.after(0.2, up_s=59.0) == 0.4
    assert QUICK.after(0.4, up_s=59.0) == 0.4
    assert QUICK.after(0.4, up_s=60.0) == 0.1


def test_an_exit_says_how_it_ended() -> None:
    assert str(Exit(3, 2.0)) == "exited with code 3 after 2.0 s up"
    assert str(Exit(-signal.SIGKILL, 0.5)) == "was killed by SIGKILL after 0.5 s up"
    assert str(Exit(-200, 1.0)) == "was killed by signal 200 after 1.0 s up"
