"""The workspace projection's writes for each example event, with no database: what it
would send, and that the table it is declared by is the only list of what it reads."""

import uuid
from datetime import UTC, datetime, timedelta

from atelier.contracts import asset_columns, examples, subjects
from atelier.contracts import generation as gen
from atelier.contracts import workspace_events as events
from atelier.contracts.generation import generated_asset_id
from atelier.workspace.projection import WorkspaceProjection, lifetime
from tests.fakes import statements

USER = uuid.uuid4()
projection = WorkspaceProjection()


def test_it_reads_exactly_the_events_its_table_names():
    assert projection.subjects == tuple(t.subject_filter() for t in projection.handlers)
    completed = examples.completed(USER)
    assert any(subjects.matches(f, completed.subject) for f in projection.subjects)
    files_deleted = events.FilesDeleted.create(
        source="workspace",
        user_id=USER,
        data=events.FilesDeletedData(asset_id=uuid.uuid4(), keys=[]),
    )
    assert not any(subjects.matches(f, files_deleted.subject) for f in projection.subjects)


async def test_a_request_queues_a_job():
    requested = examples.requested(USER)
    ((sql, args),) = await statements(projection, requested)
    assert sql.startswith("INSERT INTO generation_jobs")
    assert args[:3] == (requested.data.job_id, USER, "sdxl")


async def test_a_completed_job_ends_and_each_file_becomes_an_asset():
    completed = examples.completed(USER, num_images=2)
    job = completed.data.job_id
    sent = await statements(projection, completed)
    assert [sql.split(" ")[0] for sql, _ in sent] == ["UPDATE", "INSERT", "INSERT"]
    job_update, *inserts = sent
    assert job_update[1][:2] == (job, "completed")
    assert job_update[1][-1] == [generated_asset_id(job, 0), generated_asset_id(job, 1)]
    for index, (_, args) in enumerate(inserts):
        asset = completed.data.assets[index]
        assert args[:4] == (USER, generated_asset_id(job, index), job, index)
        columns = dict(zip(asset_columns.NAMES, args[4:-2], strict=True))
        assert columns["storage_key"] == asset.storage_key
        assert columns["original_prompt"] == completed.data.spec.prompt
        assert "prompt" not in columns["generation_settings"]
        assert args[-2:] == lifetime(completed)


async def test_an_asset_leaves_on_discard_removal_or_expiry():
    for event_type in events.LEFT:
        left = event_type.create(
            source="workspace",
            user_id=USER,
            data=events.AssetLeftData(
                asset_id=uuid.uuid4(), storage_key=f"{USER}/a.png", thumbnail_key=f"{USER}/a.webp"
            ),
        )
        ((sql, args),) = await statements(projection, left)
        assert sql.startswith("DELETE FROM workspace_assets")
        assert args == (left.data.asset_id, USER)


async def test_a_job_only_moves_forward_whatever_comes_late():
    """A late `started` (a redelivered attempt) never reopens a finished job."""
    requested = examples.requested(USER)
    started = gen.GenerationStarted.create(
        source="gpu-sdxl",
        user_id=USER,
        causation=requested,
        data=gen.GenerationStartedData(
            job_id=requested.data.job_id, model="sdxl", worker_id="w", attempt=2
        ),
    )
    ((sql, _),) = await statements(projection, started)
    assert "status IN ('queued', 'running')" in sql


def test_expiry_is_the_events_and_never_todays_setting():
    old = examples.completed(USER)
    later = datetime(2031, 1, 1, tzinfo=UTC)
    new = old.model_copy(update={"data": old.data.model_copy(update={"expires_at": later})})
    assert lifetime(old)[1] == old.occurred_at + timedelta(days=7)
    assert lifetime(new)[1] == later
