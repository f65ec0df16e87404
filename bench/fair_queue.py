"""Fair queueing: how long each user waits for a GPU under the scheduler's start-time fair
queueing, against plain FIFO on the same arrivals and the same workers, in one run.

A deterministic discrete-event simulation in simulated time, driven by the scheduler's own
code: every event goes to a log in memory with increasing sequences and is folded into a
`SchedulerState` in log order; after each fold, and whenever a worker announces a free
slot, `decide()` is asked with the slots the workers announced, and each `Dispatch` is
appended as `generation.dispatched` and folded back, as `atelier.scheduler.dispatcher`
does. Simulated SDXL workers take the dispatched jobs one at a time, announce 1 slot
while idle and 0 while a call runs (as `atelier.inference.worker` does), append
`started`, run for a time proportional to the job's `estimated_cost` (a 1-image
1024x1024 25-step job: 3 s) and append `completed`. The baseline is the same harness with
a policy that hands the jobs out in arrival order (what the workers did when they
consumed the requests themselves). No servers, no network, no GPU: the live behaviour is
tested end to end in tests/e2e/test_fair_queue.py.

The workload (seeded, the same every run): a "batch" free user queues 40 heavy jobs
(6 images, 1024x1024, 40 steps) at t=0; 8 "interactive" free users each submit a small
job (1 image, 1024x1024, 25 steps) every 20-40 s for 10 minutes; a "pro" user (weight 4)
submits bursts of 3 medium jobs (2 images, 1024x1024, 30 steps) every 45-75 s for the
same 10 minutes. Then the queue drains.

Also the CPU cost of one `decide()` with 10,000 jobs waiting across 1,000 users.

    BENCH_FQ_WORKERS    simulated SDXL workers (default 2)
    BENCH_FQ_JOBS       jobs waiting for the decide() timing (default 10000)
    BENCH_FQ_USERS      their users (default 1000)

BENCH_QUICK=1: a 4-minute session, 16 batch jobs, 2,000 jobs waiting for the timing.
"""

from __future__ import annotations

import heapq
import random
import time
import uuid
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from atelier.contracts import examples
from atelier.contracts import generation as gen
from atelier.contracts.envelope import Envelope
from atelier.contracts.scheduling import DEFAULT_TIERS, estimated_cost
from atelier.scheduler.state import Decision, Dispatch, Job, SchedulerState
from bench import Record, Report, run_alone
from bench._platform import env_int, median, percentile, quick

MODEL = "sdxl"
SEED = 20260115
SIZE = {"width": 1024, "height": 1024}
SMALL = examples.spec(num_images=1, steps=25, **SIZE)
MEDIUM = examples.spec(num_images=2, steps=30, **SIZE)
HEAVY = examples.spec(num_images=6, steps=40, **SIZE)
#: Simulated seconds of GPU per unit of estimated cost: the small job takes 3 s.
SECONDS_PER_COST = 3.0 / estimated_cost(SMALL)
INTERACTIVE_USERS = 8
TARGET_P95_S = 30.0  # about one heavy job's service time
TARGET_DECIDE_MS = 50.0
CLASSES = ("interactive", "pro", "batch")


def service_seconds(spec: gen.GenerationSpec) -> float:
    return estimated_cost(spec) * SECONDS_PER_COST


def _uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def _request(
    rng: random.Random, user_id: uuid.UUID, tier: str, spec: gen.GenerationSpec
) -> gen.GenerationRequested:
    """A request as the gateway appends it (the spec resolved, the user's tier stamped)."""
    data = gen.GenerationRequestedData(job_id=_uuid(rng), model=MODEL, spec=spec, tier=tier)
    return gen.GenerationRequested.create(source="gateway", user_id=user_id, data=data)


# -- the workload ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Arrival:
    at: float
    user: str
    kind: str
    request: gen.GenerationRequested


