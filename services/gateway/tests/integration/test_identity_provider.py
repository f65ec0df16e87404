"""Tokens of an identity provider with a JWKS endpoint (a real HTTP server on loopback):
RS256, ES256 and EdDSA by `kid`; every forgery refused; keys kept as long as the provider
says, fetched again on rotation but not for every made-up `kid`, and served from memory
while the provider is down."""

import asyncio
import time
import uuid

import httpx
import jwt
import pytest

from atelier.gateway.auth import Authenticator
from atelier.gateway.jwks import JwksCache
from atelier.gateway.problems import Problem
from tests.identity_provider import ISSUER, IdentityProvider, SigningKey, forgeries

pytestmark = pytest.mark.integration

USER = uuid.uuid4()


@pytest.fixture
def provider():
    provider = IdentityProvider().start()
    yield provider
    provider.stop()


@pytest.fixture
async def http():
    async with httpx.AsyncClient() as client:
        yield client


def authenticator(provider, http, **cache) -> Authenticator:
    jwks = JwksCache(provider.jwks_url, http, **cache)
    return Authenticator(secrets=[], jwks=jwks, audience="authenticated", issuer=ISSUER)


async def refused(auth: Authenticator, token: str | None, detail: str) -> None:
    with pytest.raises(Problem) as refusal:
        await auth.authenticate(token)
    assert refusal.value.status == 401
    assert detail.lower() in refusal.value.detail.lower(), refusal.value.detail


async def test_rs256_es256_and_eddsa_tokens_authenticate_by_key_id(provider, http):
    auth = authenticator(provider, http)
    for key in provider.keys:
        assert (await auth.authenticate(provider.token(USER, key=key))).id == USER
    assert provider.requests == 1, "one fetch serves every key while it is fresh"


async def test_every_forgery_is_refused(provider, http):
    auth = authenticator(provider, http)
    for token, detail in forgeries(provider, USER).values():
        await refused(auth, token, detail)


async def test_a_flood_of_made_up_key_ids_asks_the_provider_a_few_times(provider, http):
    auth = authenticator(provider, http, min_refresh_seconds=30, refresh_burst=3)
    await auth.authenticate(provider.token(USER))
    forged = [provider.token(USER, key=SigningKey.new("ES256")) for _ in range(5)]
    for _ in range(20):
        await asyncio.gather(*(refused(auth, token, "no key") for token in forged))
    assert provider.requests <= 1 + 3


async def test_a_rotated_key_is_fetched_at_once_and_the_old_one_works_meanwhile(provider, http):
    auth = authenticator(provider, http, min_refresh_seconds=0.2)
    old = provider.keys[0]
    assert await auth.authenticate(provider.token(USER, key=old))
    new = provider.rotate()
    await asyncio.sleep(0.3)
    assert (await auth.authenticate(provider.token(USER, key=new))).id == USER
    assert (await auth.authenticate(provider.token(USER, key=old))).id == USER
    provider.retire(old)
    assert (await auth.authenticate(provider.token(USER, key=new))).id == USER


async def test_the_keys_are_kept_as_long_as_the_provider_says_then_fetched_again(provider, http):
    provider.max_age = 1
    auth = authenticator(provider, http, max_age_bounds=(1, 60))
    await auth.authenticate(provider.token(USER))
    await auth.authenticate(provider.token(USER))
    assert provider.requests == 1
    await asyncio.sleep(1.2)
    await auth.authenticate(provider.token(USER))
    assert provider.requests == 2


async def test_while_the_provider_is_down_the_keys_we_have_keep_serving(provider, http):
    provider.max_age = 1
    auth = authenticator(provider, http, max_age_bounds=(1, 60), min_refresh_seconds=0.1)
    await auth.authenticate(provider.token(USER))
    provider.up = False
    await asyncio.sleep(1.2)  # their lifetime is over: we ask, the provider fails
    for key in provider.keys:
        assert (await auth.authenticate(provider.token(USER, key=key))).id == USER
    assert provider.requests >= 2
    await refused(auth, provider.token(USER, key=SigningKey.new("RS256")), "no key")
    provider.up = True
    new = provider.rotate("EdDSA")
    await asyncio.sleep(0.2)
    assert (await auth.authenticate(provider.token(USER, key=new))).id == USER


async def test_both_ways_at_once_during_a_move_to_a_provider(provider, http):
    """Supabase's move from the legacy secret to signing keys: both verify meanwhile."""
    secret = "legacy-" + "s" * 48
    jwks = JwksCache(provider.jwks_url, http)
    auth = Authenticator(secrets=[secret], jwks=jwks, audience="authenticated")
    legacy = jwt.encode(
        {"sub": str(USER), "aud": "authenticated", "exp": int(time.time()) + 60}, secret, "HS256"
    )
    assert (await auth.authenticate(legacy)).id == USER
    assert (await auth.authenticate(provider.token(USER))).id == USER
