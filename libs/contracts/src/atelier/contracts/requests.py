"""The shape every request to a service has: whose it is, and how to page."""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from atelier.contracts.text import SINGLE_LINE

MAX_PAGE_SIZE = 100
#: The `next_cursor` of the page before, given back as it was received.
Cursor = Annotated[str, StringConstraints(max_length=200), SINGLE_LINE]


class UserRequest(BaseModel):
    """The gateway fills `user_id` from the authenticated token; the service scopes to it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    user_id: uuid.UUID


class PageRequest(UserRequest):
    limit: int = Field(default=50, ge=1, le=MAX_PAGE_SIZE)
    cursor: Cursor | None = None