def workload(session_s: float, batch_jobs: int, seed: int = SEED) -> list[Arrival]:
    """Every request of the run, in arrival order (ties in the order they were made)."""
    rng = random.Random(seed)
    arrivals: list[Arrival] = []

    def user(name: str, kind: str, tier: str) -> tuple[str, str, str, uuid.UUID]:
        return name, kind, tier, _uuid(rng)

    def submit(at: float, who: tuple[str, str, str, uuid.UUID], spec) -> None:
        name, kind, tier, user_id = who
        arrivals.append(Arrival(at, name, kind, _request(rng, user_id, tier, spec)))

    batch = user("batch", "batch", "free")
    for _ in range(batch_jobs):
        submit(0.0, batch, HEAVY)
    for index in range(INTERACTIVE_USERS):
        who = user(f"interactive-{index + 1}", "interactive", "free")
        at = rng.uniform(0.0, 30.0)
        while at < session_s:
            submit(at, who, SMALL)
            at += rng.uniform(20.0, 40.0)
    pro = user("pro", "pro", "pro")
    at = rng.uniform(30.0, 60.0)
    while at < session_s:
        for _ in range(3):
            submit(at, pro, MEDIUM)
        at += rng.uniform(45.0, 75.0)
    return sorted(arrivals, key=lambda arrival: arrival.at)  # stable


# -- the policies ---------------------------------------------------------------------------


class Fifo:
    """The baseline: the same fold-and-decide interface as `SchedulerState`, handing the
    jobs out in the order they arrived, with the same accounting of slots (announced,
    less the jobs handed out and not started)."""

    def __init__(self) -> None:
        self.waiting: dict[uuid.UUID, Job] = {}
        self.unstarted: set[uuid.UUID] = set()
        self.pending: set[uuid.UUID] = set()

    def apply(self, event: Envelope, sequence: int) -> None:
        if isinstance(event, gen.GenerationRequested):
            job = Job(event, event.data.tier or "free", sequence, event.occurred_at)
            self.waiting[event.data.job_id] = job
        elif isinstance(event, gen.GenerationDispatched):
            self.waiting.pop(event.data.job_id, None)
            self.pending.discard(event.data.job_id)
            self.unstarted.add(event.data.job_id)
        elif isinstance(event, gen.GenerationStarted):
            self.unstarted.discard(event.data.job_id)

    def decide(self, slots: Mapping[str, int]) -> list[Decision]:
        free = slots.get(MODEL, 0) - len(self.unstarted) - len(self.pending)
        decisions: list[Decision] = []
        for job_id, job in self.waiting.items():
            if free <= 0:
                break
            if job_id in self.pending:
                continue
            cost = estimated_cost(job.request.data.spec)
            decisions.append(Dispatch(job, cost, job.last_sequence))
            self.pending.add(job_id)
            free -= 1
        return decisions


# -- the simulation -------------------------------------------------------------------------


@dataclass
class Outcome:
    arrived: dict[uuid.UUID, float] = field(default_factory=dict)
    started: dict[uuid.UUID, float] = field(default_factory=dict)
    ended: dict[uuid.UUID, float] = field(default_factory=dict)
    makespan: float = 0.0
    #: Worker-seconds a worker sat idle while a job waited (0 for a work-conserving one).
    idle_while_waiting: float = 0.0
    decide_calls: int = 0
    events: int = 0

    def wait(self, job_id: uuid.UUID) -> float:
        return self.started[job_id] - self.arrived[job_id]


