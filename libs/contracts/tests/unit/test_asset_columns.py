"""The asset columns both services' tables share are the snapshot's fields: a field added
to the contract without a column (or the reverse) fails here, not in production."""

from datetime import UTC, datetime

from atelier.contracts import asset_columns
from atelier.contracts.assets import AssetSnapshot


def test_every_snapshot_field_but_its_time_has_a_column():
    assert set(asset_columns.NAMES) == set(AssetSnapshot.model_fields) - {"generated_at"}


def test_a_row_gives_back_the_snapshot_it_was_written_from():
    row = {
        "asset_type": "video",
        "storage_key": "u/j/0.mp4",
        "thumbnail_key": "u/j/0.thumb.webp",
        "mime_type": "video/mp4",
        "file_size_bytes": 10,
        "width": 64,
        "height": 48,
        "duration_seconds": 0.5,
        "generation_seed": 3,
        "original_prompt": "waves\nat night",
        "negative_prompt": None,
        "model_used": "wan",
        "generation_settings": {"fps": 16},
        "created_at": datetime(2026, 11, 1, tzinfo=UTC),
    }
    snapshot = asset_columns.snapshot_of(row)
    assert snapshot.generated_at == row["created_at"]
    assert dict(zip(asset_columns.NAMES, asset_columns.values(snapshot), strict=True)) == {
        name: row[name] for name in asset_columns.NAMES
    }
