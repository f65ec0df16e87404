"""Each service's NATS identity may publish only what it owns (atelier.contracts.permissions):
a compromised GPU worker or gateway cannot forge another service's events or commands,
read another's replies, or change the streams; without credentials, no connection."""

from __future__ import annotations

import asyncio
import uuid
from urllib.parse import urlsplit

import nats
import nats.errors
import pytest

from atelier.contracts import permissions, subjects
from atelier.contracts.streams import EVENTS
from atelier.runtime.bus import connect, ensure_streams
from atelier.stack.servers import EmbeddedNats
from tests.security.figures import refused

pytestmark = pytest.mark.integration

USER, ITEM = uuid.uuid4(), uuid.uuid4()
COMPLETED = subjects.generation(USER, "sdxl", ITEM, "completed")
REQUESTED = subjects.generation(USER, "sdxl", ITEM, "requested")
ASSET_ADDED = subjects.aggregate(USER, "workspace", ITEM, "added")
ASSET_SAVED = subjects.aggregate(USER, "workspace", ITEM, "saved")
STORED = subjects.aggregate(USER, "library", ITEM, "stored")
DELIVERED = subjects.aggregate(USER, "webhook_delivery", ITEM, "succeeded")

#: (identity, subject) pairs that must be refused: events and commands it does not own.
FORGERIES = [
    (permissions.GPU, ASSET_ADDED),
    (permissions.GPU, REQUESTED),
    (permissions.GATEWAY, COMPLETED),
    (permissions.GATEWAY, STORED),
    (permissions.WORKSPACE, COMPLETED),
    (permissions.WORKSPACE, STORED),
    (permissions.LIBRARY, ASSET_SAVED),
    (permissions.LIBRARY, COMPLETED),
    (permissions.WEBHOOKS, COMPLETED),
    (permissions.WEBHOOKS, STORED),
    (permissions.GATEWAY, DELIVERED),
    (permissions.LIBRARY, DELIVERED),
]
#: The same subjects, published by their owners: accepted (the control).
OWNED = [
    (permissions.GPU, COMPLETED),
    (permissions.GATEWAY, REQUESTED),
    (permissions.WORKSPACE, ASSET_ADDED),
    (permissions.LIBRARY, STORED),
    (permissions.WEBHOOKS, DELIVERED),
]
#: Commands go from the gateway to their service only.
FORGED_COMMANDS = [
    (permissions.GPU, subjects.rpc("workspace", "discard_asset")),
    (permissions.LIBRARY, subjects.rpc("workspace", "save_asset")),
    (permissions.WORKSPACE, subjects.rpc("library", "delete_asset")),
    (permissions.WEBHOOKS, subjects.rpc("library", "delete_asset")),
    (permissions.LIBRARY, subjects.rpc("webhooks", "register")),
]
#: Subscriptions that would let an identity answer for another service or read its replies.
EAVESDROPS = [
    (permissions.GPU, subjects.rpc("workspace", "list_assets")),
    (permissions.GPU, f"{permissions.inbox_prefix(permissions.GATEWAY)}.>"),
    (permissions.LIBRARY, subjects.rpc("workspace", "get_job")),
    (permissions.WEBHOOKS, subjects.rpc("library", "list_assets")),
    (permissions.GPU, subjects.rpc("webhooks", "list")),
    (permissions.GATEWAY, f"{subjects.EVENTS_ROOT}.>"),
]
#: JetStream administration only `admin` may do.
STREAM_ADMIN = [
    f"$JS.API.STREAM.DELETE.{EVENTS.name}",
    f"$JS.API.STREAM.PURGE.{EVENTS.name}",
    f"$JS.API.STREAM.UPDATE.{EVENTS.name}",
    f"$JS.API.STREAM.MSG.DELETE.{EVENTS.name}",
]


class Identity:
    """A connection as one identity that records the server's permission errors."""

    def __init__(self, server: EmbeddedNats, identity: str) -> None:
        self.server, self.identity = server, identity
        self.violations: list[str] = []

    async def __aenter__(self) -> Identity:
        async def on_error(error: Exception) -> None:
            if "permissions violation" in str(error).lower():
                self.violations.append(str(error))

        self.nc = await nats.connect(
            self.server.url_for(self.identity),
            error_cb=on_error,
            inbox_prefix=permissions.inbox_prefix(self.identity),
            allow_reconnect=False,
        )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.nc.close()

    async def refused(self) -> bool:
        """Whether the server has reported a permission violation (waits a moment)."""
        await self.nc.flush()
        for _ in range(50):
            if self.violations:
                return True
            await asyncio.sleep(0.02)
        return False


