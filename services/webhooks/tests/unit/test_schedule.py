"""The retry schedule: growing delays with jitter, for a day after the first attempt."""

from datetime import UTC, datetime, timedelta

from atelier.webhooks import schedule

FIRST = datetime(2026, 1, 1, tzinfo=UTC)


def test_delays_grow_then_the_last_repeats_within_the_window():
    now = FIRST
    waits = []
    for attempt in range(1, 10):
        retry = schedule.next_attempt(attempt, FIRST, now, jitter=0)
        waits.append((retry - now).total_seconds())
        now = retry
    assert waits == list(schedule.DELAYS)
    late = FIRST + timedelta(hours=1)
    assert schedule.next_attempt(12, FIRST, late, jitter=0) == late + timedelta(
        seconds=schedule.DELAYS[-1]
    )


def test_jitter_moves_a_delay_by_at_most_its_tenth():
    low = schedule.next_attempt(2, FIRST, FIRST, jitter=-1)
    high = schedule.next_attempt(2, FIRST, FIRST, jitter=1)
    assert low == FIRST + timedelta(seconds=27)
    assert high == FIRST + timedelta(seconds=33)
    for _ in range(100):
        retry = schedule.next_attempt(2, FIRST, FIRST)
        assert low <= retry <= high


def test_attempts_stop_a_day_after_the_first_with_one_at_its_end():
    late = FIRST + timedelta(hours=23)
    assert schedule.next_attempt(10, FIRST, late, jitter=0) == FIRST + schedule.WINDOW
    assert schedule.next_attempt(11, FIRST, FIRST + schedule.WINDOW, jitter=0) is None


def test_a_whole_day_of_attempts_is_a_bounded_number():
    now, attempts = FIRST, 1
    while (retry := schedule.next_attempt(attempts, FIRST, now, jitter=0)) is not None:
        now, attempts = retry, attempts + 1
    assert now == FIRST + schedule.WINDOW
    assert 10 <= attempts <= 15


def test_scale_shortens_delays_and_window_alike():
    assert schedule.next_attempt(1, FIRST, FIRST, scale=0.01, jitter=0) == FIRST + timedelta(
        seconds=0.05
    )
    end = FIRST + schedule.WINDOW * 0.01
    assert schedule.next_attempt(3, FIRST, end, scale=0.01) is None
