"""Users' partitions: stable, spread, and read from a subject without decoding."""

import uuid
from collections import Counter

import pytest

from atelier.contracts import examples
from atelier.contracts.partitions import PARTITIONS, partition_of, partition_of_subject


def test_a_user_keeps_one_partition_and_users_spread_over_all_of_them():
    users = [uuid.uuid4() for _ in range(4000)]
    assert all(partition_of(u) == partition_of(str(u)) for u in users[:50])
    spread = Counter(partition_of(u) for u in users)
    assert set(spread) == set(range(PARTITIONS))
    assert max(spread.values()) < 2 * min(spread.values())


def test_the_partition_of_an_events_subject_is_its_users():
    event = examples.completed()
    assert partition_of_subject(event.subject) == partition_of(event.user_id)
    with pytest.raises(ValueError, match="not an event subject"):
        partition_of_subject("atelier.rpc.workspace.list_assets")
