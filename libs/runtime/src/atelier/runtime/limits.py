"""Per-user limits that hold across every gateway replica, kept in JetStream.

- **Submits a minute**: a counter subject per user and minute (`Nats-Incr`). The server
  adds atomically and answers with the total, so replicas admitting at once cannot
  overshoot.
- **Active jobs**: the *set* of a user's admitted jobs, one key per user in the KV bucket
  `ATELIER_ACTIVE_JOBS`, changed only by compare-and-set on its revision. A job joins the
  set when admitted and leaves it when its outcome is on the log (the workspace reactor).
  Admitting or releasing one job twice, however late the repeat, changes nothing: the
  set, unlike a counter, remembers which jobs it holds. `reconcile` mends what a crash
  leaves behind, from the log: a job admitted by a gateway that died before publishing
  it (no trace on the log after a grace period), or a job that ended without its release.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import json
import logging
import random
import time
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime

from nats.js.client import JetStreamContext
from nats.js.errors import (
    BadRequestError,
    KeyNotFoundError,
    KeyWrongLastSequenceError,
    NoKeysError,
    NotFoundError,
)
from nats.js.kv import KeyValue

from atelier.contracts import subjects
from atelier.contracts.generation import OUTCOMES
from atelier.contracts.partitions import PARTITIONS, partition_of
from atelier.contracts.streams import ACTIVE_JOBS, EVENTS
from atelier.runtime.bus import WRONG_LAST_SEQUENCE

log = logging.getLogger(__name__)

_OUTCOME_NAMES = frozenset(outcome.name for outcome in OUTCOMES)
ALL_PARTITIONS = frozenset(range(PARTITIONS))

#: Compare-and-set attempts on one user's set before giving up (only that user's own
#: simultaneous requests compete for it).
_ATTEMPTS = 20


class LimitExceeded(Exception):
    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retry_after = retry_after


class QuotaExceeded(LimitExceeded):
    """A daily quota of the user's tier is used up: which, how much, and when it resets
    (the next midnight, UTC)."""

    def __init__(self, quota: str, used: float, limit: float, now: float) -> None:
        resets_at = (int(now // 86400) + 1) * 86400
        super().__init__(
            f"the daily quota {quota} is used up ({used:g} of {limit:g}); it resets at "
            f"{datetime.fromtimestamp(resets_at, UTC).isoformat().replace('+00:00', 'Z')}",
            retry_after=max(1, int(resets_at - now)),
        )
        self.quota, self.used, self.limit = quota, used, limit
        self.resets_at = datetime.fromtimestamp(resets_at, UTC)


class DailyJobs:
    """Jobs each user was admitted today (UTC), over every gateway replica: a counter
    subject per user and day, like the submits a minute."""

    def __init__(self, js: JetStreamContext) -> None:
        self.js = js

    async def admit(self, user_id: uuid.UUID, limit: int) -> None:
        """Count one job; QuotaExceeded (and not counted) beyond `limit`."""
        now = time.time()
        subject = subjects.jobs_in_day(user_id, int(now // 86400))
        count = await _add(self.js, subject, 1)
        if count > limit:
            await _add(self.js, subject, -1)
            raise QuotaExceeded("jobs_per_day", count - 1, limit, now)

    async def release(self, user_id: uuid.UUID) -> None:
        """A job counted today that was not queued after all."""
        await _add(self.js, subjects.jobs_in_day(user_id, int(time.time() // 86400)), -1)


@dataclass(frozen=True)
class UserLimits:
    max_active_jobs: int
    submits_per_minute: int


#: A user's admitted jobs: job id → when it was admitted (seconds since the epoch).
Jobs = dict[str, float]


class ActiveJobs:
    """The KV bucket of every user's admitted, not yet ended, jobs."""

    def __init__(self, js: JetStreamContext, kv: KeyValue) -> None:
        self.js = js
        self.kv = kv

    @classmethod
    async def open(cls, js: JetStreamContext) -> ActiveJobs:
        return cls(js, await js.key_value(ACTIVE_JOBS.name))

    async def admit(
        self,
        user_id: uuid.UUID,
        job_id: uuid.UUID,
        limit: int,
        known: tuple[Jobs, int | None] | None = None,
    ) -> None:
        """Add the job to the user's set; LimitExceeded when `limit` jobs are in it.
        `known`: the set and its revision as just read (`read`), to save a round trip."""

        def add(jobs: Jobs) -> Jobs | None:
            if str(job_id) in jobs:
                return None
            if len(jobs) >= limit:
                raise LimitExceeded(f"at most {limit} jobs queued or running at once", 5)
            return {**jobs, str(job_id): time.time()}

        await self._change(user_id, add, known)

    async def release(self, user_id: uuid.UUID, job_id: uuid.UUID) -> bool:
        """The job ended (or was never queued): it no longer counts. False if it did not."""

        def remove(jobs: Jobs) -> Jobs | None:
            if str(job_id) not in jobs:
                return None
            return {job: at for job, at in jobs.items() if job != str(job_id)}

        return await self._change(user_id, remove)

    async def of(self, user_id: uuid.UUID) -> Jobs:
        return (await self.read(user_id))[0]

    async def read(self, user_id: uuid.UUID) -> tuple[Jobs, int | None]:
        """The user's set and its revision (None: no key yet)."""
        return await self._read(str(user_id))

    async def reconcile(
        self, grace_seconds: float, partitions: Collection[int] = ALL_PARTITIONS
    ) -> int:
        """Release the jobs the log says are over: ended, or admitted over `grace_seconds`
        ago and never published; of the users of `partitions` (a replica's share). Returns
        how many it released."""
        try:
            users = await self.kv.keys()
        except NoKeysError:
            return 0
        released = 0
        for user in (user for user in users if partition_of(user) in partitions):
            for job, admitted_at in (await self._read(user))[0].items():
                state = await self._state_on_log(user, job)
                gone = state == "absent" and time.time() - admitted_at > grace_seconds
                if (state == "ended" or gone) and await self.release(
                    uuid.UUID(user), uuid.UUID(job)
                ):
                    released += 1
                    log.info("active job released by reconciliation", extra={"job": job})
        return released

    async def _state_on_log(self, user: str, job: str) -> str:
        """`absent`, `ended` or `active`: what the job's last event on the log says."""
        history = subjects.generation_history(uuid.UUID(user), uuid.UUID(job))
        try:
            last = await self.js.get_last_msg(EVENTS.name, history)
        except NotFoundError:
            return "absent"
        return "ended" if last.subject.rsplit(".", 1)[-1] in _OUTCOME_NAMES else "active"

    async def _read(self, key: str) -> tuple[Jobs, int | None]:
        try:
            entry = await self.kv.get(key)
        except KeyNotFoundError:
            return {}, None
        return json.loads(entry.value or b"{}"), entry.revision

    async def _change(
        self,
        user_id: uuid.UUID,
        edit: Callable[[Jobs], Jobs | None],
        known: tuple[Jobs, int | None] | None = None,
    ) -> bool:
        """Apply `edit` to the user's set with compare-and-set, again on a conflict.
        `edit` returns None when there is nothing to change. Returns whether it changed.
        `known` (a recent read) spares the first read; a stale one only costs a retry."""
        key = str(user_id)
        for attempt in range(_ATTEMPTS):
            jobs, revision = known if known is not None else await self._read(key)
            known = None
            changed = edit(jobs)
            if changed is None:
                return False
            try:
                if revision is None:
                    await self.kv.create(key, json.dumps(changed).encode())
                elif changed:
                    await self.kv.update(key, json.dumps(changed).encode(), last=revision)
                else:
                    await self.kv.delete(key, last=revision)
                return True
            except KeyWrongLastSequenceError:
                pass
            except BadRequestError as error:  # a conditional delete reports it this way
                if error.err_code != WRONG_LAST_SEQUENCE:
                    raise
            await asyncio.sleep(random.uniform(0, 0.01 * (attempt + 1)))
        raise LimitExceeded("too many requests at the same moment; retry", retry_after=1)


