"""Request/reply on a real nats-server: a result arrives as the JSON its service wrote
(what the gateway relays), a refusal as RpcError, and the bytes relayed are exactly the
model's JSON, whatever text the result carries."""

import json
import uuid

import pytest
from pydantic import BaseModel

from atelier.runtime import rpc
from atelier.runtime.bus import connect


class Ask(BaseModel):
    text: str


class Answer(BaseModel):
    id: uuid.UUID
    text: str
    items: list[dict]


#: Text a relay must not alter: quotes, braces, the envelope's own spelling, non-ASCII.
AWKWARD = 'é 中文 "quoted" {"ok":true,"result":} \\ }'


@pytest.fixture
async def service(servers):
    nc = await connect(servers.nats_url, name="rpc-service")
    subject = f"test.rpc.{uuid.uuid4().hex}"

    async def answer(ask: Ask) -> Answer:
        if ask.text == "refuse":
            raise rpc.RpcError(404, "Not Found", "no such thing")
        if ask.text == "fail":
            raise RuntimeError("a bug")
        return Answer(id=uuid.UUID(int=7), text=ask.text, items=[{"k": ask.text}])

    await rpc.serve(nc, subject, Ask, answer, queue="test")
    caller = await connect(servers.nats_url, name="rpc-caller")
    yield caller, subject
    await caller.close()
    await nc.close()


async def test_a_result_is_relayed_as_the_json_its_service_wrote(service):
    nc, subject = service
    relayed = await rpc.call_json(nc, subject, Ask(text=AWKWARD))
    expected = Answer(id=uuid.UUID(int=7), text=AWKWARD, items=[{"k": AWKWARD}])
    assert relayed == expected.model_dump_json().encode()
    assert await rpc.call(nc, subject, Ask(text=AWKWARD), Answer) == expected


@pytest.mark.parametrize(
    ("text", "status", "title"),
    [("refuse", 404, "Not Found"), ("fail", 500, "Internal error")],
)
async def test_a_refusal_or_a_failure_is_an_rpc_error(service, text, status, title):
    nc, subject = service
    for ask in (
        rpc.call_json(nc, subject, Ask(text=text)),
        rpc.call(nc, subject, Ask(text=text), Answer),
    ):
        with pytest.raises(rpc.RpcError) as raised:
            await ask
        assert (raised.value.status, raised.value.title) == (status, title)


async def test_a_request_the_service_cannot_read_is_refused_with_400(service):
    nc, subject = service
    reply = await nc.request(subject, b'{"text": 5}', timeout=5)
    assert json.loads(reply.data)["error"]["status"] == 400


async def test_no_service_is_503(service):
    nc, subject = service
    with pytest.raises(rpc.RpcError) as raised:
        await rpc.call_json(nc, f"{subject}.nobody", Ask(text="x"), timeout=0.5)
    assert raised.value.status == 503


async def test_a_result_written_otherwise_is_still_a_result(servers):
    """A replica of an older release writes its envelope with json.dumps (spaces after
    the colons): during a rollout its answers are results all the same."""
    nc = await connect(servers.nats_url, name="rpc-older-service")
    subject = f"test.rpc.{uuid.uuid4().hex}"

    async def older(msg):
        result = {"id": str(uuid.UUID(int=7)), "text": AWKWARD, "items": []}
        await msg.respond(json.dumps({"ok": True, "result": result}).encode())

    await nc.subscribe(subject, cb=older)
    try:
        answer = await rpc.call(nc, subject, Ask(text="x"), Answer)
        assert answer == Answer(id=uuid.UUID(int=7), text=AWKWARD, items=[])
    finally:
        await nc.close()
