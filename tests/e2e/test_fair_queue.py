"""The fair queue as users meet it, on the dev stack's one SDXL worker: a user who queues a
batch of jobs does not make the next user wait for all of it, a job waiting in the queue
knows its place and leaves it when cancelled, every job is dispatched once and ends once,
also when the dispatching scheduler replica is killed."""

import asyncio
import os
import signal
import uuid

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from atelier.contracts import subjects
from atelier.contracts.streams import EVENTS
from atelier.platform.local import SERVICES
from atelier.stack.services import ServiceProcess
from tests.helpers import bus, client, eventually, outcome

pytestmark = pytest.mark.e2e

#: Heavy enough that a call of A's jobs is still running when B arrives (some seconds).
A_JOB = {"model": "sdxl", "prompt": "a lighthouse", "width": 64, "height": 64, "steps": 80}
#: Another size: B's job never shares a call with A's, so its start is its own.
B_JOB = A_JOB | {"width": 72, "steps": 2}


async def test_a_user_queueing_after_a_batch_starts_no_later_than_the_second_job(platform):
    a, b = uuid.uuid4(), uuid.uuid4()
    # A is on the `pro` tier here for its cap of jobs at once (12; the free tier's is 5),
    # and B on the free one: A's larger weight does not let a batch hold B back either.
    async with client(platform, a, tier="pro") as api_a, client(platform, b) as api_b:
        a_jobs = []
        for _ in range(8):
            response = await api_a.post("/v1/generations", json=A_JOB)
            assert response.status_code == 202, response.text
            a_jobs.append(response.json()["job_id"])

        async def a_running():
            body = (await api_a.get(f"/v1/generations/{a_jobs[0]}")).json()
            return body["status"] == "running"

        await eventually(a_running)
        b_job = (await api_b.post("/v1/generations", json=B_JOB)).json()["job_id"]
        b_status = (await api_b.get(f"/v1/generations/{b_job}")).json()
        if b_status["status"] == "queued" and b_status["queue_position"]:
            # Only jobs already handed to the worker go before it (one, as a rule: handed
            # out as A's call began; more on a very loaded machine), never a waiting one.
            async with client(platform, roles=["atelier-admin"]) as admin:
                (sdxl,) = (await admin.get("/v1/admin/queue", params={"model": "sdxl"})).json()[
                    "models"
                ]
            line = [(job["job_id"], job["state"]) for job in sdxl["jobs"]]
            if (b_job, "waiting") in line:
                ahead = {state for _, state in line[: line.index((b_job, "waiting"))]}
                assert ahead <= {"running", "dispatched"}, line

        assert (await outcome(platform, b, b_job)).name == "completed"
        ended = [await outcome(platform, a, job, timeout=300) for job in a_jobs]
        assert [event.name for event in ended] == ["completed"] * 8

    events = await bus(platform)
    try:
        timeline = {}  # (tag, event name) -> its sequence on the log
        jobs = [(a, f"A{n}", job) for n, job in enumerate(a_jobs, 1)] + [(b, "B", b_job)]
        for user, tag, job in jobs:
            history = subjects.generation_history(user, uuid.UUID(job))
            info = await events.js.stream_info(EVENTS.name, subjects_filter=history)
            counts = {s.rsplit(".", 1)[1]: n for s, n in (info.state.subjects or {}).items()}
            assert counts["dispatched"] == 1, (tag, counts)  # each job dispatched once
            for name in counts:
                subject = subjects.generation(user, "sdxl", uuid.UUID(job), name)
                timeline[tag, name] = (await events.js.get_last_msg(EVENTS.name, subject)).seq
        b_arrived, b_started = timeline["B", "requested"], timeline["B", "started"]
        a_before_b = [
            tag
            for (tag, name), seq in timeline.items()
            if name == "started" and tag != "B" and b_arrived < seq < b_started
        ]
        story = sorted((seq, tag, name) for (tag, name), seq in timeline.items())
        handed_out = [tag for tag in a_before_b if timeline[tag, "dispatched"] < b_arrived]
        assert len(a_before_b) <= max(1, len(handed_out)), story
        # and none of A's jobs handed out after B arrived started before it
        overtook = [
            tag
            for tag in a_before_b
            if timeline[tag, "dispatched"] > b_arrived and timeline[tag, "started"] < b_started
        ]
        assert overtook == [], story
    finally:
        await events.nc.close()


async def test_a_job_cancelled_while_it_waits_for_a_worker_leaves_the_queue(platform):
    user = uuid.uuid4()
    async with client(platform, user, tier="pro") as api:
        jobs = [(await api.post("/v1/generations", json=A_JOB)).json()["job_id"] for _ in range(9)]
        last = jobs[-1]
        body = (await api.get(f"/v1/generations/{last}")).json()
        assert body["status"] == "queued"
        assert body["queue_position"] is not None
        await api.post(f"/v1/generations/{last}/cancel")
        cancelled = await outcome(platform, user, last)
        assert cancelled.name == "cancelled"
        assert cancelled.data.at_step is None
        for job in jobs[:-1]:
            await api.post(f"/v1/generations/{job}/cancel")
        for job in jobs:
            await outcome(platform, user, job, timeout=300)
    events = await bus(platform)
    try:
        subject = subjects.generation(user, "sdxl", uuid.UUID(last), "dispatched")
        info = await events.js.stream_info(EVENTS.name, subjects_filter=subject)
        assert not info.state.subjects, "a cancelled job was dispatched after all"
    finally:
        await events.nc.close()


def _active(process: ServiceProcess) -> bool | None:
    """What the scheduler replica's /metrics says: whether it dispatches (None: no answer)."""
    try:
        text = httpx.get(f"{process.url}/metrics", timeout=5).text
    except httpx.HTTPError:
        return None
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "atelier_scheduler_active":
                return sample.value == 1
    return None


async def test_one_scheduler_replica_dispatches_and_another_takes_over_its_kill(platform):
    """Two replicas follow the log, one dispatches; kill -9 it while jobs wait, and the
    other dispatches them, each exactly once."""
    (spec,) = [spec for spec in SERVICES if spec.name == "scheduler"]
    second = ServiceProcess(
        "scheduler-2", spec.module, platform.data_dir, platform.env_of(spec), spec.port_env
    )
    first = platform.services["scheduler"]
    user = uuid.uuid4()
    try:
        # The second replica takes the lease while the first is away, then the first
        # comes back as the standby: the one to kill is the second.
        await asyncio.to_thread(first.stop)
        await asyncio.to_thread(second.start)
        assert await eventually(lambda: asyncio.to_thread(_active, second), timeout=30)
        await asyncio.to_thread(first.start)
        assert await asyncio.to_thread(_active, first) is False
        async with client(platform, user, tier="pro") as api:
            jobs = [
                (await api.post("/v1/generations", json=A_JOB | {"steps": 4})).json()["job_id"]
                for _ in range(8)
            ]
            os.killpg(second.pid, signal.SIGKILL)
            for job in jobs:
                assert (await outcome(platform, user, job, timeout=300)).name == "completed"
        assert await asyncio.to_thread(_active, first)
    finally:
        await asyncio.to_thread(second.kill)
    events = await bus(platform)
    try:
        for job in jobs:
            history = subjects.generation_history(user, uuid.UUID(job))
            info = await events.js.stream_info(EVENTS.name, subjects_filter=history)
            counts = {s.rsplit(".", 1)[1]: n for s, n in (info.state.subjects or {}).items()}
            assert counts["dispatched"] == 1, counts
    finally:
        await events.nc.close()