class Simulation:
    """The log, the scheduler's loop and the workers, in simulated time."""

    def __init__(self, policy: SchedulerState | Fifo, workers: int) -> None:
        self.policy = policy
        self.sequence = 0
        self.now = 0.0
        #: What each worker last announced (all warm from t=0: one slot each).
        self.announced = dict.fromkeys(range(workers), 1)
        self.running: dict[int, gen.GenerationRequested] = {}
        #: `generation.dispatched` on the model's work queue, not yet taken by a worker.
        self.consumer: deque[gen.GenerationDispatched] = deque()
        self.requests: dict[uuid.UUID, gen.GenerationRequested] = {}
        self.timeline: list[tuple[float, int, str, object]] = []
        self._ties = 0
        self.outcome = Outcome()

    def at(self, when: float, what: str, payload: object) -> None:
        self._ties += 1
        heapq.heappush(self.timeline, (when, self._ties, what, payload))

    def append(self, event: Envelope) -> None:
        """Append to the log and fold it, as the scheduler's reader does."""
        self.sequence += 1
        self.outcome.events += 1
        self.policy.apply(event, self.sequence)
        if isinstance(event, gen.GenerationDispatched):
            self.consumer.append(event)

    def settle(self) -> None:
        """Decide and let idle workers take jobs until nothing moves (all at `now`)."""
        while True:
            self.outcome.decide_calls += 1
            for decision in self.policy.decide({MODEL: sum(self.announced.values())}):
                if not isinstance(decision, Dispatch):
                    raise AssertionError(f"unexpected decision {decision!r}")
                job = decision.job
                self.append(examples.dispatched(job.request, tier=job.tier))
            took = False
            for worker in sorted(self.announced):
                if worker in self.running or not self.consumer:
                    continue
                dispatched = self.consumer.popleft()
                request = self.requests[dispatched.data.job_id]
                self.announced[worker] = 0  # busy, said before `started`
                self.running[worker] = request
                self.append(_started(request, worker))
                self.outcome.started[request.data.job_id] = self.now
                self.at(self.now + service_seconds(request.data.spec), "done", worker)
                took = True
            if not took:
                return

    def run(self, arrivals: Sequence[Arrival]) -> Outcome:
        for arrival in arrivals:
            self.at(arrival.at, "arrive", arrival.request)
        while self.timeline:
            when, _, what, payload = heapq.heappop(self.timeline)
            self._account_idle(when)
            self.now = when
            if what == "arrive":
                assert isinstance(payload, gen.GenerationRequested)
                self.requests[payload.data.job_id] = payload
                self.outcome.arrived[payload.data.job_id] = when
                self.append(payload)
                self.settle()
            else:
                assert isinstance(payload, int)
                request = self.running.pop(payload)
                self.append(examples.completed(causation=request))
                self.outcome.ended[request.data.job_id] = when
                self.outcome.makespan = when
                self.settle()  # the scheduler decides on the completion it read
                self.announced[payload] = 1  # idle again: announced at once
                self.settle()  # capacity grew: it decides again
        return self.outcome

    def _account_idle(self, until: float) -> None:
        waiting = len(self.requests) - len(self.outcome.started)
        idle = len(self.announced) - len(self.running)
        self.outcome.idle_while_waiting += min(waiting, idle) * (until - self.now)


def _started(request: gen.GenerationRequested, worker: int) -> gen.GenerationStarted:
    data = gen.GenerationStartedData(
        job_id=request.data.job_id, model=MODEL, worker_id=f"gpu-sdxl-{worker}", attempt=1
    )
    return gen.GenerationStarted.create(
        source="gpu-sdxl", user_id=request.user_id, data=data, causation=request
    )


# -- decide() at scale ----------------------------------------------------------------------


@dataclass
class DecideTiming:
    jobs: int
    users: int
    fold_s: float
    decide_s: list[float]
    idle_decide_s: list[float]
    position_s: list[float]


def decide_timing(jobs: int, users: int, runs: int = 15) -> DecideTiming:
    """`jobs` waiting across `users` (one in ten pro), 16 running, 2 free slots: the time
    of one `decide()` that hands out 2 jobs (its decisions then withdrawn, as after a
    refused append), of one with no free slot, and of one `position()` (a queue_position
    query) of the last job in line."""
    rng = random.Random(SEED + 1)
    people = [(_uuid(rng), "pro" if index % 10 == 0 else "free") for index in range(users)]
    specs = (SMALL, MEDIUM, HEAVY, examples.spec(num_images=4, steps=30, width=768, height=768))
    requests = [_request(rng, *rng.choice(people), rng.choice(specs)) for _ in range(jobs)]
    state = SchedulerState(DEFAULT_TIERS)
    started = time.perf_counter()
    for sequence, request in enumerate(requests, start=1):
        state.apply(request, sequence)
    fold_s = time.perf_counter() - started
    sequence = len(requests)
    for decision in state.decide({MODEL: 16}):  # 16 workers busy
        assert isinstance(decision, Dispatch)
        request = decision.job.request
        for event in (examples.dispatched(request, decision.job.tier), _started(request, 0)):
            sequence += 1
            state.apply(event, sequence)

    def timed(slots: int) -> list[float]:
        times = []
        for _ in range(runs):
            began = time.perf_counter()
            decisions = state.decide({MODEL: slots})
            times.append(time.perf_counter() - began)
            for decision in decisions:
                state.undecided(decision.job.request.data.job_id)
        return times

    decide_s, idle_decide_s = timed(2), timed(0)
    last = state.queue(MODEL).in_order()[-1].job_id
    position_s = []
    for _ in range(runs):
        began = time.perf_counter()
        state.position(last)
        position_s.append(time.perf_counter() - began)
    return DecideTiming(len(requests), users, fold_s, decide_s, idle_decide_s, position_s)


