"""Pure rules of the workspace: asset identity and expiry."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

#: Namespace of workspace asset ids: uuid5(job_id, index) names one asset forever,
#: so every replay of the log gives it the same id.
_ASSET_NAMESPACE = uuid.UUID("3f1c7b8e-5b7a-4c55-9a39-6a3c1d0e2b10")


def asset_id(job_id: uuid.UUID, index: int) -> uuid.UUID:
    return uuid.uuid5(_ASSET_NAMESPACE, f"{job_id}/{index}")


def expires_at(created_at: datetime, retention_days: float) -> datetime:
    return created_at + timedelta(days=retention_days)
