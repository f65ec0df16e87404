"""Start-time fair queueing, with no servers: who goes out next."""

import uuid

from atelier.scheduler.fair_queue import FairQueue, WaitingJob

A, B, C = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()


def job(user: uuid.UUID, sequence: int, cost: float = 1.0, weight: float = 1.0) -> WaitingJob:
    return WaitingJob(uuid.uuid4(), user, cost, weight, sequence)


def users_in_order(queue: FairQueue) -> list[uuid.UUID]:
    return [waiting.user_id for waiting in queue.in_order()]


def drain(queue: FairQueue) -> list[uuid.UUID]:
    """Dispatch one at a time until empty: the users in the order they were served."""
    served = []
    while len(queue):
        first = queue.in_order()[0]
        queue.take(first.job_id)
        served.append(first.user_id)
    return served


def test_a_user_who_comes_later_is_served_next_not_after_the_whole_batch():
    queue = FairQueue()
    a_jobs = [job(A, n) for n in range(8)]
    for waiting in a_jobs:
        queue.add(waiting)
    queue.take(a_jobs[0].job_id)  # A's first job runs on the only worker
    b_job = job(B, 8)
    queue.add(b_job)
    assert queue.in_order()[0] is b_job
    assert drain(queue) == [B] + [A] * 7


def test_a_user_alone_gets_every_job_in_arrival_order():
    queue = FairQueue()
    jobs = [job(A, n, cost=n + 1) for n in range(5)]
    for waiting in jobs:
        queue.add(waiting)
    assert [w.job_id for w in queue.in_order()] == [w.job_id for w in jobs]


def first_served(jobs: list[WaitingJob], first: int) -> list[uuid.UUID]:
    """Queue `jobs` in this order, then drain: whose the first `first` dispatched were."""
    queue = FairQueue()
    for waiting in jobs:
        queue.add(waiting)
    return drain(queue)[:first]


def test_heavy_jobs_count_for_more_than_light_ones():
    """A's jobs cost 4, B's cost 1: while both wait, B gets four jobs for each of A's."""
    heavy = [job(A, n, cost=4.0) for n in range(4)]
    light = [job(B, 100 + n, cost=1.0) for n in range(16)]
    served = first_served(heavy + light, 10)
    assert served.count(A) == 2
    assert served.count(B) == 8


def test_a_heavier_weight_gets_a_larger_share():
    pairs = [(job(A, n, weight=1.0), job(B, 100 + n, weight=3.0)) for n in range(20)]
    served = first_served([waiting for pair in pairs for waiting in pair], 16)
    assert served.count(B) == 12
    assert served.count(A) == 4


def test_three_users_take_turns():
    queue = FairQueue()
    for user, offset in ((A, 0), (B, 100), (C, 200)):
        for n in range(3):
            queue.add(job(user, offset + n))
    assert drain(queue) == [A, B, C] * 3


def test_a_cancelled_job_costs_its_user_nothing():
    queue = FairQueue()
    a_jobs = [job(A, n) for n in range(3)]
    for waiting in a_jobs:
        queue.add(waiting)
    queue.add(b_job := job(B, 10))
    queue.add(job(B, 11))
    queue.remove(a_jobs[0].job_id)
    assert a_jobs[0].job_id not in queue
    assert users_in_order(queue) == [A, B, A, B]
    assert queue.in_order()[1] is b_job


def test_while_its_jobs_run_a_user_is_charged_for_them():
    """A's jobs went out one by one as they came (nothing waited in between): B, who comes
    while they run, still goes before A's next one."""
    queue = FairQueue()
    for n in range(3):
        queue.add(waiting := job(A, n))
        queue.take(waiting.job_id)
    queue.add(more := job(A, 3))
    queue.add(b_job := job(B, 4))
    assert queue.in_order() == [b_job, more]


def test_after_an_idle_spell_what_was_served_before_weighs_on_nobody():
    queue = FairQueue()
    for n in range(3):
        queue.add(waiting := job(A, n, cost=10))
        queue.take(waiting.job_id)
    queue.idle()  # the workers finished everything
    queue.add(again := job(A, 10))
    queue.add(job(B, 11))
    assert queue.in_order()[0] is again
    assert len(queue._finish) == 2  # only the users waiting are remembered
