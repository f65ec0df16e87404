"""Pure rules of the workspace: expiry."""

from __future__ import annotations

from datetime import datetime, timedelta


def expires_at(created_at: datetime, retention_days: float) -> datetime:
    return created_at + timedelta(days=retention_days)
