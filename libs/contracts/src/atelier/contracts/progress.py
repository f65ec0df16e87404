"""Step progress of a running job: ephemeral, on core NATS (not the log)."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict, Field

from atelier.contracts.text import SingleLineText


class StepProgress(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    job_id: uuid.UUID
    step: int = Field(ge=0)
    total: int = Field(ge=1)
    percent: float = Field(ge=0, le=100)
    preview_webp_base64: SingleLineText | None = Field(
        default=None, description="A small preview of the image so far, every few steps"
    )
