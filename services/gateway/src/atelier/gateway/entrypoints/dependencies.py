"""FastAPI dependencies: the gateway's collaborators and the authenticated user."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from atelier.gateway.auth import User
from atelier.gateway.bootstrap import Gateway


def get_gateway(request: Request) -> Gateway:
    return request.app.state.gateway


_bearer = HTTPBearer(auto_error=False)
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def get_user(
    gw: Annotated[Gateway, Depends(get_gateway)],
    credentials: BearerDep,
) -> User:
    return gw.auth.authenticate(credentials.credentials if credentials else None)


GatewayDep = Annotated[Gateway, Depends(get_gateway)]
UserDep = Annotated[User, Depends(get_user)]
Cursor = Annotated[str | None, Query(max_length=200)]
