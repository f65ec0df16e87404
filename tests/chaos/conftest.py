"""A platform of the chaos suite's own (servers and services in its own data directory,
so killing them never touches the session's), and the table of figures printed at the end."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from atelier.stack.platform import Platform
from atelier.stack.servers import EmbeddedServers
from tests.chaos.figures import FIGURES, table


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[EmbeddedServers, Platform]]:
    """Embedded servers and every service, started for this module and killed at will."""
    data_dir = tmp_path_factory.mktemp("chaos")
    servers = EmbeddedServers(data_dir / "servers")
    servers.start()
    # A dead worker's job comes back after 6 s; users are not limited by the load itself.
    fast = {
        "ACK_WAIT_SECONDS": "6",
        "MAX_ACTIVE_JOBS_PER_USER": "100",
        "SUBMITS_PER_MINUTE_PER_USER": "1000",
    }
    platform = Platform(data_dir / "platform", os.environ, endpoints=servers.endpoints,
                        service_env=fast)  # fmt: skip
    try:
        with platform:
            yield servers, platform
    finally:
        servers.stop()


def pytest_terminal_summary(terminalreporter) -> None:
    if FIGURES:
        terminalreporter.section("chaos: faults and recoveries")
        terminalreporter.write_line(table(FIGURES))
