"""FastAPI dependencies: the gateway's collaborators and the authenticated user."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import APIKeyQuery, HTTPAuthorizationCredentials, HTTPBearer

from atelier.contracts import requests
from atelier.gateway.auth import User
from atelier.gateway.bootstrap import Gateway
from atelier.gateway.problems import Problem


# Both are `async`: FastAPI runs a plain `def` dependency on a worker thread, and the
# hop there and back cost more than the work (a JWT check takes microseconds).
async def get_gateway(request: Request) -> Gateway:
    return request.app.state.gateway


_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="bearerAuth",
    bearerFormat="JWT",
    description="A JWT of the operator's identity provider (`Authorization: Bearer …`); "
    "its `sub` is the user",
)
#: The same JWT as a query parameter, for EventSource, which cannot send headers: read by
#: `/v1/events` only.
access_token_query = APIKeyQuery(
    name="access_token",
    auto_error=False,
    scheme_name="accessTokenQuery",
    description="The bearer JWT as `?access_token=`, for EventSource (`/v1/events` only)",
)
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


async def get_user(
    gw: Annotated[Gateway, Depends(get_gateway)],
    credentials: BearerDep,
) -> User:
    return await gw.auth.authenticate(credentials.credentials if credentials else None)


async def get_admin(user: Annotated[User, Depends(get_user)]) -> User:
    """The user, when their token says they administer the platform; else 403."""
    if not user.admin:
        raise Problem(403, "Forbidden", "this route is for administrators")
    return user


GatewayDep = Annotated[Gateway, Depends(get_gateway)]
UserDep = Annotated[User, Depends(get_user)]
AdminDep = Annotated[User, Depends(get_admin)]
Cursor = Annotated[requests.Cursor | None, Query()]
