"""The delivery worker: sends due deliveries and records each attempt's outcome.

Every `WEBHOOK_POLL_SECONDS` it takes the deliveries due (`next_attempt_at <= now()`)
of the users whose partitions this replica's projection holds (the partition leases,
so two replicas do not both send a delivery), at most `WEBHOOK_MAX_IN_FLIGHT` at once
and `WEBHOOK_MAX_IN_FLIGHT_PER_WEBHOOK` for one webhook: a receiver that hangs or is
down holds a few slots for `WEBHOOK_TIMEOUT_SECONDS`, never all of them, and never
delays anything else of the platform (its deliveries are rows, not messages in a
consumer's queue). Each attempt is a task of its own: sign, POST (redirects not
followed, the target's addresses checked as the connection is made), then append
`webhook.delivery_succeeded`, `…_retrying` (with the next attempt's time, from
`schedule`) or `…_failed` (the window is over). The slot is freed once the projection
shows that outcome. Killed mid-attempt, nothing was recorded: the delivery is still due
and is sent again with the same `webhook-id` (at least once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import aiohttp
import asyncpg

from atelier.contracts import webhook_events as events
from atelier.runtime.bus import EventBus
from atelier.runtime.objects import ObjectStore
from atelier.webhooks import payloads, schedule, ssrf
from atelier.webhooks.commands import SOURCE
from atelier.webhooks.config import WebhooksSettings
from atelier.webhooks.metrics import ATTEMPTS, IN_FLIGHT
from atelier.webhooks.secrets import SecretBox

log = logging.getLogger(__name__)

DUE = """
SELECT * FROM (
    SELECT d.id, d.webhook_id, d.user_id, d.event_id, d.event_type, d.event, d.attempts,
           d.next_attempt_at, d.created_at, w.url, w.encrypted_secret,
           row_number() OVER (PARTITION BY d.webhook_id ORDER BY d.next_attempt_at, d.id)
               AS rank
    FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
    WHERE d.status = 'pending' AND d.partition = ANY ($1::smallint[])
      AND d.next_attempt_at <= now() AND NOT (d.id = ANY ($2::uuid[]))
      AND NOT (d.webhook_id = ANY ($5::uuid[]))
) due
WHERE rank <= $3
ORDER BY next_attempt_at
LIMIT $4
"""

#: How much of a receiver's answer is read (and thrown away).
ANSWER_BYTES = 4096


class DeliveryWorker:
    def __init__(
        self,
        *,
        bus: EventBus,
        pool: asyncpg.Pool,
        objects: ObjectStore,
        box: SecretBox,
        settings: WebhooksSettings,
        held: Callable[[], frozenset[int]],
        shown: Callable[[int, uuid.UUID], Awaitable[object]],
    ) -> None:
        """`held`: the partitions this replica applies now; `shown`: wait until the
        projection has applied a sequence for a user."""
        self.bus = bus
        self.pool = pool
        self.objects = objects
        self.box = box
        self.settings = settings
        self.held = held
        self.shown = shown
        #: delivery id → webhook id, for the attempts under way.
        self._in_flight: dict[uuid.UUID, uuid.UUID] = {}
        self._tasks: set[asyncio.Task] = set()
        self._freed = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        async with http_session(self.settings.webhook_allow_private_targets) as http:
            try:
                while not stop.is_set():
                    try:
                        await self._start_due(http)
                    except Exception as error:  # the database or a bug: look again soon
                        log.warning(
                            "looking for due deliveries failed", extra={"error": repr(error)}
                        )
                    self._freed.clear()
                    waits = [asyncio.ensure_future(e.wait()) for e in (stop, self._freed)]
                    await asyncio.wait(
                        waits,
                        timeout=self.settings.webhook_poll_seconds,
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                    for wait in waits:
                        wait.cancel()
            finally:
                for task in list(self._tasks):
                    task.cancel()
                await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _start_due(self, http: aiohttp.ClientSession) -> None:
        partitions = sorted(self.held())
        free = self.settings.webhook_max_in_flight - len(self._in_flight)
        if not partitions or free <= 0:
            return
        per_webhook = self.settings.webhook_max_in_flight_per_webhook
        busy = Counter(self._in_flight.values())
        full = [webhook for webhook, n in busy.items() if n >= per_webhook]
        rows = await self.pool.fetch(
            DUE, partitions, list(self._in_flight), per_webhook, free * 2, full
        )
        for row in rows:
            if len(self._in_flight) >= self.settings.webhook_max_in_flight:
                break
            if busy[row["webhook_id"]] >= per_webhook:
                continue
            busy[row["webhook_id"]] += 1
            self._in_flight[row["id"]] = row["webhook_id"]
            IN_FLIGHT.set(len(self._in_flight))
            task = asyncio.create_task(self._deliver(http, dict(row)))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _deliver(self, http: aiohttp.ClientSession, row: dict) -> None:
        try:
            status, error = await self._attempt(http, row)
            await self._record(row, status, error)
        except Exception as failure:  # not recorded: still due, tried again
            log.warning(
                "delivery attempt not recorded",
                extra={"delivery_id": str(row["id"]), "error": repr(failure)},
            )
        finally:
            self._in_flight.pop(row["id"], None)
            IN_FLIGHT.set(len(self._in_flight))
            self._freed.set()

    async def _attempt(
        self, http: aiohttp.ClientSession, row: dict
    ) -> tuple[int | None, str | None]:
        """POST the signed event once: (the status code, or None; an error, or None)."""
        timeout = self.settings.webhook_timeout_seconds
        try:
            if not self.settings.webhook_allow_private_targets:
                await ssrf.check_url(row["url"])
            secret = self.box.open(row["encrypted_secret"])
            event = await payloads.with_urls(row["event"], self._sign)
            body = payloads.body_of(event)
            headers = payloads.signed_headers(secret, row["id"], datetime.now(UTC), body)
            async with http.post(
                row["url"],
                data=body,
                headers=headers,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=timeout),
            ) as answer:
                await answer.content.read(ANSWER_BYTES)
                status = answer.status
        except ssrf.RefusedTarget as refused:
            return None, f"refused: {refused}"
        except TimeoutError:
            return None, f"no answer within {timeout:g} s"
        except (aiohttp.ClientError, OSError, ValueError) as error:
            return None, printable(str(error) or type(error).__name__)
        if 200 <= status < 300:
            return status, None
        moved = " (redirects are not followed)" if 300 <= status < 400 else ""
        return status, f"answered {status}{moved}"

    async def _sign(self, bucket: str, key: str) -> str:
        return await self.objects.presign_get(bucket, key, self.settings.webhook_url_seconds)

    async def _record(self, row: dict, status: int | None, error: str | None) -> None:
        now = datetime.now(UTC)
        attempt = row["attempts"] + 1
        retry_at = None
        if error is None:
            kind = events.DeliverySucceeded
        else:
            retry_at = schedule.next_attempt(
                attempt, row["created_at"], now, scale=self.settings.webhook_retry_scale
            )
            kind = events.DeliveryFailed if retry_at is None else events.DeliveryRetrying
        event = kind.create(
            source=SOURCE,
            user_id=row["user_id"],
            data=events.DeliveryAttemptData(
                delivery_id=row["id"],
                webhook_id=row["webhook_id"],
                event_id=row["event_id"],
                event_type=row["event_type"],
                attempt=attempt,
                status_code=status,
                error=error,
                attempted_at=now,
                next_attempt_at=retry_at,
            ),
        )
        sequence = await self.bus.publish(event)
        ATTEMPTS.labels(event.type.removeprefix("webhook.delivery_")).inc()
        log.info(
            "webhook delivery attempted",
            extra={"delivery_id": str(row["id"]), "attempt": attempt, "outcome": event.type},
        )
        with contextlib.suppress(Exception):
            await self.shown(sequence, row["user_id"])


def http_session(allow_private_targets: bool) -> aiohttp.ClientSession:
    """The client of every attempt: no proxy from the environment, a connection per
    attempt, and (unless private targets are allowed) a resolver that refuses names of
    non-public addresses as the connection is made."""
    resolver = None if allow_private_targets else ssrf.GuardedResolver()
    connector = aiohttp.TCPConnector(
        resolver=resolver, limit=0, force_close=True, use_dns_cache=False
    )
    return aiohttp.ClientSession(connector=connector, trust_env=False)


def printable(text: str) -> str:
    """An error as a single line the contracts accept (no control characters), short."""
    return "".join(c if c.isprintable() else " " for c in text)[:500]
