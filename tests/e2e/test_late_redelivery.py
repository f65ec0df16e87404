"""A trigger that comes back after the stream's duplicate window (two minutes), as a
consumer reset, a restored backup or a replica paused for a day would deliver it; here
it is appended again under a new message id, which the window cannot catch either.
Nothing comes back to life, nothing is done twice, no job slot leaks or is freed twice."""

import json
import uuid

import pytest

from atelier.contracts import library_events as library
from atelier.contracts import subjects
from atelier.contracts import workspace_events as workspace
from atelier.contracts.storage import WORKSPACE_BUCKET
from atelier.contracts.streams import EVENTS
from atelier.library import reactors as library_reactors
from atelier.runtime.limits import ActiveJobs, Limits, UserLimits
from atelier.workspace import reactors as workspace_reactors
from tests.helpers import (
    bus,
    client,
    count_events,
    eventually,
    library_asset,
    library_items,
    library_keys,
    objects_exist,
    outcome,
    saved_asset,
    seeded_assets,
    settled,
    workspace_items,
)

pytestmark = pytest.mark.e2e

SLOW = {"model": "sdxl", "prompt": "x", "width": 128, "height": 128, "steps": 80}
LIBRARY_REACTORS, WORKSPACE_REACTORS = library_reactors.DURABLE, workspace_reactors.DURABLE


async def redeliver(platform, subject: str, *durables: str) -> None:
    """Deliver the last event on `subject` once more to each reactor's durable consumer,
    and everything after it: the consumer is reset to that event's stream sequence
    (JetStream's consumer reset, as an operator may do after restoring a backup)."""
    events = await bus(platform)
    try:
        sequence = (await events.js.get_last_msg(EVENTS.name, subject)).seq
        for durable in durables:
            reply = await events.nc.request(
                f"$JS.API.CONSUMER.RESET.{EVENTS.name}.{durable}",
                json.dumps({"seq": sequence}).encode(),
                timeout=5,
            )
            assert json.loads(reply.data).get("reset_seq") == sequence, reply.data
    finally:
        await events.nc.close()


def library_subject(user, library_id, event) -> str:
    return subjects.aggregate(user, library.ASSET_KIND, uuid.UUID(library_id), event.name)


def workspace_subject(user, asset_id, event) -> str:
    return subjects.aggregate(user, workspace.KIND, uuid.UUID(asset_id), event.name)


async def unsaved(api) -> bool:
    (item,) = await workspace_items(api)
    return item["library_asset_id"] is None


async def test_a_late_save_does_not_bring_back_a_deleted_library_asset(platform):
    user = uuid.uuid4()
    async with client(platform, user) as api:
        asset, library_id = await saved_asset(platform, api, user)
        assert (await api.delete(f"/v1/library/assets/{library_id}")).status_code == 200
        await eventually(lambda: unsaved(api))
        await settled(platform)

        saved = workspace_subject(user, asset["id"], workspace.AssetSaved)
        await redeliver(platform, saved, LIBRARY_REACTORS)
        await settled(platform)
        assert await library_items(api) == []
    assert await library_keys(platform, user, library_id) == []
    assert await count_events(platform, library_subject(user, library_id, library.AssetStored)) == 1


async def test_a_late_copy_does_not_bring_back_a_discarded_workspace_copy(platform):
    user = uuid.uuid4()
    async with client(platform, user) as api:
        _, library_id = await saved_asset(platform, api, user)
        copy_id = (await api.post(f"/v1/library/assets/{library_id}/copy-to-workspace")).json()[
            "workspace_asset_id"
        ]

        async def listed() -> bool:
            return copy_id in {item["id"] for item in await workspace_items(api)}

        await eventually(listed)
        assert (await api.delete(f"/v1/workspace/assets/{copy_id}")).status_code == 200
        await settled(platform)

        copied = library_subject(user, library_id, library.CopiedToWorkspace)
        await redeliver(platform, copied, WORKSPACE_REACTORS)
        await settled(platform)
        assert not await listed()
    keys = [f"{user}/copies/{copy_id}.png", f"{user}/copies/{copy_id}.thumb.webp"]
    assert await objects_exist(platform, WORKSPACE_BUCKET, *keys) == [False, False]
    assert await count_events(platform, workspace_subject(user, copy_id, workspace.AssetAdded)) == 1
    assert (
        await count_events(platform, workspace_subject(user, copy_id, workspace.FilesDeleted)) == 1
    )


