"""The faults: kill -9 a service or a server and start it again, kill -9 a service and
leave it to its supervisor, kill a GPU worker in the middle of a job, pause a projection
until a backlog builds, cut every NATS connection again and again, append events that no
consumer can use.

Each fault returns once the process it hit runs again (`Recovery.restored_at`); the
test then times how long the platform takes to be whole again.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import asyncpg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from atelier.contracts import examples, subjects
from atelier.contracts.streams import EVENTS
from atelier.platform.local import Platform
from atelier.runtime.dead_letters import WHY
from atelier.stack.servers import EmbeddedServers
from atelier.stack.servers.process import SubprocessServer, log_tail
from atelier.stack.servers.proxy import CuttingProxy
from atelier.workspace.projection import WorkspaceProjection
from tests.chaos.load import SDXL, Load, job_events
from tests.helpers import bus, client, dead_lettered, eventually, outcome, readers_of

#: How long a killed process stays down: long enough for requests to meet the hole.
DOWNTIME_S = 1.5
#: How long the workspace service is paused while the load goes on.
PAUSE_S = 8.0
#: How long the supervisor may take to start a killed service again: its first delay
#: and a start (a GPU service loads its model) on a crowded machine.
SUPERVISED_RESTART_S = 180.0
#: How many times every NATS connection is reset, while the load goes on.
CUTS = 6
#: The last second of the calendar, where no later time fits (UTC is already year 10000).
END_OF_TIME = datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-14)))


@dataclass(frozen=True)
class Recovery:
    #: The process the fault hit (a server or a service).
    process: str
    #: time.monotonic() when the process was started again (or woken up).
    restored_at: float
    #: Seconds from the fault until then.
    down_s: float
    #: Events the workspace projection had to catch up on at that moment.
    backlog: int = 0


@dataclass(frozen=True)
class Stack:
    servers: EmbeddedServers
    platform: Platform
    #: Every NATS connection of the platform goes through it.
    nats_proxy: CuttingProxy


Fault = Callable[[Stack, Load], Awaitable[Recovery]]


async def restart(process: SubprocessServer) -> Recovery:
    """kill -9, stay down a moment, start again (same ports, same data)."""
    killed = time.monotonic()
    await asyncio.to_thread(process.kill)
    await asyncio.sleep(DOWNTIME_S)
    restarted = time.monotonic()
    await asyncio.to_thread(process.start)
    return Recovery(process.name, restarted, down_s=restarted - killed)


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
    async def fault(stack: Stack, load: Load) -> Recovery:
        return await restart(stack.platform.services[name])

    return fault


def kill_server(name: str) -> Fault:
    async def fault(stack: Stack, load: Load) -> Recovery:
        return await restart(getattr(stack.servers, name))

    return fault


def kill_supervised(name: str) -> Fault:
    """kill -9 the service's process group behind its back: only its supervisor (see
    atelier.stack.supervisor) starts it again."""

    async def fault(stack: Stack, load: Load) -> Recovery:
        service = stack.platform.services[name]
        restarts, pid = service.restarts, service.pid
        assert pid is not None, f"{name} is not running"
        killed = time.monotonic()
        os.killpg(pid, signal.SIGKILL)
        restored_at = await asyncio.to_thread(
            service.wait_restarted, restarts, SUPERVISED_RESTART_S
        )
        return Recovery(name, restored_at, down_s=restored_at - killed)

    return fault


def supervised_restarts(platform: Platform) -> dict[str, int]:
    """How often the supervisor has restarted each service so far."""
    return {name: service.restarts for name, service in platform.services.items()}


def restarted_since(platform: Platform, before: dict[str, int]) -> dict[str, int]:
    """The services the supervisor restarted since `before` (`supervised_restarts`), and
    how often."""
    now = supervised_restarts(platform)
    return {name: now[name] - n for name, n in before.items() if now[name] != n}


async def kill_worker_mid_job(stack: Stack, load: Load) -> Recovery:
    """A slow job of the load's user: kill -9 its worker at one of the job's first steps."""
    platform = stack.platform
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
        recovery = await restart(platform.services["gpu-sdxl"])
    finally:
        await sub.unsubscribe()
        await events.nc.close()
    ended = await outcome(platform, load.user, job, timeout=120)
    history = await job_events(platform, load.user, job)
    assert ended.name == "completed", history
    assert history["started"] == 2, f"the killed job was not run again: {history}"
    return recovery


async def pause_projection(stack: Stack, load: Load) -> Recovery:
    """SIGSTOP the workspace service while the load goes on, then SIGCONT."""
    platform = stack.platform
    pid = platform.services["workspace"].pid
    assert pid is not None
    paused = time.monotonic()
    os.kill(pid, signal.SIGSTOP)
    try:
        await asyncio.sleep(PAUSE_S)
    finally:
        os.kill(pid, signal.SIGCONT)
    woken = time.monotonic()
    backlog = await projection_backlog(platform)
    return Recovery("workspace", woken, down_s=woken - paused, backlog=backlog)


async def cut_connections(stack: Stack, load: Load) -> Recovery:
    """Reset every NATS connection of every service, again and again, while the load goes
    on and the servers stay up: what was in flight is lost to its reader (a projection
    notices the hole and reads again; a work consumer's message comes back)."""
    started = time.monotonic()
    for _ in range(CUTS):
        await asyncio.sleep(random.uniform(0.3, 1.2))
        await asyncio.to_thread(stack.nats_proxy.cut)
    restored = time.monotonic()
    return Recovery("nats connections", restored, down_s=restored - started)


async def append_poison(stack: Stack, load: Load) -> Recovery:
    """A compromised service appends, straight to the stream, events no consumer can use:
    a request with a NUL in its prompt (it does not decode), and completions whose times
    lie at the very end of the calendar (they decode, but the database refuses their rows).
    Each reader dead-letters what it cannot use, and everyone else's events go on."""
    platform, intruder = stack.platform, uuid.uuid4()
    request = examples.requested(intruder)
    nul = json.loads(request.model_dump_json())
    nul["data"]["spec"]["prompt"] = "a\u0000b"
    completed = examples.completed(intruder)
    late = completed.model_copy(update={"occurred_at": END_OF_TIME})
    expiring = examples.completed(intruder)
    expiring = expiring.model_copy(
        update={"data": expiring.data.model_copy(update={"expires_at": END_OF_TIME})}
    )
    poison = {
        request.subject: (json.dumps(nul).encode(), readers_of(request.subject)),
        late.subject: (late.model_dump_json().encode(), {WorkspaceProjection.name}),
        expiring.subject: (expiring.model_dump_json().encode(), {WorkspaceProjection.name}),
    }
    started = time.monotonic()
    events = await bus(platform)
    try:
        for subject, (payload, _) in poison.items():
            await events.js.publish(subject, payload, headers={"Nats-Msg-Id": subject})
    finally:
        await events.nc.close()
    wanted = {(reader, subject) for subject, (_, readers) in poison.items() for reader in readers}

    async def all_dead_lettered() -> bool:
        return wanted <= set(await dead_lettered(platform))

    await eventually(all_dead_lettered, timeout=60)
    found = await dead_lettered(platform)
    assert {found[key][WHY] for key in wanted if key[1] != request.subject} == {"unappliable"}
    done = time.monotonic()
    return Recovery("workspace", done, down_s=done - started)


async def projection_backlog(platform: Platform) -> int:
    """Events on the log that the workspace projection reads and has not applied yet."""
    conn = await asyncpg.connect(platform.settings().database_url)
    try:
        position = await conn.fetchval(
            "SELECT min(position) FROM workspace.projection_positions WHERE projection = $1",
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
       for name in ("workspace", "library", "scheduler", "gpu-sdxl", "gpu-wan", "gateway")},
    **{f"kill -9 {name}": kill_server(attr)
       for name, attr in (("nats-server", "nats"), ("postgres", "postgres"), ("s3", "s3"))},
    **{f"supervised: kill -9 {name}": kill_supervised(name)
       for name in ("workspace", "gateway", "scheduler", "gpu-sdxl")},
    "worker killed mid-job": kill_worker_mid_job,
    "projection paused": pause_projection,
    "nats connections cut": cut_connections,
    "poison on apply": append_poison,
}  # fmt: skip
