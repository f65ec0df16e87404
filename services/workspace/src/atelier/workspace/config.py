from __future__ import annotations

from pydantic import Field

from atelier.contracts.storage import WORKSPACE_RETENTION
from atelier.runtime.settings import RuntimeSettings, WorkspaceUrlSettings


class WorkspaceSettings(RuntimeSettings, WorkspaceUrlSettings):
    db_schema: str = "workspace"
    #: How long a copy from the library stays in the workspace unless saved (fixed in its
    #: event; the GPU services read the same setting for what they generate).
    workspace_retention_days: float = Field(
        default=WORKSPACE_RETENTION.total_seconds() / 86400, gt=0
    )
    sweep_interval_seconds: float = Field(default=60.0, gt=0)
    #: Uploaded images (references, frames) are kept this long, then deleted.
    upload_retention_hours: float = Field(default=24.0, gt=0)
    upload_sweep_interval_seconds: float = Field(default=3600.0, gt=0)
    #: How often the active jobs of every user are checked against the log, and how long
    #: an admitted job may stay off the log before it no longer counts (its gateway died).
    active_jobs_reconcile_seconds: float = Field(default=30.0, gt=0)
    admission_grace_seconds: float = Field(default=60.0, gt=0)