# -- the report -----------------------------------------------------------------------------


def _waits(outcome: Outcome, arrivals: Sequence[Arrival], keep) -> list[float]:
    return [outcome.wait(a.request.data.job_id) for a in arrivals if keep(a)]


def _cells(waits: list[float]) -> list[str]:
    return [f"{median(waits):.1f}", f"{percentile(waits, 95):.1f}", f"{max(waits):.1f}"]


def _ratio(fifo: float, fair: float) -> str:
    if fair <= 0:
        return "∞" if fifo > 0 else "1"
    return f"{fifo / fair:.2g}×"


def _table(groups, fair: Outcome, fifo: Outcome, arrivals: Sequence[Arrival]) -> list[str]:
    lines = [
        "| | jobs | fair p50 s | fair p95 s | fair max s | FIFO p50 s | FIFO p95 s "
        "| FIFO max s | p95 FIFO / fair |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for label, keep in groups:
        fair_waits = _waits(fair, arrivals, keep)
        fifo_waits = _waits(fifo, arrivals, keep)
        ratio = _ratio(percentile(fifo_waits, 95), percentile(fair_waits, 95))
        cells = [str(len(fair_waits)), *_cells(fair_waits), *_cells(fifo_waits), ratio]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def _render(
    arrivals: Sequence[Arrival],
    workers: int,
    session_s: float,
    fair: Outcome,
    fifo: Outcome,
    timing: DecideTiming,
    simulated_in: float,
) -> str:
    by_class = [
        (kind, lambda a, kind=kind: a.kind == kind)
        for kind in CLASSES
        if any(a.kind == kind for a in arrivals)
    ]
    by_class.append(("all", lambda a: True))
    users = sorted({a.user for a in arrivals})
    by_user = [(user, lambda a, user=user: a.user == user) for user in users]
    count = {kind: sum(a.kind == kind for a in arrivals) for kind in CLASSES}
    gpu_s = sum(service_seconds(a.request.data.spec) for a in arrivals)
    p95, fifo_p95 = (
        percentile(_waits(outcome, arrivals, lambda a: a.kind == "interactive"), 95)
        for outcome in (fair, fifo)
    )
    decide_ms = median(timing.decide_s) * 1000
    lines = [
        "A simulation in simulated time, driven by the scheduler's own code "
        "(`SchedulerState.apply` and `decide` on an in-memory log, each decision appended "
        "as `generation.dispatched` and folded back, as the service does), with simulated "
        f"workers: {workers} SDXL workers, one job at a time, announcing 1 slot while idle "
        "and 0 while busy; a job runs for its `estimated_cost` × "
        f"{SECONDS_PER_COST:.4f} s (small {service_seconds(SMALL):.1f} s, medium "
        f"{service_seconds(MEDIUM):.1f} s, heavy {service_seconds(HEAVY):.1f} s). The "
        "baseline is plain FIFO: the same workers, the same arrivals, jobs handed out in "
        "arrival order. Wait = the time a worker starts the job less the time it arrived. "
        "The live behaviour (NATS, the workers, a replica killed) is tested end to end in "
        "`tests/e2e/test_fair_queue.py`.",
        "",
        f"Workload (seed {SEED}): a batch user queues {count['batch']} heavy jobs at t=0; "
        f"{INTERACTIVE_USERS} interactive free users each submit a small job every 20-40 s "
        f"({count['interactive']} in all) and a pro user (weight "
        f"{DEFAULT_TIERS['pro'].weight:g}) bursts of 3 medium jobs every 45-75 s "
        f"({count['pro']} in all), for {session_s:.0f} s; then the queue drains. "
        f"{gpu_s:.0f} GPU-seconds of work in all, {gpu_s / workers:.0f} s per worker. "
        "The gateway's cap of jobs queued or running per user (MAX_ACTIVE_JOBS_PER_USER, "
        "10 by default, or the tier's `max_active_jobs`) is not simulated: the batch user "
        "is one allowed a deep queue, the case fair queueing is for.",
        "",
        "Per class of user, waiting time in simulated seconds:",
        "",
        *_table(by_class, fair, fifo, arrivals),
        "",
        "Per user:",
        "",
        *_table(by_user, fair, fifo, arrivals),
        "",
        "| | fair | FIFO |",
        "|---|---|---|",
        f"| makespan (last job ends), s | {fair.makespan:.1f} | {fifo.makespan:.1f} |",
        "| worker-seconds idle while a job waited | "
        f"{fair.idle_while_waiting:.1f} | {fifo.idle_while_waiting:.1f} |",
        f"| events on the log | {fair.events} | {fifo.events} |",
        f"| decide() calls | {fair.decide_calls} | {fifo.decide_calls} |",
        "",
        f"Both simulations took {simulated_in:.2f} s of real time.",
        "",
        f"Target: the interactive users' p95 wait < {TARGET_P95_S:g} s (about one heavy "
        "job's service time): "
        + ("met" if p95 < TARGET_P95_S else "**missed**")
        + f" ({p95:.1f} s; FIFO {fifo_p95:.1f} s). "
        "The batch user pays for it: its jobs wait longer, but its last one ends when "
        "it would have under FIFO, give or take one job (no GPU time is lost: the idle "
        "row above).",
        "",
        f"One `decide()` with {timing.jobs:,} jobs waiting across {timing.users:,} users "
        f"(16 running, 2 free slots; median of {len(timing.decide_s)} calls): "
        f"{decide_ms:.2f} ms (min {min(timing.decide_s) * 1000:.2f}); with no free slot "
        f"{median(timing.idle_decide_s) * 1000:.2f} ms. Target < {TARGET_DECIDE_MS:g} ms: "
        + ("met." if decide_ms < TARGET_DECIDE_MS else "**missed**.")
        + f" Folding the {timing.jobs:,} requests took {timing.fold_s * 1000:.0f} ms "
        f"({timing.jobs / timing.fold_s:,.0f} events/s); one `position()` (a "
        f"queue_position query) {median(timing.position_s) * 1000:.2f} ms.",
    ]
    return "\n".join(lines)


def main(report: Report) -> None:
    """Waits per user under fair queueing against FIFO, simulated with the scheduler's code."""
    small = quick()
    workers = env_int("BENCH_FQ_WORKERS", 2)
    session_s = 240.0 if small else 600.0
    arrivals = workload(session_s, batch_jobs=16 if small else 40)
    began = time.perf_counter()
    fair = Simulation(SchedulerState(DEFAULT_TIERS), workers).run(arrivals)
    fifo = Simulation(Fifo(), workers).run(arrivals)
    simulated_in = time.perf_counter() - began
    for outcome in (fair, fifo):
        assert len(outcome.ended) == len(arrivals), "a job never ended"
    timing = decide_timing(
        env_int("BENCH_FQ_JOBS", 2_000 if small else 10_000),
        env_int("BENCH_FQ_USERS", 200 if small else 1_000),
    )
    report.add(
        "Fair queueing: waits per user against FIFO (simulated)",
        _render(arrivals, workers, session_s, fair, fifo, timing, simulated_in),
    )

    def interactive(outcome: Outcome) -> float:
        return percentile(_waits(outcome, arrivals, lambda a: a.kind == "interactive"), 95)

    p95, fifo_p95 = interactive(fair), interactive(fifo)
    report.record(
        Record.below(
            "fair_queue_interactive_p95_wait_s",
            p95,
            "s",
            TARGET_P95_S,
            digits=2,
            baseline=round(fifo_p95, 2),
            baseline_name="plain FIFO, same workers and arrivals (simulated)",
        )
    )
    report.record(
        Record(
            name="fair_queue_makespan_s",
            value=round(fair.makespan, 2),
            unit="s",
            target=round(fifo.makespan + service_seconds(HEAVY), 2),
            met=fair.makespan <= fifo.makespan + service_seconds(HEAVY)
            and fair.idle_while_waiting == 0,
            baseline=round(fifo.makespan, 2),
            baseline_name="plain FIFO, same workers and arrivals (simulated)",
        )
    )
    decide_ms = median(timing.decide_s) * 1000
    report.record(
        Record.below("fair_queue_decide_ms_10k", decide_ms, "ms", TARGET_DECIDE_MS, digits=3)
    )


if __name__ == "__main__":
    run_alone("fair_queue", main)
