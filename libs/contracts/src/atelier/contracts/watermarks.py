"""Projection watermarks: how far a projection has applied the log, announced on core NATS.

A reader of the log that shows users what happened (the gateway's event stream) waits
until the projections users read back (`SHOWN_TO_USERS`) have applied an event, so that
a client told "your image is ready" finds it in the workspace listing at once.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from atelier.contracts.partitions import PARTITIONS
from atelier.contracts.text import SingleLineText

WORKSPACE = "workspace"
LIBRARY = "library"
#: The projections whose tables the API shows users (the workspace, the library): the
#: event stream waits for these. Usage and webhook deliveries are projections too, but
#: nothing a live event announces is read from them, and a slow one must not hold back
#: every user's events.
SHOWN_TO_USERS = (WORKSPACE, LIBRARY)


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
