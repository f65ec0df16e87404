"""Buckets and object keys. Keys are deterministic, so a retried upload overwrites
the same object instead of orphaning a new one."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated

from pydantic import StringConstraints

from atelier.contracts.text import SINGLE_LINE

WORKSPACE_BUCKET = "workspace-temp"
LIBRARY_BUCKET = "user-library"
ALL_BUCKETS = (WORKSPACE_BUCKET, LIBRARY_BUCKET)

#: How long files stay in the workspace unless saved, by default. The event that puts
#: files there says when they expire (`expires_at`); an event from before it said so
#: expires this long after it occurred, whatever the settings of the day.
WORKSPACE_RETENTION = timedelta(days=7)

ObjectKey = Annotated[str, StringConstraints(max_length=300), SINGLE_LINE]


def generated_file(user_id: uuid.UUID, job_id: uuid.UUID, index: int, extension: str) -> str:
    return f"{user_id}/{job_id}/{int(index)}.{_extension(extension)}"


def generated_thumbnail(user_id: uuid.UUID, job_id: uuid.UUID, index: int) -> str:
    return f"{user_id}/{job_id}/{int(index)}.thumb.webp"


def job_prefix(user_id: uuid.UUID, job_id: uuid.UUID) -> str:
    """Every file (and thumbnail) a job generates lies under this prefix."""
    return f"{user_id}/{job_id}/"


def _extension(extension: str) -> str:
    if extension not in {"png", "mp4", "webp"}:
        raise ValueError(f"unexpected file extension {extension!r}")
    return extension


def upload(user_id: uuid.UUID, upload_id: uuid.UUID) -> str:
    """An image a user uploaded (as a reference or a frame); stored as PNG."""
    return f"{user_id}/uploads/{upload_id}.png"


def workspace_copy(user_id: uuid.UUID, asset_id: uuid.UUID, extension: str) -> str:
    """A library asset copied back into the workspace."""
    return f"{user_id}/copies/{asset_id}.{_extension(extension)}"


def workspace_copy_thumbnail(user_id: uuid.UUID, asset_id: uuid.UUID) -> str:
    return f"{user_id}/copies/{asset_id}.thumb.webp"


def library_file(
    user_id: uuid.UUID, library_asset_id: uuid.UUID, save_id: uuid.UUID, extension: str
) -> str:
    """The library's copy made for one save (`save_id`: the save event's id). A workspace
    asset saved again after its copy was deleted names the same library asset: each copy
    has keys of its own, so deleting an old one can never touch the new one's files."""
    return f"{user_id}/{library_asset_id}/{save_id}.{_extension(extension)}"


def library_thumbnail(user_id: uuid.UUID, library_asset_id: uuid.UUID, save_id: uuid.UUID) -> str:
    return f"{user_id}/{library_asset_id}/{save_id}.thumb.webp"


def extension_of(key: str) -> str:
    return _extension(key.rsplit(".", 1)[-1])
