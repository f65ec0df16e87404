"""The benchmarks' event log is made of valid events: what the registry decodes."""

from collections import Counter

from atelier.contracts.registry import decode_event, encode_event
from bench._events import realistic_log


def test_the_realistic_log_decodes_and_covers_what_users_do():
    log = realistic_log(3000, users=50)
    assert len(log) == 3000
    for event in log:
        assert decode_event(event.subject, encode_event(event)) == event
    kinds = Counter(event.type for event in log)
    for kind in (
        "generation.requested",
        "generation.completed",
        "workspace.asset_saved",
        "workspace.asset_discarded",
        "library.asset_stored",
        "library.asset_updated",
        "library.collection_created",
    ):
        assert kinds[kind] > 0, kind


def test_the_log_is_the_same_for_the_same_seed():
    first, second = realistic_log(200, users=10), realistic_log(200, users=10)
    assert [e.type for e in first] == [e.type for e in second]
    assert [e.user_id for e in first] == [e.user_id for e in second]
