"""The workspace service's queries and their answers (request/reply over NATS)."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from atelier.contracts import subjects
from atelier.contracts.generation import AssetType

SERVICE = "workspace"
LIST_ASSETS = subjects.rpc(SERVICE, "list_assets")

MAX_PAGE_SIZE = 100


class ListAssets(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    user_id: uuid.UUID
    limit: int = Field(default=50, ge=1, le=MAX_PAGE_SIZE)
    cursor: str | None = Field(default=None, max_length=200)


class WorkspaceAsset(BaseModel):
    """One workspace asset as the API shows it, with short-lived signed URLs."""

    id: uuid.UUID
    job_id: uuid.UUID
    asset_index: int
    asset_type: AssetType
    mime_type: str
    file_size_bytes: int
    width: int
    height: int
    duration_seconds: float | None
    generation_seed: int
    original_prompt: str
    negative_prompt: str | None
    model_used: str
    generation_settings: dict[str, Any]
    created_at: AwareDatetime
    expires_at: AwareDatetime
    file_url: str
    thumbnail_url: str


class AssetPage(BaseModel):
    items: list[WorkspaceAsset]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page"
    )
