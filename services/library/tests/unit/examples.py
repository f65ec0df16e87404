"""A library asset as the unit tests know it: its row, and the events of its life."""

import uuid
from datetime import UTC, datetime

from atelier.contracts import asset_columns, storage
from atelier.contracts import library_events as events
from atelier.library.domain.decisions import AssetDecisions
from atelier.runtime.aggregates import LastEvent

USER = uuid.uuid4()
ASSET, SOURCE_ASSET = uuid.uuid4(), uuid.uuid4()
ROW = {
    "id": ASSET,
    "source_workspace_asset_id": SOURCE_ASSET,
    "asset_type": "image",
    "storage_key": storage.library_file(USER, ASSET, uuid.uuid4(), "png"),
    "thumbnail_key": storage.library_thumbnail(USER, ASSET, uuid.uuid4()),
    "mime_type": "image/png",
    "file_size_bytes": 1234,
    "width": 64,
    "height": 64,
    "duration_seconds": None,
    "generation_seed": 7,
    "original_prompt": "a fox",
    "negative_prompt": None,
    "model_used": "sdxl",
    "generation_settings": {"steps": 4},
    "created_at": datetime(2026, 11, 1, tzinfo=UTC),
    "custom_title": None,
    "tags": [],
}
ASSETS = AssetDecisions(USER, ROW)
NOTHING = LastEvent(0, None)
STORED = LastEvent(
    3,
    events.AssetStored.create(
        source="library",
        user_id=USER,
        data=events.AssetStoredData(
            library_asset_id=ASSET,
            source_workspace_asset_id=SOURCE_ASSET,
            asset=asset_columns.snapshot_of(ROW),
        ),
    ),
)
