"""A typed Python client generated from the running gateway's own OpenAPI document by a
maintained generator (openapi-python-client), as a frontend would make one, drives one
generation end to end: submit, follow the job to completion, list the workspace."""

from __future__ import annotations

import asyncio
import importlib
import uuid

import httpx
import pytest

from tests.contracts.tools import generate_client

pytestmark = pytest.mark.e2e


async def test_a_generated_client_submits_follows_and_lists_a_generation(platform, tmp_path):
    async with httpx.AsyncClient(base_url=platform.gateway_url) as http:
        document = (await http.get("/openapi.json")).raise_for_status().json()
    client = generate_client(document, tmp_path)

    def operation(tag: str, name: str):
        return importlib.import_module(f"{client.__name__}.api.{tag}.{tag}_{name}")

    models = importlib.import_module(f"{client.__name__}.models")
    api = client.AuthenticatedClient(
        base_url=platform.gateway_url, token=platform.token(uuid.uuid4()), timeout=httpx.Timeout(30)
    )
    async with api:
        body = models.GenerationRequest(
            model=models.GenerationRequestModel.SDXL,
            prompt="a lighthouse, through a generated client",
            num_images=2,
            width=64,
            height=64,
            steps=1,
            seed=7,
        )
        submitted = await operation("generations", "submit_generation").asyncio_detailed(
            client=api, body=body
        )
        assert submitted.status_code == 202, submitted.content
        accepted = submitted.parsed
        assert isinstance(accepted, models.JobAccepted)
        assert accepted.status == models.JobAcceptedStatus.QUEUED

        get_generation = operation("generations", "get_generation")
        async with asyncio.timeout(120):
            while True:  # a job just submitted may be a moment from being recorded (404/503)
                job = await get_generation.asyncio(job_id=accepted.job_id, client=api)
                if isinstance(job, models.JobStatus) and job.status in (
                    models.JobStatusStatus.COMPLETED,
                    models.JobStatusStatus.FAILED,
                    models.JobStatusStatus.CANCELLED,
                ):
                    break
                await asyncio.sleep(0.3)
        assert job.status == models.JobStatusStatus.COMPLETED, job.error
        assert len(job.asset_ids) == 2
        assert job.spec.additional_properties["seed"] == 7

        page = await operation("workspace", "list_assets").asyncio(client=api, limit=100)
        assert isinstance(page, models.WorkspaceAssetPage)
        mine = [asset for asset in page.items if asset.job_id == accepted.job_id]
        assert sorted(asset.id for asset in mine) == sorted(job.asset_ids)
        assert [asset.generation_seed for asset in sorted(mine, key=lambda a: a.asset_index)] == [
            7,
            8,
        ]
        assert {asset.asset_type for asset in mine} == {models.WorkspaceAssetAssetType.IMAGE}

        missing = await get_generation.asyncio_detailed(job_id=uuid.uuid4(), client=api)
        assert missing.status_code == 404
        assert isinstance(missing.parsed, models.Problem)
        assert missing.parsed.status == 404
