"""Forged, broken and stale bearer tokens on every API route: 401, and nothing published."""

from __future__ import annotations

import base64
import json
import time
import uuid

import httpx
import jwt
import pytest

from atelier.platform.local import Platform
from tests.helpers import published_for
from tests.security.api_routes import QUICK_JOB, api_routes, concrete_path
from tests.security.figures import refused

pytestmark = pytest.mark.e2e

VALID_BODY = {**QUICK_JOB, "prompt": "a lighthouse at dusk"}


def _unsigned(claims: dict) -> str:
    """`alg: none`, as an attacker writes it by hand (PyJWT refuses to decode it)."""
    header = base64.urlsafe_b64encode(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    body = base64.urlsafe_b64encode(json.dumps(claims).encode())
    return f"{header.decode().rstrip('=')}.{body.decode().rstrip('=')}."


def forged_credentials(secret: str, user: uuid.UUID) -> dict[str, str | None]:
    """Each way an Authorization header can be wrong, for `user`; None: no header."""
    now = int(time.time())
    good = {"sub": str(user), "aud": "authenticated", "iat": now, "exp": now + 600}

    def signed(key: str = secret, **changes) -> str:
        claims = {k: v for k, v in (good | changes).items() if v is not None}
        return jwt.encode(claims, key, algorithm="HS256")

    tokens = {
        "malformed": "not-a-jwt",
        "three garbage parts": "e30.e30.e30",
        "bad signature": signed("another-secret-of-at-least-32-bytes!!"),
        "alg none": _unsigned(good),
        "alg none, no dot": _unsigned(good).rstrip("."),
        "wrong audience": signed(aud="service_role"),
        "no audience": signed(aud=None),
        "expired": signed(exp=now - 60, iat=now - 660),
        "no expiry": signed(exp=None),
        "future nbf": signed(nbf=now + 600),
        "issued in the future": signed(iat=now + 600, exp=now + 1200),
        "empty subject": signed(sub=""),
        "subject not a string": signed(sub=42),
        "no subject": signed(sub=None),
    }
    return {
        "missing": None,
        "scheme only": "Bearer",
        "not bearer": f"Basic {base64.b64encode(signed().encode()).decode()}",
        **{name: f"Bearer {token}" for name, token in tokens.items()},
    }


async def test_every_bad_token_is_refused_on_every_route(platform: Platform) -> None:
    victim = uuid.uuid4()
    secret = platform.service_environment["JWT_SECRET"]
    credentials = forged_credentials(secret, victim)
    routes = api_routes()
    assert ("POST", "/v1/generations") in routes  # the routes come from the live app
    tried = 0
    async with httpx.AsyncClient(base_url=platform.gateway_url, timeout=30) as http:
        for name, credential in credentials.items():
            headers = {} if credential is None else {"Authorization": credential}
            for method, path in routes:
                response = await http.request(
                    method, concrete_path(path), headers=headers, json=VALID_BODY
                )
                assert response.status_code == 401, (name, method, path, response.text)
                assert response.headers["content-type"] == "application/problem+json"
                assert response.headers["www-authenticate"].startswith("Bearer")
                tried += 1
        # The query-string token is for EventSource only, never for other routes.
        good = platform.token(victim)
        response = await http.post(
            "/v1/generations", params={"access_token": good}, json=VALID_BODY
        )
        assert response.status_code == 401
        forged = credentials["bad signature"].removeprefix("Bearer ")
        sse = await http.get("/v1/events", params={"access_token": forged})
        assert sse.status_code == 401
    refused("forged or stale JWT", tried + 2)
    assert await published_for(platform, victim) == 0


async def test_the_same_request_with_a_good_token_is_published(platform: Platform) -> None:
    """The control: the check above would see a publish if one had happened."""
    user = uuid.uuid4()
    async with httpx.AsyncClient(base_url=platform.gateway_url, timeout=30) as http:
        headers = {"Authorization": f"Bearer {platform.token(user)}"}
        response = await http.post("/v1/generations", headers=headers, json=VALID_BODY)
    assert response.status_code == 202, response.text
    assert await published_for(platform, user) >= 1
