"""A platform of the chaos suite's own (servers and services in its own data directory,
so killing them never touches the session's; its NATS connections through a proxy that
can cut them), and the table of figures printed at the end."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace

import pytest

from atelier.platform.local import Platform
from atelier.stack.servers import EmbeddedServers
from atelier.stack.servers.proxy import CuttingProxy
from tests.chaos.faults import Stack
from tests.chaos.figures import CLUSTER_FIGURES, FIGURES, table


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Embedded servers and every service, started for this module and killed at will;
    every NATS connection goes through a proxy that a fault can cut."""
    data_dir = tmp_path_factory.mktemp("chaos")
    servers = EmbeddedServers(data_dir / "servers")
    servers.start()
    endpoints = servers.endpoints
    proxy = CuttingProxy.in_front_of(endpoints.nats_url).start()
    through_proxy = replace(
        endpoints,
        nats_url=proxy.url(endpoints.nats_url),
        nats_identity_urls={i: proxy.url(u) for i, u in endpoints.nats_identity_urls.items()},
    )
    # A dead worker's job comes back after 6 s; users are not limited by the load itself.
    fast = {
        "ACK_WAIT_SECONDS": "6",
        "MAX_ACTIVE_JOBS_PER_USER": "100",
        "SUBMITS_PER_MINUTE_PER_USER": "1000",
        # webhook retries 100 times faster (5 s → 0.05 s), attempts cut after 2 s
        "WEBHOOK_RETRY_SCALE": "0.01",
        "WEBHOOK_TIMEOUT_SECONDS": "2",
    }
    platform = Platform(data_dir / "platform", os.environ, endpoints=through_proxy,
                        service_env=fast)  # fmt: skip
    try:
        with platform:
            yield Stack(servers, platform, proxy)
    finally:
        proxy.stop()
        servers.stop()


def pytest_terminal_summary(terminalreporter) -> None:
    if FIGURES:
        terminalreporter.section("chaos: faults and recoveries")
        terminalreporter.write_line(table(FIGURES))
    if CLUSTER_FIGURES:
        terminalreporter.section("chaos on a NATS cluster: faults and recoveries")
        terminalreporter.write_line(table(CLUSTER_FIGURES))
