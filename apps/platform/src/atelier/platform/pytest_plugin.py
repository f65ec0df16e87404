"""The `platform` fixture: every service running as a child process, for the whole session,
on the servers of `atelier.stack.pytest_plugin`'s `servers` fixture."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest

from atelier.platform.local import Platform
from atelier.stack.servers import Endpoints


@pytest.fixture(scope="session")
def platform(servers: Endpoints, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    data_dir = tmp_path_factory.mktemp("platform")
    # Sweep expired assets every second, redeliver a dead worker's job after 6 s, send
    # heartbeats on idle event streams every 2 s, limit users to 5 active jobs (the `pro`
    # tier to 12) and 20 submits a minute, free a slot its gateway never used after 5 s:
    # all observable within a test.
    fast = {
        "SWEEP_INTERVAL_SECONDS": "1",
        "ACK_WAIT_SECONDS": "6",
        "SSE_HEARTBEAT_SECONDS": "2",
        "MAX_ACTIVE_JOBS_PER_USER": "5",
        "SUBMITS_PER_MINUTE_PER_USER": "20",
        "ACTIVE_JOBS_RECONCILE_SECONDS": "1",
        "ADMISSION_GRACE_SECONDS": "5",
        # webhook attempts time out after 2 s and the retry schedule runs 100 times faster
        # (5 s → 0.05 s, the day → 14.4 min)
        "WEBHOOK_TIMEOUT_SECONDS": "2",
        "WEBHOOK_RETRY_SCALE": "0.01",
        "WEBHOOK_POLL_SECONDS": "0.2",
        # `trial` and `metered` users use up their daily quotas within a test
        "TIERS": json.dumps(
            {
                "free": {"weight": 1},
                "pro": {"weight": 4, "max_active_jobs": 12},
                "trial": {"weight": 1, "jobs_per_day": 2},
                "metered": {"weight": 1, "gpu_seconds_per_day": 0.001},
            }
        ),
    }
    with Platform(data_dir, os.environ, endpoints=servers, service_env=fast) as running:
        yield running
        crashed = {s.name: str(s.last_exit) for s in running.services.values() if s.last_exit}
    # The supervisor restarts a service that dies; a test run must still hear of it.
    assert not crashed, f"services exited though nobody stopped them: {crashed}"
