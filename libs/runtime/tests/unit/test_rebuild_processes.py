"""A rebuild's processes share the partitions: each exactly once, as evenly as can be."""

import pytest

from atelier.contracts.partitions import PARTITIONS
from atelier.runtime.rebuild_processes import RebuildProcesses


@pytest.mark.parametrize("count", [1, 2, 3, 4, 5, 16, 40])
def test_every_partition_goes_to_exactly_one_process(count):
    shares = RebuildProcesses("nats://x", "postgresql://x", count).shares()
    every = sorted(partition for share in shares for partition in share)
    assert every == list(range(PARTITIONS))
    assert len(shares) == min(count, PARTITIONS)
    assert max(map(len, shares)) - min(map(len, shares)) <= 1
