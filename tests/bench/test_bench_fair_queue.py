"""The fair-queue benchmark's simulation: the scheduler's code in simulated time."""

from atelier.contracts.scheduling import DEFAULT_TIERS
from atelier.scheduler.state import SchedulerState
from bench import Report
from bench._platform import percentile
from bench.fair_queue import Fifo, Simulation, main, workload


def test_interactive_users_wait_less_than_under_fifo_and_no_gpu_time_is_lost():
    arrivals = workload(session_s=120.0, batch_jobs=8)
    fair = Simulation(SchedulerState(DEFAULT_TIERS), workers=2).run(arrivals)
    fifo = Simulation(Fifo(), workers=2).run(arrivals)
    for outcome in (fair, fifo):
        assert set(outcome.ended) == {a.request.data.job_id for a in arrivals}
        assert outcome.idle_while_waiting == 0
    waits = {
        name: [o.wait(a.request.data.job_id) for a in arrivals if a.kind == "interactive"]
        for name, o in (("fair", fair), ("fifo", fifo))
    }
    assert percentile(waits["fair"], 95) < 30 < percentile(waits["fifo"], 95)


def test_the_workload_is_the_same_every_run():
    first, second = workload(120.0, 8), workload(120.0, 8)
    assert [(a.at, a.user, a.request.data.job_id) for a in first] == [
        (a.at, a.user, a.request.data.job_id) for a in second
    ]


def test_the_quick_benchmark_reports_its_records(monkeypatch):
    monkeypatch.setenv("BENCH_QUICK", "1")
    report = Report()
    main(report)
    assert len(report.sections) == 1
    records = {record.name: record for record in report.records}
    assert records["fair_queue_interactive_p95_wait_s"].met
    assert records["fair_queue_makespan_s"].met
    assert records["fair_queue_decide_ms_10k"].value > 0
