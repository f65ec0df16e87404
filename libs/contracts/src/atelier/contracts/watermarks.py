"""Projection watermarks: how far a projection has applied the log, announced on core NATS.

A reader of the log that shows users what happened (the gateway's event stream) waits
until every projection reading an event has applied it, so that a client told "your
image is ready" finds it in the workspace listing at once.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from atelier.contracts.partitions import PARTITIONS
from atelier.contracts.text import SingleLineText


class Watermark(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    projection: SingleLineText
    #: The stream sequence the projection's tables reflect, for `partitions`.
    position: int = Field(ge=0)
    #: The subject filters the projection reads: it applies no other events.
    subjects: tuple[SingleLineText, ...]
    #: The partitions (of users, see atelier.contracts.partitions) this announcement is
    #: about: those the announcing replica applies.
    partitions: tuple[int, ...] = tuple(range(PARTITIONS))
