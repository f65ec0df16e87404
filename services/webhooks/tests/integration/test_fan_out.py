"""The fan-out, on a real PostgreSQL: an event becomes one delivery per webhook of its
user that subscribes to it *at that point of the log*: none for a webhook registered
later or deleted earlier, none for another user's webhook; the outcomes move a row only
forward."""

import json
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from atelier.contracts import examples
from atelier.contracts import webhook_events as events
from atelier.contracts.generation import GenerationCompleted, GenerationFailed
from atelier.contracts.library_events import AssetStored
from atelier.webhooks.projection import WebhooksProjection

pytestmark = pytest.mark.integration

EVENTS = {type(e): e for e in examples.every_event()}
USER = examples.EXAMPLE_USER


def registered(patterns: list[str], user: uuid.UUID = USER) -> events.WebhookRegistered:
    return events.WebhookRegistered.create(
        source="webhooks",
        user_id=user,
        data=events.WebhookRegisteredData(
            webhook_id=uuid.uuid4(),
            url="https://hooks.example.com/x",
            events=patterns,
            encrypted_secret="sealed",
        ),
    )


def deleted(webhook: events.WebhookRegistered) -> events.WebhookDeleted:
    return events.WebhookDeleted.create(
        source="webhooks", user_id=webhook.user_id, data=events.WebhookRefData(
            webhook_id=webhook.data.webhook_id
        ),
    )  # fmt: skip


def again(event_type):
    """A fresh event of the example's type (a new event id), of the example user."""
    return EVENTS[event_type].model_copy(update={"event_id": uuid.uuid4()})


def attempt(kind, webhook, event, n: int, status: int | None) -> events.DeliveryRetrying:
    now = datetime.now(UTC)
    return kind.create(
        source="webhooks",
        user_id=USER,
        data=events.DeliveryAttemptData(
            delivery_id=events.delivery_id(webhook.data.webhook_id, event.event_id),
            webhook_id=webhook.data.webhook_id,
            event_id=event.event_id,
            event_type=event.type,
            attempt=n,
            status_code=status,
            error=None if status == 200 else "answered 500",
            attempted_at=now,
            next_attempt_at=now + timedelta(seconds=5) if kind is events.DeliveryRetrying else None,
        ),
    )


@pytest.fixture
async def conn(servers):
    connection = await asyncpg.connect(servers.database_url)
    schema = f"webhooks_test_{uuid.uuid4().hex[:8]}"
    await connection.execute(f"CREATE SCHEMA {schema}; SET search_path TO {schema}")
    await connection.set_type_codec(
        "jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
    )
    await WebhooksProjection().create_tables(connection)
    try:
        yield connection
    finally:
        await connection.execute(f"DROP SCHEMA {schema} CASCADE")
        await connection.close()


async def test_each_event_goes_to_the_webhooks_subscribed_at_its_point_of_the_log(conn):
    projection = WebhooksProjection()
    everything = registered(["generation.*"])
    library = registered(["library.asset_stored"])
    others = registered(["generation.*"], user=uuid.uuid4())
    first, second, stored, last = (
        again(GenerationCompleted),
        again(GenerationFailed),
        again(AssetStored),
        again(GenerationCompleted),
    )
    late = registered(["generation.*"])
    log = [others, everything, first, library, second, late, stored, deleted(everything), last]
    for event in log:
        await projection.apply(conn, event)
    rows = await conn.fetch(
        "SELECT id, webhook_id, event_id, event_type, status, attempts, event "
        "FROM webhook_deliveries ORDER BY created_at, event_type"
    )
    got = {(r["webhook_id"], r["event_id"]) for r in rows}
    # `everything` is deleted, and its deliveries with it; `late` gets only what followed it
    assert got == {
        (library.data.webhook_id, stored.event_id),
        (late.data.webhook_id, last.event_id),
    }
    (row,) = [r for r in rows if r["webhook_id"] == library.data.webhook_id]
    assert row["id"] == events.delivery_id(library.data.webhook_id, stored.event_id)
    assert row["event"]["event_id"] == str(stored.event_id)
    assert (row["status"], row["attempts"]) == ("pending", 0)


async def test_outcomes_move_a_delivery_forward_only(conn):
    projection = WebhooksProjection()
    hook = registered(["generation.completed"])
    done = again(GenerationCompleted)
    for event in (hook, done, again(GenerationFailed)):
        await projection.apply(conn, event)
    assert await conn.fetchval("SELECT count(*) FROM webhook_deliveries") == 1
    await projection.apply(conn, attempt(events.DeliveryRetrying, hook, done, 1, 500))
    await projection.apply(conn, attempt(events.DeliverySucceeded, hook, done, 2, 200))
    await projection.apply(conn, attempt(events.DeliveryRetrying, hook, done, 1, 500))  # late
    row = await conn.fetchrow("SELECT * FROM webhook_deliveries")
    assert (row["status"], row["attempts"], row["last_status_code"]) == ("succeeded", 2, 200)
    # the same event applied twice (a rebuild's overlap) makes no second delivery
    await projection.apply(conn, done)
    assert await conn.fetchval("SELECT count(*) FROM webhook_deliveries") == 1
