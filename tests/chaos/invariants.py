"""What must hold after any fault, once the platform is back and at rest:

- every accepted request has exactly one outcome (completed, failed with a reason, or
  cancelled), on the log and in its status;
- no event is lost or appended twice (a fact appended once per subject; the projections
  at the end of the log);
- every object a row references exists, and no object is left without a row;
- the live tables equal the tables rebuilt from the log.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter

from atelier.contracts.storage import LIBRARY_BUCKET, WORKSPACE_BUCKET
from atelier.contracts.streams import EVENTS
from atelier.contracts.subjects import user_events
from atelier.platform.local import Platform
from atelier.stack.servers.s3 import s3_client
from tests.chaos.load import Load
from tests.helpers import bus, client, outcome, rebuild, settled, user_rows

OUTCOME_NAMES = ("completed", "failed", "cancelled")
#: Facts that happen at most once to their aggregate (the subject's last token).
ONCE = {
    "generation": {"requested", "dispatched", *OUTCOME_NAMES},
    "workspace": {"added", "files_deleted"},
    "library": {"stored", "deleted", "files_deleted"},
}


async def await_outcomes(platform: Platform, load: Load, timeout: float = 180.0) -> Counter:
    """Wait for each accepted job's outcome; how many ended which way."""
    ended = await asyncio.gather(
        *(outcome(platform, load.user, job, timeout=timeout) for job in load.accepted)
    )
    return Counter(event.name for event in ended)


async def check(platform: Platform, loads: list[Load]) -> None:
    """Every invariant, over every user the suite has driven so far."""
    await settled(platform, timeout=120)
    for load in loads:
        await _one_outcome_per_job(platform, load)
        await _objects_match_rows(platform, load.user)
    await _rebuild_gives_live_tables(platform, [load.user for load in loads])


async def _one_outcome_per_job(platform: Platform, load: Load) -> None:
    subjects = await _subject_counts(platform, load.user)
    jobs: dict[str, list[str]] = {}
    for subject, count in subjects.items():
        kind, aggregate, name = _parse(subject)
        assert count == 1 or name not in ONCE.get(kind, ()), f"{subject} appended {count} times"
        if kind == "generation":
            jobs.setdefault(aggregate, []).append(name)
    assert set(load.accepted) <= set(jobs), "an accepted job is not on the log"
    async with client(platform, load.user) as api:
        for job, names in jobs.items():
            ended = [name for name in names if name in OUTCOME_NAMES]
            assert "requested" in names, (job, sorted(names))
            assert len(ended) == 1, (job, sorted(names))
            status = (await api.get(f"/v1/generations/{job}")).json()
            assert status["status"] == ended[0], (job, status)
            assert (status["error"] is not None) == (ended[0] == "failed"), status


async def _subject_counts(platform: Platform, user: uuid.UUID) -> dict[str, int]:
    events = await bus(platform)
    try:
        info = await events.js.stream_info(EVENTS.name, subjects_filter=user_events(user))
        return dict(info.state.subjects or {})
    finally:
        await events.nc.close()


def _parse(subject: str) -> tuple[str, str, str]:
    """(kind, aggregate id, event name) of `atelier.user.{user}.{kind}…{id}.{event}`."""
    parts = subject.split(".")
    return parts[3], parts[-2], parts[-1]


async def _objects_match_rows(platform: Platform, user: uuid.UUID) -> None:
    rows = await user_rows(platform, user)
    for bucket, table in ((WORKSPACE_BUCKET, "workspace.workspace_assets"),
                          (LIBRARY_BUCKET, "library.user_library")):  # fmt: skip
        referenced = {row[k] for row in rows[table] for k in ("storage_key", "thumbnail_key")}
        stored = set(await asyncio.to_thread(_keys, platform, bucket, f"{user}/"))
        assert referenced - stored == set(), f"rows of {table} reference missing objects"
        assert stored - referenced == set(), f"objects in {bucket} without a row"


def _keys(platform: Platform, bucket: str, prefix: str) -> list[str]:
    endpoints = platform.endpoints
    assert endpoints is not None
    s3 = s3_client(endpoints.s3_endpoint_url, endpoints.s3_access_key, endpoints.s3_secret_key)
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [item["Key"] for page in pages for item in page.get("Contents", [])]


async def _rebuild_gives_live_tables(platform: Platform, users: list[uuid.UUID]) -> None:
    live = {user: await user_rows(platform, user) for user in users}
    services = ("workspace", "library", "scheduler")
    await asyncio.gather(*(asyncio.to_thread(rebuild, platform, s) for s in services))
    for user in users:
        assert await user_rows(platform, user) == live[user], f"rebuilt tables differ ({user})"
