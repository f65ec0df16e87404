"""The routes anyone may call (share links, the public gallery): exactly the ones meant
to be, and a token that is not a live link's, however made, is 404 problem+json on each,
never 422 and never a hint of why."""

from __future__ import annotations

import secrets
import uuid

import pytest

from atelier.platform.local import Platform
from tests.helpers import anonymous, client, saved_asset
from tests.security.api_routes import ANONYMOUS_ROUTES, anonymous_routes, concrete_path
from tests.security.figures import refused

#: Tokens that cannot be one, and tokens of the right form that no link has.
MALFORMED = [
    "x",
    "a" * 21,
    "a" * 65,
    "a" * 5000,
    "%00" + "a" * 30,
    "..%2F..%2Fetc%2Fpasswd",
    "a%0Ab" + "c" * 30,
    "<script>" + "a" * 30,
    "é" * 30,
    str(uuid.uuid4()) + "!",
    "' OR 1=1 --" + "a" * 20,
]


def test_the_anonymous_routes_are_the_ones_meant_to_be():
    """A route that needs no credentials is in ANONYMOUS_ROUTES, on purpose; every other
    one needs a user (tests/security/test_jwt_attacks.py)."""
    assert anonymous_routes() == ANONYMOUS_ROUTES


@pytest.mark.e2e
async def test_random_and_malformed_tokens_are_not_found(platform: Platform) -> None:
    owner = uuid.uuid4()
    async with client(platform, owner) as api:  # a live link, so some token is real
        _, library_id = await saved_asset(platform, api, owner)
        shared = await api.patch(f"/v1/library/assets/{library_id}", json={"visibility": "public"})
        live = shared.json()["share_url"].rsplit("/", 1)[1]

    token_routes = sorted(path for _, path in ANONYMOUS_ROUTES if "{token}" in path)
    guesses = [secrets.token_urlsafe(24) for _ in range(5)] + [live[:-1] + "A", live.upper()]
    tried = 0
    async with anonymous(platform) as http:
        assert (await http.get(f"/v1/shared/{live}")).status_code == 200  # the control
        for token in [*MALFORMED, *(g for g in guesses if g != live)]:
            for template in token_routes:
                response = await http.get(concrete_path(template, token=token))
                assert response.status_code == 404, (template, token, response.text)
                assert response.headers["content-type"] == "application/problem+json"
                assert live not in response.text
                assert str(owner) not in response.text
                tried += 1
    refused("share token guessed or malformed", tried)
