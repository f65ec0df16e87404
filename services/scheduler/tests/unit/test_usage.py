"""The usage projection's writes for each outcome, with no database."""

import datetime as dt
import uuid

from atelier.contracts import examples
from atelier.contracts.generation import (
    GenerationFailed,
    GenerationFailedData,
)
from atelier.scheduler.usage import UsageProjection
from tests.fakes import statements

projection = UsageProjection()
USER = uuid.uuid4()


def test_it_reads_the_requests_and_the_outcomes():
    names = {t.model_fields["type"].default for t in projection.handlers}
    assert names == {
        "generation.requested",
        "generation.completed",
        "generation.failed",
        "generation.cancelled",
    }


async def test_a_request_remembers_its_quality_and_counts_on_its_day():
    request = examples.requested(USER, quality="high")
    (_, remembered), (_, counted) = await statements(projection, request)
    assert remembered == (request.data.job_id, USER, "sdxl", "high")
    day = request.occurred_at.astimezone(dt.UTC).date()
    assert counted == (USER, day, "sdxl", "high", 1, 0, 0, 0, 0, 0, 0.0, 0.0)


async def test_a_completion_counts_its_images_and_its_share_of_the_gpu_time():
    completed = examples.completed(USER, num_images=3)
    data = completed.data.model_copy(update={"inference_seconds": 6.0, "gpu_seconds": 1.5})
    ((_, args),) = await statements(projection, completed.model_copy(update={"data": data}))
    assert args[4:] == (0, 1, 0, 0, 3, 0, 0.0, 1.5)
    older = completed.data.model_copy(update={"inference_seconds": 6.0, "gpu_seconds": None})
    ((_, args),) = await statements(projection, completed.model_copy(update={"data": older}))
    assert args[-1] == 6.0  # before shares were recorded: the call's time


async def test_a_failure_is_counted_under_the_quality_its_request_asked_for():
    job = uuid.uuid4()
    failed = GenerationFailed.create(
        source="gpu-sdxl",
        user_id=USER,
        data=GenerationFailedData(job_id=job, model="sdxl", reason="boom", code="internal"),
    )
    ((sql, args),) = await statements(projection, failed)
    assert "FROM usage_jobs WHERE job_id = $4" in sql
    assert args[3:] == (job, 1, 0)
