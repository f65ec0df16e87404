import uuid
from datetime import UTC, datetime

import pytest

from atelier.runtime import cursors

KEY = (datetime(2026, 11, 24, 12, 0, tzinfo=UTC), uuid.uuid4(), 3)


def test_round_trip():
    assert cursors.decode(cursors.encode(*KEY), datetime, uuid.UUID, int) == KEY


@pytest.mark.parametrize(
    "bad",
    ["", "garbage", "W10", cursors.encode(KEY[1], KEY[0], 3), cursors.encode(KEY[0], KEY[1])],
)
def test_a_foreign_cursor_is_refused(bad):
    with pytest.raises(cursors.BadCursor):
        cursors.decode(bad, datetime, uuid.UUID, int)


def test_a_naive_time_is_refused():
    with pytest.raises(cursors.BadCursor):
        cursors.decode(cursors.encode(datetime(2026, 1, 1), KEY[1], 1), datetime, uuid.UUID, int)
