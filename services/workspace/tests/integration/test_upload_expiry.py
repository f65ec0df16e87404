"""Uploads past their retention are deleted from the workspace bucket; generated files
(which belong to assets and leave with them) are not touched."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from atelier.contracts import storage
from atelier.contracts.partitions import PARTITIONS
from atelier.contracts.storage import WORKSPACE_BUCKET
from atelier.runtime.objects import ObjectStore
from atelier.runtime.settings import RuntimeSettings
from atelier.workspace.uploads import UploadSweeper

pytestmark = pytest.mark.integration


async def test_uploads_older_than_the_retention_are_deleted(servers):
    settings = RuntimeSettings(**{k.lower(): v for k, v in servers.as_env().items()})
    async with ObjectStore(settings) as objects:
        await objects.ensure_bucket(WORKSPACE_BUCKET)
        user = uuid.uuid4()
        upload = storage.upload(user, uuid.uuid4())
        generated = storage.generated_file(user, uuid.uuid4(), 0, "png")
        for key in (upload, generated):
            await objects.put(WORKSPACE_BUCKET, key, b"\x89PNG", "image/png")
        sweeper = UploadSweeper(objects, timedelta(hours=1), lambda: range(PARTITIONS))

        await sweeper.sweep()  # a fresh upload stays
        assert await objects.exists(WORKSPACE_BUCKET, upload)

        assert await sweeper.sweep(datetime.now(UTC) + timedelta(hours=2)) >= 1
        assert not await objects.exists(WORKSPACE_BUCKET, upload)
        assert await objects.exists(WORKSPACE_BUCKET, generated)