async def test_a_late_library_deletion_leaves_the_asset_saved_since_alone(platform):
    """Saving one workspace asset always names the same library asset and the same keys:
    a deletion of the earlier copy, coming back, must not delete the new one's files."""
    user = uuid.uuid4()
    async with client(platform, user) as api:
        asset, library_id = await saved_asset(platform, api, user)
        await api.delete(f"/v1/library/assets/{library_id}")
        await eventually(lambda: unsaved(api))
        await api.post(f"/v1/workspace/assets/{asset['id']}/save")
        await library_asset(api, library_id)
        await settled(platform)

        deletion = library_subject(user, library_id, library.AssetDeleted)
        await redeliver(platform, deletion, LIBRARY_REACTORS, WORKSPACE_REACTORS)
        await settled(platform)
        assert [item["id"] for item in await library_items(api)] == [library_id]
        (item,) = await workspace_items(api)
        assert item["library_asset_id"] == library_id, "the new copy still counts as saved"
    assert len(await library_keys(platform, user, library_id)) == 2, "the new copy's files"
    deleted = library_subject(user, library_id, library.LibraryFilesDeleted)
    assert await count_events(platform, deleted) == 1


async def test_a_late_discard_deletes_nothing_twice(platform):
    user = uuid.uuid4()
    async with client(platform, user) as api:
        (asset,) = await seeded_assets(platform, api, user, 1)
        assert (await api.delete(f"/v1/workspace/assets/{asset['id']}")).status_code == 200
        await settled(platform)
        discarded = workspace_subject(user, asset["id"], workspace.AssetDiscarded)
        await redeliver(platform, discarded, WORKSPACE_REACTORS)
        await settled(platform)
    deleted = workspace_subject(user, asset["id"], workspace.FilesDeleted)
    assert await count_events(platform, deleted) == 1


async def test_a_late_outcome_frees_no_other_jobs_slot(platform):
    """Five slow jobs fill the user's five slots; one is cancelled, and its outcome comes
    back late: the other four still count (a counter would have dropped to three and let
    two more in), so one more job is admitted and the next refused."""
    user = uuid.uuid4()
    events = await bus(platform)
    active = await ActiveJobs.open(events.js)
    try:
        async with client(platform, user) as api:
            jobs = [
                (await api.post("/v1/generations", json=SLOW)).json()["job_id"] for _ in "12345"
            ]
            await api.post(f"/v1/generations/{jobs[0]}/cancel")
            ended = await outcome(platform, user, jobs[0])
            await eventually(lambda: _active(active, user, set(jobs[1:])))

            await redeliver(platform, ended.subject, WORKSPACE_REACTORS)
            await settled(platform)
            assert set(await active.of(user)) == set(jobs[1:])
            fifth = await api.post("/v1/generations", json=SLOW)
            assert fifth.status_code == 202, fifth.text
            jobs.append(fifth.json()["job_id"])
            refused = await api.post("/v1/generations", json=SLOW)
            assert refused.status_code == 429, refused.text

            for job in jobs[1:]:
                await api.post(f"/v1/generations/{job}/cancel")
            for job in jobs[1:]:
                await outcome(platform, user, job)
            await eventually(lambda: _active(active, user, set()))
    finally:
        await events.nc.close()


async def test_a_slot_whose_gateway_died_before_publishing_is_freed(platform):
    """Admitted, then the gateway died before the job reached the log: the workspace's
    reconciliation frees the slot after the grace period (5 s in the test platform)."""
    user, job = uuid.uuid4(), uuid.uuid4()
    events = await bus(platform)
    try:
        active = await ActiveJobs.open(events.js)
        gateway = Limits(events.js, active, UserLimits(max_active_jobs=5, submits_per_minute=60))
        await gateway.admit(user, job)
        assert set(await active.of(user)) == {str(job)}
        await eventually(lambda: _active(active, user, set()), timeout=30)
    finally:
        await events.nc.close()


async def _active(active: ActiveJobs, user: uuid.UUID, jobs: set[str]) -> bool:
    return set(await active.of(user)) == jobs
