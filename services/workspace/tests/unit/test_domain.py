import uuid
from datetime import UTC, datetime, timedelta

from atelier.contracts.generation import generated_asset_id as asset_id
from atelier.workspace.domain.assets import expires_at

JOB = uuid.uuid4()


def test_asset_ids_are_stable_and_distinct_per_index():
    assert asset_id(JOB, 0) == asset_id(JOB, 0)
    assert len({asset_id(JOB, i) for i in range(6)}) == 6


def test_assets_expire_after_the_retention():
    created = datetime(2026, 1, 1, tzinfo=UTC)
    assert expires_at(created, 7) == created + timedelta(days=7)
