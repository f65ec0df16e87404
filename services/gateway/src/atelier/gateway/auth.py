"""Bearer JWT authentication, Supabase-compatible: HS256, `sub` = user id,
`aud` = authenticated, `exp` required."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import jwt

from atelier.gateway.problems import Problem

ALGORITHMS = ["HS256"]


@dataclass(frozen=True)
class User:
    id: uuid.UUID


class Authenticator:
    def __init__(self, secret: str, audience: str) -> None:
        self._secret = secret
        self._audience = audience

    def authenticate(self, token: str | None) -> User:
        if not token:
            raise _unauthorized("a bearer token is required")
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=ALGORITHMS,
                audience=self._audience,
                options={"require": ["exp", "sub", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise _unauthorized("the token has expired") from None
        except jwt.InvalidTokenError as error:
            raise _unauthorized(f"the token is not valid: {error}") from None
        try:
            return User(id=uuid.UUID(claims["sub"]))
        except (ValueError, TypeError):
            raise _unauthorized("the token's subject is not a user id") from None


def issue_token(secret: str, user_id: uuid.UUID, *, audience: str, lifetime_s: int) -> str:
    """A token as Supabase would issue it; used by the dev stack and the tests."""
    now = int(time.time())
    claims = {
        "sub": str(user_id),
        "aud": audience,
        "role": "authenticated",
        "iat": now,
        "exp": now + lifetime_s,
    }
    return jwt.encode(claims, secret, algorithm="HS256")


def _unauthorized(detail: str) -> Problem:
    return Problem(
        401, "Unauthorized", detail, headers={"WWW-Authenticate": 'Bearer realm="atelier"'}
    )
