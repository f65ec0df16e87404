"""Uploads (`POST /v1/uploads`: reference images and frames) are kept for a while, then
deleted: they are inputs, not assets, and no event refers to them once their jobs ran.

Keys are `{user}/uploads/…` in the workspace bucket, so a sweep lists the users'
folders, then the uploads of each user of the partitions this replica applies: the
replicas share the work (and deleting twice would be harmless anyway).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from datetime import UTC, datetime, timedelta

from atelier.contracts.partitions import partition_of
from atelier.contracts.storage import WORKSPACE_BUCKET
from atelier.runtime.objects import ObjectStore

log = logging.getLogger(__name__)


class UploadSweeper:
    def __init__(
        self,
        objects: ObjectStore,
        retention: timedelta,
        partitions: Callable[[], Collection[int]],
    ) -> None:
        """`partitions`: those this replica applies now (its users are its to sweep)."""
        self.objects = objects
        self.retention = retention
        self.partitions = partitions

    async def sweep(self, now: datetime | None = None) -> int:
        """Delete this replica's users' uploads older than the retention; how many."""
        cutoff = (now or datetime.now(UTC)) - self.retention
        mine = set(self.partitions())
        folders = [
            folder
            for folder in await self.objects.folders(WORKSPACE_BUCKET)
            if partition_of(folder.rstrip("/")) in mine
        ]
        stale = [
            key
            for folder in folders
            for key, modified in await self.objects.listing(WORKSPACE_BUCKET, f"{folder}uploads/")
            if modified < cutoff
        ]
        await self.objects.delete_all(WORKSPACE_BUCKET, stale)
        if stale:
            log.info("uploads expired", extra={"count": len(stale)})
        return len(stale)
