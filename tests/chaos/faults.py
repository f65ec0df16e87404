"""The faults: kill -9 a service or a server and start it again, kill a GPU worker in the
middle of a job, pause a projection until a backlog builds.

Each fault returns once the process it hit runs again (`Recovery.restored_at`); the
test then times how long the platform takes to be whole again.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from atelier.contracts import subjects
from atelier.contracts.streams import EVENTS
from atelier.stack.platform import Platform
from atelier.stack.servers import EmbeddedServers
from atelier.stack.servers.process import SubprocessServer, log_tail
from atelier.workspace.projection import WorkspaceProjection
from tests.chaos.load import SDXL, Load, job_events
from tests.helpers import bus, client, eventually, outcome

#: How long a killed process stays down: long enough for requests to meet the hole.
DOWNTIME_S = 1.5
#: How long the workspace service is paused while the load goes on.
PAUSE_S = 8.0


@dataclass(frozen=True)
class Recovery:
    #: The process the fault hit (a server or a service).
    process: str
    #: time.monotonic() when the process was started again (or woken up).
    restored_at: float
    #: Events the workspace projection had to catch up on at that moment.
    backlog: int = 0


Fault = Callable[[EmbeddedServers, Platform, Load], Awaitable[Recovery]]


async def restart(process: SubprocessServer) -> float:
    """kill -9, stay down a moment, start again (same ports, same data)."""
    await asyncio.to_thread(process.kill)
    await asyncio.sleep(DOWNTIME_S)
    restarted = time.monotonic()
    await asyncio.to_thread(process.start)
    return restarted


async def all_ready(platform: Platform, timeout: float = 120.0) -> set[str]:
    """Until every service answers /readyz; fail at once if one has died meanwhile.
    Returns the services that were not ready at first (they recovered)."""
    unready: set[str] = set()

    def ready(service) -> bool:
        if not service.running:
            raise AssertionError(
                f"{service.name} exited during the fault:\n{log_tail(service.log_path, 40)}"
            )
        try:
            service.probe()
        except Exception:
            unready.add(service.name)
            return False
        return True

    async def every() -> bool:
        return all([await asyncio.to_thread(ready, s) for s in platform.services.values()])

    await eventually(every, timeout=timeout, interval=0.25)
    return unready


def kill_service(name: str) -> Fault:
    async def fault(servers, platform, load) -> Recovery:
        return Recovery(name, await restart(platform.services[name]))

    return fault


def kill_server(name: str) -> Fault:
    async def fault(servers, platform, load) -> Recovery:
        return Recovery(name, await restart(getattr(servers, name)))

    return fault


async def kill_worker_mid_job(servers, platform, load) -> Recovery:
    """A slow job of the load's user: kill -9 its worker at one of the job's first steps."""
    events = await bus(platform)
    stepping = asyncio.Event()
    job = ""

    async def on_progress(msg) -> None:
        if job and msg.subject.endswith(job):  # not the progress of the load's own jobs
            stepping.set()

    sub = await events.nc.subscribe(subjects.user_progress(load.user), cb=on_progress)
    try:
        async with client(platform, load.user) as api:
            response = await api.post("/v1/generations", json=SDXL | {"steps": 12, "num_images": 1})
            assert response.status_code == 202, response.text
            job = response.json()["job_id"]
            load.accepted.append(job)
        await asyncio.wait_for(stepping.wait(), 120)
        restored_at = await restart(platform.services["gpu-sdxl"])
    finally:
        await sub.unsubscribe()
        await events.nc.close()
    ended = await outcome(platform, load.user, job, timeout=120)
    history = await job_events(platform, load.user, job)
    assert ended.name == "completed", history
    assert history["started"] == 2, f"the killed job was not run again: {history}"
    return Recovery("gpu-sdxl", restored_at)


async def pause_projection(servers, platform, load) -> Recovery:
    """SIGSTOP the workspace service while the load goes on, then SIGCONT."""
    pid = platform.services["workspace"].pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    try:
        await asyncio.sleep(PAUSE_S)
    finally:
        os.kill(pid, signal.SIGCONT)
    return Recovery("workspace", time.monotonic(), backlog=await projection_backlog(platform))


async def projection_backlog(platform: Platform) -> int:
    """Events on the log that the workspace projection reads and has not applied yet."""
    conn = await asyncpg.connect(platform.settings().database_url)
    try:
        position = await conn.fetchval(
            "SELECT position FROM workspace.projection_tracking WHERE projection = $1",
            WorkspaceProjection.name,
        )
    finally:
        await conn.close()
    events = await bus(platform)
    try:
        probe = await events.js.add_consumer(
            EVENTS.name,
            ConsumerConfig(
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                opt_start_seq=position + 1,
                ack_policy=AckPolicy.NONE,
                filter_subjects=list(WorkspaceProjection.subjects),
                inactive_threshold=5.0,
                mem_storage=True,
            ),
        )
        await events.js.delete_consumer(EVENTS.name, probe.name)
        return probe.num_pending
    finally:
        await events.nc.close()


FAULTS: dict[str, Fault] = {
    **{f"kill -9 {name}": kill_service(name)
       for name in ("workspace", "library", "gpu-sdxl", "gpu-wan", "gateway")},
    **{f"kill -9 {name}": kill_server(attr)
       for name, attr in (("nats-server", "nats"), ("postgres", "postgres"), ("s3", "s3"))},
    "worker killed mid-job": kill_worker_mid_job,
    "projection paused": pause_projection,
}  # fmt: skip
