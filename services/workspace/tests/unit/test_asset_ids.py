import uuid

from atelier.contracts.generation import generated_asset_id as asset_id

JOB = uuid.uuid4()


def test_asset_ids_are_stable_and_distinct_per_index():
    assert asset_id(JOB, 0) == asset_id(JOB, 0)
    assert len({asset_id(JOB, i) for i in range(6)}) == 6
