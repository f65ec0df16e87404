"""The one way to put an event on the log: JetStream publish with a deterministic
message id, trace headers and, where state matters, optimistic concurrency."""

from __future__ import annotations

import logging
from urllib.parse import unquote, urlsplit, urlunsplit

from nats.aio.client import Client as NatsClient
from nats.js.api import (
    DiscardPolicy,
    KeyValueConfig,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import BadRequestError, NotFoundError

from atelier.contracts import permissions
from atelier.contracts.envelope import Envelope
from atelier.contracts.registry import encode_event
from atelier.contracts.streams import ALL_BUCKETS, ALL_STREAMS, EVENTS, StreamSpec
from atelier.runtime import tracing

log = logging.getLogger(__name__)

#: JetStream's error code for a failed Nats-Expected-Last-Subject-Sequence check.
WRONG_LAST_SEQUENCE = 10071


class ConcurrencyConflict(Exception):
    """Someone appended to the aggregate since we read it: re-read and decide again."""


def server_urls(url: str) -> list[str]:
    """The servers a NATS URL names: one, or a cluster's nodes separated by commas
    (`nats://u:p@host1:4222,nats://u:p@host2:4222`, as the nats CLI and the Go client read
    NATS_URL)."""
    servers = [part.strip() for part in url.split(",") if part.strip()]
    if not servers:
        raise ValueError("a NATS URL names no server")
    return servers


def _credentials(servers: list[str]) -> tuple[str | None, str | None]:
    """The one user and password the URLs carry (None, None when they carry none)."""
    found = {(parts.username, parts.password) for parts in map(urlsplit, servers)}
    if len(found) > 1:
        raise ValueError("the servers of a NATS URL carry different credentials")
    (user, password) = found.pop()
    return (unquote(user) if user else user), (unquote(password) if password else password)


async def connect(url: str, name: str) -> NatsClient:
    """A NATS connection that reconnects forever (servers restart; services must not).

    `url` names one server or several (a cluster's nodes, comma-separated); when the one
    it is connected to goes, it reconnects to another, the next in turn.

    A URL with a user (`nats://gateway:…@host:port`) connects as that identity, whose
    replies arrive under its own inbox prefix (see atelier.contracts.permissions). The
    credentials are given for every server, those the cluster announces as well (nats-py
    would otherwise try those without any)."""
    servers = server_urls(url)
    user, password = _credentials(servers)
    credentials = {}
    if user is not None and password is not None:
        credentials = {"user": user, "password": password}
        servers = [_without_credentials(server) for server in servers]
    nc = NatsClient()

    async def disconnected() -> None:
        if not nc.is_closed:  # not when closed on purpose
            log.warning("nats disconnected", extra={"connection": name})

    async def failed(error: Exception) -> None:  # one line, not nats-py's traceback
        log.warning("nats error", extra={"connection": name, "error": repr(error)})

    async def reconnected() -> None:
        server = nc.connected_url.netloc if nc.connected_url else "?"
        log.warning("nats reconnected", extra={"connection": name, "server": server})

    await nc.connect(
        servers,
        name=name,
        error_cb=failed,
        disconnected_cb=disconnected,
        reconnected_cb=reconnected,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        connect_timeout=5,
        allow_reconnect=True,
        inbox_prefix=permissions.inbox_prefix(user) if user else "_INBOX",
        **credentials,
    )
    return nc


def _without_credentials(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


class EventBus:
    def __init__(self, nc: NatsClient) -> None:
        self.nc = nc
        self.js = nc.jetstream()

    async def publish(
        self,
        event: Envelope,
        *,
        expected_last_sequence: int | None = None,
        concurrency_filter: str | None = None,
        timeout: float = 5.0,
    ) -> int:
        """Append `event` to the log and return its stream sequence.

        With `expected_last_sequence`, the append only happens when the last message on
        `concurrency_filter` (a subject or wildcard, default the event's own subject)
        still has that sequence (0: none yet); otherwise ConcurrencyConflict.
        A retried publish of the same fact (same dedup id) returns the first sequence.
        """
        with tracing.publish_span(event.type, event.subject, event.dedup_id) as headers:
            headers["Nats-Msg-Id"] = event.dedup_id
            if expected_last_sequence is not None:
                headers["Nats-Expected-Last-Subject-Sequence"] = str(expected_last_sequence)
                if concurrency_filter:
                    headers["Nats-Expected-Last-Subject-Sequence-Subject"] = concurrency_filter
            try:
                ack = await self.js.publish(
                    event.subject, encode_event(event), timeout=timeout, headers=headers
                )
            except BadRequestError as error:
                if error.err_code == WRONG_LAST_SEQUENCE:
                    raise ConcurrencyConflict(error.description) from error
                raise
            return ack.seq

    async def last_sequence(self, subject: str, stream: str = EVENTS.name) -> int:
        """Sequence of the last message on `subject` (wildcards allowed), 0 if none."""
        try:
            msg = await self.js.get_last_msg(stream, subject)
        except NotFoundError:
            return 0
        return msg.seq


def stream_config(spec: StreamSpec) -> StreamConfig:
    return StreamConfig(
        name=spec.name,
        description=spec.description,
        subjects=list(spec.subjects),
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        discard=DiscardPolicy.OLD,
        max_age=spec.max_age_seconds,
        allow_msg_counter=spec.counters or None,
        deny_delete=spec.deny_delete,
        deny_purge=spec.deny_purge,
        duplicate_window=spec.duplicate_window_seconds,
        max_msg_size=spec.max_msg_size,
        allow_direct=True,
    )


#: JetStream's error code for a stream created again with another configuration.
STREAM_NAME_IN_USE = 10058


async def ensure_streams(nc: NatsClient, replicas: int = 1) -> None:
    """Create the streams and key-value buckets, or bring their configuration up to
    date; idempotent. `replicas`: copies of each on a NATS cluster (1 on one server)."""
    js = nc.jetstream()
    for spec in ALL_STREAMS:
        config = stream_config(spec)
        config.num_replicas = replicas
        try:
            await js.stream_info(spec.name)
        except NotFoundError:
            await js.add_stream(config)
            log.info("stream created", extra={"stream": spec.name})
        else:
            await js.update_stream(config)
    for bucket in ALL_BUCKETS:
        try:
            await js.create_key_value(
                KeyValueConfig(
                    bucket=bucket.name,
                    description=bucket.description,
                    history=1,
                    storage=StorageType.FILE,
                    replicas=replicas,
                )
            )
        except BadRequestError as error:
            if error.err_code != STREAM_NAME_IN_USE:
                raise
            # made with other replicas (a cluster provisioned for one server first)
            kept = (await js.stream_info(f"KV_{bucket.name}")).config
            kept.num_replicas = replicas
            await js.update_stream(kept)
