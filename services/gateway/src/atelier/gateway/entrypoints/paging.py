"""What the asset routers share: a page's size parameter and a command's error answers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from atelier.contracts.requests import MAX_PAGE_SIZE
from atelier.gateway.problems import responses

#: `?limit=`: how many items one page holds at the most.
PageLimit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)]
#: What a command on one asset or collection may answer besides its result.
COMMAND_RESPONSES = responses(404, 409, 422, 503)