class Limits:
    """The gateway's side: count a submit and admit the job, or refuse it."""

    def __init__(self, js: JetStreamContext, active: ActiveJobs, limits: UserLimits) -> None:
        self.js = js
        self.active = active
        self.limits = limits

    async def admit(
        self, user_id: uuid.UUID, job_id: uuid.UUID, max_active_jobs: int | None = None
    ) -> None:
        """Count one submit and admit one active job; LimitExceeded (and the job not
        admitted) when either limit is passed. `max_active_jobs`: the user's own cap (their
        tier's), instead of everyone's."""
        now = time.time()
        # Two round trips at once: the count, and the read the compare-and-set needs.
        submits, active = await asyncio.gather(
            _add(self.js, subjects.submits_in_minute(user_id, int(now // 60)), 1),
            self.active.read(user_id),
        )
        if submits > self.limits.submits_per_minute:
            raise LimitExceeded(
                f"at most {self.limits.submits_per_minute} submits a minute",
                retry_after=max(1, int(60 - now % 60) + 1),
            )
        cap = max_active_jobs or self.limits.max_active_jobs
        await self.active.admit(user_id, job_id, cap, known=active)

    async def release(self, user_id: uuid.UUID, job_id: uuid.UUID) -> None:
        await self.active.release(user_id, job_id)


class AnonymousRequests:
    """Requests a minute per client address for the routes anyone may call (share links,
    the public gallery), over every gateway replica: a counter subject per hashed address
    and minute in ATELIER_RATES, like the users' submits. An IPv6 client counts by its
    /64 (one host usually holds a whole one)."""

    def __init__(self, js: JetStreamContext, per_minute: int) -> None:
        self.js = js
        self.per_minute = per_minute

    async def admit(self, address: str) -> None:
        """Count one request of `address`; LimitExceeded beyond the rate (until the
        minute ends)."""
        now = time.time()
        subject = subjects.anonymous_requests_in_minute(client_key(address), int(now // 60))
        if await _add(self.js, subject, 1) > self.per_minute:
            raise LimitExceeded(
                f"at most {self.per_minute} requests a minute from one address",
                retry_after=max(1, int(60 - now % 60) + 1),
            )


def client_key(address: str) -> str:
    """A pseudonym of a client address for a subject: its hash (the stream keeps no
    address), the same for every address of one IPv6 /64."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        ip = None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if isinstance(ip, ipaddress.IPv6Address):
        address = str(ipaddress.IPv6Network(f"{ip}/64", strict=False))
    elif ip is not None:
        address = str(ip)
    return hashlib.blake2b(address.encode(), digest_size=16, person=b"atelier-anon").hexdigest()


async def _add(js: JetStreamContext, subject: str, delta: int) -> int:
    """Add `delta` to a counter subject; the new total.
    (A counter publish may not name its stream: the subject decides.)"""
    ack = await js.publish(subject, b"", headers={"Nats-Incr": str(delta)})
    return int(ack.val) if ack.val is not None else 0
