"""Uploads (`POST /v1/uploads`: reference images and frames) are kept for a while, then
deleted: they are inputs, not assets, and no event refers to them once their jobs ran.

Keys are `{user}/uploads/…` in the workspace bucket, so a sweep lists the users'
folders, then each one's uploads. Every replica may sweep: deleting twice is harmless.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from atelier.contracts.storage import WORKSPACE_BUCKET
from atelier.runtime.objects import ObjectStore

log = logging.getLogger(__name__)


class UploadSweeper:
    def __init__(self, objects: ObjectStore, retention: timedelta) -> None:
        self.objects = objects
        self.retention = retention

    async def sweep(self, now: datetime | None = None) -> int:
        """Delete uploads older than the retention; returns how many."""
        cutoff = (now or datetime.now(UTC)) - self.retention
        stale = [
            key
            for folder in await self.objects.folders(WORKSPACE_BUCKET)
            for key, modified in await self.objects.listing(WORKSPACE_BUCKET, f"{folder}uploads/")
            if modified < cutoff
        ]
        await self.objects.delete_all(WORKSPACE_BUCKET, stale)
        if stale:
            log.info("uploads expired", extra={"count": len(stale)})
        return len(stale)