@pytest.fixture
async def admin(private_nats: EmbeddedNats):
    nc = await connect(private_nats.url, name="test-admin")
    await ensure_streams(nc)
    try:
        yield nc.jetstream()
    finally:
        await nc.close()


async def _stored(js, subject: str) -> int:
    info = await js.stream_info(EVENTS.name, subjects_filter=subject)
    return sum((info.state.subjects or {}).values())


async def test_identities_cannot_forge_events_they_do_not_own(private_nats, admin) -> None:
    for identity, subject in FORGERIES:
        async with Identity(private_nats, identity) as conn:
            with pytest.raises(nats.errors.TimeoutError):  # no ack: the server dropped it
                await conn.nc.jetstream().publish(subject, b"{}", timeout=0.5)
            assert await conn.refused(), (identity, subject)
        assert await _stored(admin, subject) == 0, (identity, subject)
    refused("forged event from another identity", len(FORGERIES))


async def test_owners_publish_their_own_events(private_nats, admin) -> None:
    for identity, subject in OWNED:
        async with Identity(private_nats, identity) as conn:
            ack = await conn.nc.jetstream().publish(subject, b"{}", timeout=5)
            assert ack.stream == EVENTS.name
            assert not conn.violations
        assert await _stored(admin, subject) == 1, (identity, subject)


async def test_only_the_gateway_sends_commands(private_nats, admin) -> None:
    for identity, subject in FORGED_COMMANDS:
        async with Identity(private_nats, identity) as conn:
            await conn.nc.publish(subject, b"{}")
            assert await conn.refused(), (identity, subject)
    async with Identity(private_nats, permissions.GATEWAY) as gateway:
        with pytest.raises(nats.errors.NoRespondersError):  # allowed; no service runs here
            await gateway.nc.request(subjects.rpc("workspace", "discard_asset"), b"{}")
        assert not gateway.violations
    refused("command not from the gateway", len(FORGED_COMMANDS))


async def test_no_identity_answers_for_another_or_reads_its_replies(private_nats, admin) -> None:
    for identity, subject in EAVESDROPS:
        async with Identity(private_nats, identity) as conn:
            await conn.nc.subscribe(subject)
            assert await conn.refused(), (identity, subject)
    refused("subscription to another identity's subjects", len(EAVESDROPS))


async def test_only_admin_changes_streams(private_nats, admin) -> None:
    await admin.publish(COMPLETED, b"{}")
    for identity in permissions.SERVICES:
        async with Identity(private_nats, identity) as conn:
            for api in STREAM_ADMIN:
                with pytest.raises(nats.errors.TimeoutError):
                    await conn.nc.request(api, b"{}", timeout=0.25)
            await conn.refused()
            assert len(conn.violations) == len(STREAM_ADMIN), (identity, conn.violations)
    info = await admin.stream_info(EVENTS.name)
    assert (info.state.messages, info.config.deny_delete) == (1, True)
    refused("stream administration by a service", len(permissions.SERVICES) * len(STREAM_ADMIN))


async def test_no_connection_without_valid_credentials(private_nats) -> None:
    address = urlsplit(private_nats.url)
    host = f"{address.hostname}:{address.port}"
    attempts = {
        "anonymous": f"nats://{host}",
        "wrong password": f"nats://{permissions.GPU}:guess@{host}",
        "unknown user": f"nats://intruder:{private_nats.passwords[permissions.GPU]}@{host}",
    }
    for url in attempts.values():
        with pytest.raises(nats.errors.Error, match="Authorization Violation"):
            await nats.connect(url, allow_reconnect=False, max_reconnect_attempts=0)
    refused("connection without valid credentials", len(attempts))


def test_credentials_are_private_and_kept(private_nats) -> None:
    for path in (private_nats.config_path, private_nats.data_dir / "nats-credentials.json"):
        assert path.stat().st_mode & 0o777 == 0o600, path
    assert EmbeddedNats(private_nats.data_dir).passwords == private_nats.passwords
    assert len(set(private_nats.passwords.values())) == len(permissions.IDENTITIES)
