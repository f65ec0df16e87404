import uuid
from datetime import UTC, datetime, timedelta

import pytest

from atelier.workspace.domain import cursor
from atelier.workspace.domain.assets import asset_id, expires_at

JOB = uuid.uuid4()


def test_asset_ids_are_stable_and_distinct_per_index():
    assert asset_id(JOB, 0) == asset_id(JOB, 0)
    assert len({asset_id(JOB, i) for i in range(6)}) == 6


def test_assets_expire_after_the_retention():
    created = datetime(2026, 1, 1, tzinfo=UTC)
    assert expires_at(created, 7) == created + timedelta(days=7)


def test_cursor_round_trip():
    position = cursor.Position(datetime.now(UTC), JOB, 3)
    assert cursor.decode(cursor.encode(position)) == position


@pytest.mark.parametrize("bad", ["", "garbage", "W10", "WyJ4IiwgInkiLCAxXQ"])
def test_a_foreign_cursor_is_refused(bad):
    with pytest.raises(cursor.BadCursor):
        cursor.decode(bad)
