"""The scheduler's fold and decisions, with no servers: events in, decisions out."""

import uuid

from atelier.contracts import examples
from atelier.contracts.generation import (
    GenerationCancelled,
    GenerationCancelledData,
    GenerationCancelRequested,
    GenerationCancelRequestedData,
    GenerationStarted,
    GenerationStartedData,
)
from atelier.contracts.scheduling import DEFAULT_TIERS, TierPolicy
from atelier.scheduler.state import CancelWaiting, Dispatch, SchedulerState

A, B = uuid.uuid4(), uuid.uuid4()


class Log:
    """A log in memory: events get sequences; a state folds them as the scheduler does."""

    def __init__(self) -> None:
        self.events = []

    def append(self, event):
        self.events.append(event)
        return event

    def fold(self, state: SchedulerState) -> SchedulerState:
        for sequence, event in enumerate(self.events, start=1):
            if sequence > state.sequence:
                state.apply(event, sequence)
        return state


def started(request) -> GenerationStarted:
    data = GenerationStartedData(
        job_id=request.data.job_id, model=request.data.model, worker_id="w", attempt=1
    )
    return GenerationStarted.create(source="gpu-sdxl", user_id=request.user_id, data=data)


def dispatched_jobs(decisions) -> list[uuid.UUID]:
    return [d.job.request.data.job_id for d in decisions if isinstance(d, Dispatch)]


def run(log: Log, state: SchedulerState, slots: int) -> list[uuid.UUID]:
    """Decide, append what was decided, fold it back: the jobs dispatched."""
    decisions = state.decide({"sdxl": slots})
    for decision in decisions:
        log.append(examples.dispatched(decision.job.request))
    log.fold(state)
    return dispatched_jobs(decisions)


def test_only_as_many_jobs_go_out_as_the_workers_hold_and_the_fair_order_holds():
    log, state = Log(), SchedulerState(DEFAULT_TIERS)
    a_jobs = [log.append(examples.requested(A, steps=2)) for _ in range(8)]
    log.fold(state)
    assert run(log, state, slots=1) == [a_jobs[0].data.job_id]
    assert run(log, state, slots=1) == []  # the worker is busy
    b_job = log.append(examples.requested(B, steps=2))
    log.fold(state)
    # A's first job was handed out and has not started: it starts first
    assert state.position(a_jobs[0].data.job_id) == 0
    assert state.position(b_job.data.job_id) == 1
    assert state.position(a_jobs[1].data.job_id) == 2
    log.append(started(a_jobs[0]))
    log.fold(state)
    assert state.position(a_jobs[0].data.job_id) is None
    assert state.position(b_job.data.job_id) == 0
    log.append(examples.completed(causation=a_jobs[0]))
    log.fold(state)
    assert run(log, state, slots=1) == [b_job.data.job_id]


def test_a_pending_decision_is_not_made_twice():
    log, state = Log(), SchedulerState(DEFAULT_TIERS)
    request = log.append(examples.requested(A))
    log.fold(state)
    assert dispatched_jobs(state.decide({"sdxl": 4})) == [request.data.job_id]
    assert state.decide({"sdxl": 4}) == []  # not read back yet: still pending
    state.undecided(request.data.job_id)  # the append was refused
    assert dispatched_jobs(state.decide({"sdxl": 4})) == [request.data.job_id]


def test_a_job_cancelled_while_it_waits_is_ended_by_the_scheduler_and_never_dispatched():
    log, state = Log(), SchedulerState(DEFAULT_TIERS)
    request = log.append(examples.requested(A))
    data = GenerationCancelRequestedData(job_id=request.data.job_id, model="sdxl")
    log.append(GenerationCancelRequested.create(source="gateway", user_id=A, data=data))
    log.fold(state)
    decisions = state.decide({"sdxl": 4})
    assert [type(d) for d in decisions] == [CancelWaiting]
    assert decisions[0].job.last_sequence == 2  # appended only if nothing came since
    ended = GenerationCancelledData(job_id=request.data.job_id, model="sdxl")
    log.append(GenerationCancelled.create(source="scheduler", user_id=A, data=ended))
    log.fold(state)
    assert state.jobs == {}
    assert state.decide({"sdxl": 4}) == []


def test_a_tier_cap_holds_a_users_jobs_back_and_lets_others_through():
    tiers = {"free": TierPolicy(weight=1, max_running=1), "pro": TierPolicy(weight=1)}
    log, state = Log(), SchedulerState(tiers)
    a_jobs = [log.append(examples.requested(A)) for _ in range(3)]
    b_job = log.append(examples.requested(B))
    log.fold(state)
    assert run(log, state, slots=4) == [a_jobs[0].data.job_id, b_job.data.job_id]


def test_a_job_started_before_the_scheduler_existed_counts_as_running():
    log, state = Log(), SchedulerState(DEFAULT_TIERS)
    request = log.append(examples.requested(A))
    log.append(started(request))
    log.fold(state)
    assert state.running("sdxl") == 1
    assert state.decide({"sdxl": 1}) == []


def test_replaying_the_log_gives_the_same_order_as_living_through_it():
    log, live = Log(), SchedulerState(DEFAULT_TIERS)
    for round_ in range(4):
        for user in (A, B) if round_ % 2 else (B, A):
            log.append(examples.requested(user, steps=2 + round_))
        log.fold(live)
        run(log, live, slots=1)
        for event in list(log.events):
            if event.type == "generation.dispatched" and event.data.job_id in live.jobs:
                log.append(examples.completed(causation=live.jobs[event.data.job_id].request))
        log.fold(live)
    replayed = log.fold(SchedulerState(DEFAULT_TIERS))
    live_order = [w.job_id for w in live.queue("sdxl").in_order()]
    assert live_order == [w.job_id for w in replayed.queue("sdxl").in_order()]
    assert live.queue("sdxl").virtual_time == replayed.queue("sdxl").virtual_time


def test_an_unknown_tier_counts_as_the_default_one():
    log, state = Log(), SchedulerState(DEFAULT_TIERS)
    request = examples.requested(A)
    request = request.model_copy(update={"data": request.data.model_copy(update={"tier": "gold"})})
    log.append(request)
    log.fold(state)
    assert state.jobs[request.data.job_id].tier == "free"
