from __future__ import annotations

from pydantic import Field

from atelier.runtime.settings import RuntimeSettings


class WorkspaceSettings(RuntimeSettings):
    db_schema: str = "workspace"
    #: How long an asset stays in the workspace unless saved to the library.
    retention_days: float = Field(default=7.0, gt=0)
    sweep_interval_seconds: float = Field(default=60.0, gt=0)
    #: Uploaded images (references, frames) are kept this long, then deleted.
    upload_retention_hours: float = Field(default=24.0, gt=0)
    upload_sweep_interval_seconds: float = Field(default=3600.0, gt=0)
    thumbnail_url_seconds: int = 15 * 60
    file_url_seconds: int = 60 * 60
