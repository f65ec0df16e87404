"""A gateway that trusts an identity provider's JWKS (a real HTTP server on loopback), as
an operator configures it: every forgery a 401 with nothing published; the provider
rotates its keys while clients keep calling, and goes down for a moment, without a single
401 for a token signed with a key it published."""

import asyncio
import uuid

import httpx
import pytest

from atelier.platform.local import SERVICES
from atelier.stack.services import ServiceProcess
from tests.helpers import published_for
from tests.identity_provider import ISSUER, IdentityProvider, forgeries
from tests.security.figures import refused

pytestmark = pytest.mark.e2e

QUICK = {"model": "sdxl", "prompt": "x", "width": 64, "height": 64, "steps": 2}


@pytest.fixture
def provider():
    provider = IdentityProvider(max_age=2).start()
    yield provider
    provider.stop()


@pytest.fixture
def gateway(platform, provider):
    """A second gateway of the platform, trusting the provider's keys only."""
    (spec,) = [spec for spec in SERVICES if spec.name == "gateway"]
    env = {k: v for k, v in platform.env_of(spec).items() if k != "JWT_SECRET"}
    env |= {"JWT_JWKS_URL": provider.jwks_url, "JWT_ISSUER": ISSUER}
    gateway = ServiceProcess("gateway-jwks", spec.module, platform.data_dir, env, spec.port_env)
    gateway.start()
    yield gateway
    gateway.stop()


def api(gateway, token: str | None = None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(base_url=gateway.url, headers=headers, timeout=30)


async def test_every_forgery_is_a_401_and_nothing_is_published(platform, provider, gateway):
    user = uuid.uuid4()
    cases = forgeries(provider, user)
    cases["a token of the platform's own secret"] = (platform.token(user), "not accepted")
    for name, (token, detail) in cases.items():
        async with api(gateway, token) as client:
            response = await client.post("/v1/generations", json=QUICK)
        assert response.status_code == 401, (name, response.text)
        assert detail.lower() in response.json()["detail"].lower(), (name, response.text)
    assert await published_for(platform, user) == 0
    refused("forged token, JWKS mode", len(cases))

    async with api(gateway, provider.token(user)) as client:
        accepted = await client.post("/v1/generations", json=QUICK)
    assert accepted.status_code == 202, accepted.text
    async with api(gateway, provider.token(user)) as client:
        await client.post(f"/v1/generations/{accepted.json()['job_id']}/cancel")


async def test_keys_rotate_and_the_provider_goes_down_while_clients_keep_calling(provider, gateway):
    """Clients call all along with tokens of every key the provider publishes; it adds a
    key (the overlap), drops the old one, and is down for a few seconds (longer than its
    keys' lifetime): no call is refused."""
    user = uuid.uuid4()
    old = provider.keys[0]
    answers: list[tuple[str, int]] = []
    calling = asyncio.Event()

    async def client_loop(token_for) -> None:
        while not calling.is_set():
            key = token_for()
            async with api(gateway, provider.token(user, key=key)) as client:
                response = await client.get("/v1/generations", params={"limit": 1})
            answers.append((key.kid, response.status_code))
            await asyncio.sleep(0.02)

    published = list(provider.keys)
    clients = [
        asyncio.create_task(client_loop(lambda i=i: published[i % len(published)]))
        for i in range(6)
    ]
    try:
        await asyncio.sleep(1)
        new = provider.rotate()
        published.append(new)  # clients use it at once: the gateway learns it at its first token
        await asyncio.sleep(2)
        published.remove(old)  # clients stop using the old key first, then it is retired
        await asyncio.sleep(0.5)
        provider.retire(old)
        await asyncio.sleep(1)
        provider.up = False  # longer than the keys' two-second lifetime
        await asyncio.sleep(4)
        provider.up = True
        await asyncio.sleep(1)
    finally:
        calling.set()
        await asyncio.gather(*clients)
    assert len(answers) > 100
    assert {status for _, status in answers} == {200}, [a for a in answers if a[1] != 200][:5]
    assert {kid for kid, _ in answers} >= {old.kid, new.kid}
