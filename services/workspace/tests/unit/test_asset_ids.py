import uuid
from datetime import UTC, datetime, timedelta

from atelier.contracts import examples
from atelier.contracts.generation import generated_asset_id as asset_id
from atelier.workspace.projection import lifetime

JOB = uuid.uuid4()


def test_asset_ids_are_stable_and_distinct_per_index():
    assert asset_id(JOB, 0) == asset_id(JOB, 0)
    assert len({asset_id(JOB, i) for i in range(6)}) == 6


def test_an_asset_expires_when_its_event_says_and_older_events_after_seven_days():
    """The projection is pure: no setting of the day changes what a rebuild writes."""
    old = examples.completed(num_images=1)
    new = old.model_copy(update={"data": old.data.model_copy(update={"expires_at": LATER})})
    assert lifetime(old) == (old.occurred_at, old.occurred_at + timedelta(days=7))
    assert lifetime(new) == (new.occurred_at, LATER)


LATER = datetime(2030, 1, 1, tzinfo=UTC)
