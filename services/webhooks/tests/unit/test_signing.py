"""Deliveries: what they carry and how they are signed (verified with the Standard
Webhooks reference library, as a receiver would), the secrets' encryption and which
events a webhook receives."""

import json
import uuid
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from atelier.contracts import storage
from atelier.contracts.webhook_events import delivery_id, matches
from atelier.contracts.webhooks import EVENT_NAMES, WebhookFields
from atelier.webhooks import payloads
from atelier.webhooks.secrets import PREFIX, SecretBox, generate_key, new_secret

EVENT = {
    "event_id": "8b0c1a52-9a55-4f1f-93a8-0e1bde3a9a7a",
    "type": "generation.completed",
    "data": {
        "job_id": "e0c7a0c2-3c1b-4f65-9a63-8b4d1c4f2a10",
        "assets": [{"index": 0, "storage_key": "u/j/0.png", "thumbnail_key": "u/j/0.webp"}],
    },
}


async def fake_sign(bucket: str, key: str) -> str:
    return f"https://s3.test/{bucket}/{key}?X-Amz-Signature=x"


async def test_the_body_is_the_event_with_a_signed_url_beside_each_key():
    event = await payloads.with_urls(EVENT, fake_sign)
    asset = event["data"]["assets"][0]
    assert asset["storage_key"] == "u/j/0.png"
    assert (
        asset["storage_url"]
        == f"https://s3.test/{storage.WORKSPACE_BUCKET}/u/j/0.png?X-Amz-Signature=x"
    )
    assert asset["thumbnail_url"].startswith(
        f"https://s3.test/{storage.WORKSPACE_BUCKET}/u/j/0.webp"
    )
    assert event["event_id"] == EVENT["event_id"]
    library = await payloads.with_urls(
        {"type": "library.asset_stored", "data": {"asset": {"storage_key": "k"}}}, fake_sign
    )
    assert storage.LIBRARY_BUCKET in library["data"]["asset"]["storage_url"]
    gone = {"type": "library.asset_deleted", "data": {"storage_key": "k"}}
    assert await payloads.with_urls(gone, fake_sign) == gone


def test_a_delivery_verifies_with_the_reference_library():
    secret, delivery = new_secret(), uuid.uuid4()
    body = payloads.body_of(EVENT)
    headers = payloads.signed_headers(secret, delivery, datetime.now(UTC), body)
    assert headers["webhook-id"] == f"msg_{delivery}"
    assert Webhook(secret).verify(body, headers) == EVENT
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace(b"completed", b"failed"), headers)


def test_secrets_are_standard_and_sealed_under_any_listed_key():
    secret = new_secret()
    assert secret.startswith(PREFIX)
    assert len(secret) > 40
    old, new = generate_key(), generate_key()
    sealed = SecretBox(old).seal(secret)
    assert secret not in sealed
    assert SecretBox(f"{new},{old}").open(sealed) == secret
    with pytest.raises(ValueError, match="not in WEBHOOK_SECRET_KEYS"):
        SecretBox(new).open(sealed)


def test_the_delivery_id_is_stable_per_webhook_and_event():
    webhook, event = uuid.uuid4(), uuid.uuid4()
    assert delivery_id(webhook, event) == delivery_id(webhook, event)
    assert delivery_id(webhook, event) != delivery_id(uuid.uuid4(), event)


def test_which_events_a_webhook_receives():
    assert matches("generation.*", "generation.completed")
    assert matches("library.asset_stored", "library.asset_stored")
    assert not matches("library.*", "workspace.asset_saved")
    assert not matches("generation.completed", "generation.failed")
    assert "generation.requested" not in EVENT_NAMES
    assert not any(name.startswith("webhook.") for name in EVENT_NAMES)


@pytest.mark.parametrize(
    "body",
    [
        {"url": "ftp://example.com", "events": ["generation.*"]},
        {"url": "https://user:pw@example.com", "events": ["generation.*"]},
        {"url": "https://example.com/\x00", "events": ["generation.*"]},
        {"url": "https://example.com", "events": []},
        {"url": "https://example.com", "events": ["generation.requested"]},
        {"url": "https://example.com", "events": ["webhook.registered"]},
        {"url": "https://example.com", "events": ["*"]},
        {"url": "https://example.com/" + "a" * 3000, "events": ["generation.*"]},
    ],
)
def test_bad_registrations_are_refused(body):
    with pytest.raises(ValidationError):
        WebhookFields.model_validate(body)


def test_the_sealed_secret_is_not_in_a_registration_body():
    assert "secret" not in json.dumps(WebhookFields.model_json_schema()["properties"])
