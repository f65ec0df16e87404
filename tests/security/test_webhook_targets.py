"""SSRF through webhooks, with private targets refused (`WEBHOOK_ALLOW_PRIVATE_TARGETS`
false, as in production): the delivery worker's own attempt, against a real receiver
listening on loopback, reaches nothing, however the address is spelled, and a name
that resolves to loopback at connection time (DNS rebinding) is refused as the
connection is made."""

from __future__ import annotations

import uuid

import aiohttp
import pytest

from atelier.contracts.webhooks import RegisterWebhook, WebhookFields
from atelier.runtime.rpc import RpcError
from atelier.webhooks.commands import WebhookCommands
from atelier.webhooks.config import WebhooksSettings
from atelier.webhooks.delivery import DeliveryWorker, http_session
from atelier.webhooks.secrets import SecretBox, generate_key, new_secret
from tests.e2e.webhook_receiver import Receiver
from tests.security.figures import FIGURES

SPELLINGS = [
    "http://127.0.0.1:{port}/hook",
    "http://127.1:{port}/hook",
    "http://0x7f.1:{port}/hook",
    "http://2130706433:{port}/hook",
    "http://017700000001:{port}/hook",
    "http://localhost:{port}/hook",
    "http://[::ffff:127.0.0.1]:{port}/hook",
    "http://0.0.0.0:{port}/hook",
]


def worker(allow_private: bool) -> DeliveryWorker:
    key = generate_key()
    settings = WebhooksSettings(
        webhook_secret_keys=key,
        webhook_allow_private_targets=allow_private,
        webhook_timeout_seconds=2,
    )
    return DeliveryWorker(
        bus=None, pool=None, objects=None, box=SecretBox(key), settings=settings,
        held=frozenset, shown=None,
    )  # fmt: skip


def row(box: SecretBox, url: str) -> dict:
    event = {"type": "library.collection_created", "data": {"collection_id": str(uuid.uuid4())}}
    return {
        "id": uuid.uuid4(),
        "url": url,
        "encrypted_secret": box.seal(new_secret()),
        "event": event,
    }


@pytest.mark.parametrize("spelling", SPELLINGS)
async def test_an_attempt_at_a_loopback_target_reaches_nothing(spelling):
    refusing = worker(allow_private=False)
    async with Receiver() as receiver, http_session(False) as http:
        status, error = await refusing._attempt(
            http, row(refusing.box, spelling.format(port=receiver.port))
        )
        assert status is None
        assert error.startswith("refused"), error
        assert receiver.received == []
    FIGURES["attacks refused: webhook targets on loopback"] += 1


async def test_a_name_that_resolves_to_loopback_is_refused_as_the_connection_is_made():
    """What a rebinding name does at delivery time: the resolver the connection uses
    refuses it, whatever the URL check saw earlier."""
    async with Receiver() as receiver, http_session(False) as http:
        with pytest.raises(aiohttp.ClientConnectorError) as refused:
            async with http.post(f"http://localhost:{receiver.port}/hook", data=b"{}"):
                pass
        assert "refused" in str(refused.value.os_error)
        assert receiver.received == []
    FIGURES["attacks refused: webhook targets on loopback"] += 1


async def test_the_same_attempt_arrives_when_private_targets_are_allowed():
    allowing = worker(allow_private=True)
    async with Receiver() as receiver, http_session(True) as http:
        status, error = await allowing._attempt(http, row(allowing.box, receiver.url))
        assert (status, error) == (200, None)
        assert len(receiver.received) == 1


@pytest.mark.parametrize("spelling", SPELLINGS)
async def test_registration_refuses_the_same_targets_naming_url(spelling):
    commands = WebhookCommands(
        bus=None, pool=None, box=SecretBox(generate_key()), allow_private_targets=False,
        until_shown=None,
    )  # fmt: skip
    fields = WebhookFields(url=spelling.format(port=8080), events=["generation.*"])
    with pytest.raises(RpcError) as refused:
        await commands.register(RegisterWebhook(user_id=uuid.uuid4(), fields=fields))
    assert refused.value.status == 422
    assert refused.value.detail.startswith("url: ")
    FIGURES["attacks refused: webhook targets on loopback"] += 1
