"""Composition root of the workspace service: projection, commands, queries, reactors
and the expiry sweeper, over one set of connections."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from atelier.contracts import jobs as job_api
from atelier.contracts import workspace as api
from atelier.contracts.storage import WORKSPACE_BUCKET
from atelier.runtime.handlers import dispatch
from atelier.runtime.lifecycle import periodically
from atelier.runtime.limits import ActiveJobs
from atelier.runtime.service import live_projection, project_and_react, resources
from atelier.workspace import jobs, reactors
from atelier.workspace.commands import WorkspaceCommands
from atelier.workspace.config import WorkspaceSettings
from atelier.workspace.projection import WorkspaceProjection
from atelier.workspace.queries import WorkspaceQueries
from atelier.workspace.repository import AssetRepository
from atelier.workspace.sweeper import ExpirySweeper
from atelier.workspace.uploads import UploadSweeper


async def run(settings: WorkspaceSettings, stop: asyncio.Event) -> None:
    async with resources(
        settings,
        service=api.SERVICE,
        schema=settings.db_schema,
        durables=[reactors.DURABLE],
        bucket=WORKSPACE_BUCKET,
    ) as res:
        runner = await live_projection(res, WorkspaceProjection())
        assets = AssetRepository(res.pool)
        commands = WorkspaceCommands(res.bus, assets, until_shown=runner.wait_until_shown)
        queries = WorkspaceQueries(res.pool, res.objects, settings)
        progress = jobs.LatestProgress()
        await progress.follow(res.nc)
        job_queries = jobs.JobQueries(res.pool, res.bus, progress, runner.wait_for)
        await res.serve(
            [
                (job_api.GET_JOB, job_api.GetJob, job_queries.get_job),
                (job_api.LIST_JOBS, job_api.ListJobs, job_queries.list_jobs),
                (api.LIST_ASSETS, api.ListAssets, queries.list_assets),
                (api.SAVE_ASSET, api.SaveAsset, commands.save),
                (api.DISCARD_ASSET, api.DiscardAsset, commands.discard),
                (api.CLEAR, api.Clear, commands.clear),
                (api.LOCATE_IMAGE, api.LocateImage, queries.locate_image),
                (api.ASSET_SETTINGS, api.AssetSettingsOf, queries.asset_settings),
            ]
        )
        active_jobs = await ActiveJobs.open(res.bus.js)
        side_effects = reactors.WorkspaceReactors(
            res.bus, res.objects, active_jobs, timedelta(days=settings.workspace_retention_days)
        )
        reactions = reactors.consumer_config(), dispatch(reactors.HANDLERS, side_effects)

        def mine() -> frozenset[int]:
            """The periodic work is shared like the projection: each replica its users'."""
            return runner.held

        expiry = ExpirySweeper(res.bus, assets, mine)
        uploads = UploadSweeper(res.objects, timedelta(hours=settings.upload_retention_hours), mine)
        await project_and_react(
            res,
            stop,
            runner,
            reactions,
            periodically(stop, settings.sweep_interval_seconds, expiry.sweep, "sweep"),
            periodically(stop, settings.upload_sweep_interval_seconds, uploads.sweep, "uploads"),
            periodically(
                stop,
                settings.active_jobs_reconcile_seconds,
                lambda: active_jobs.reconcile(settings.admission_grace_seconds, mine()),
                "active jobs reconciliation",
            ),
        )
