"""`/api/v1/jobs` and `/api/v1/runs`: list jobs, a job's status, run one now, a run's status."""

from __future__ import annotations

from starlette.responses import JSONResponse, Response

from storage.repositories import jobs
from storage.repositories.job_board import job_card, job_cards
from web.api.serialize import job_json, run_json
from web.jobs_actions import JobActionRefused, allowed
from web.routing import Ctx, RouteTable

table = RouteTable()


@table.get("/api/v1/jobs", role="viewer", api=True)
def api_jobs(ctx: Ctx) -> Response:
    cards = job_cards(ctx.db, ctx.tenant_id)
    return JSONResponse({"jobs": [job_json(c, allowed(c)) for c in cards]})


@table.get("/api/v1/jobs/{job_id:int}", role="viewer", api=True)
def api_job(ctx: Ctx) -> Response:
    card = job_card(ctx.db, ctx.tenant_id, ctx.param("job_id"))
    if card is None:
        ctx.not_found("This job")
    return JSONResponse(job_json(card, allowed(card)))


@table.post("/api/v1/jobs/{job_id:int}/run", role="user", api=True)
def api_job_run(ctx: Ctx) -> Response:
    """Start a run now: 202 with the run, 409 when the job cannot start (with the reason)."""
    job_id = ctx.param("job_id")
    if job_card(ctx.db, ctx.tenant_id, job_id) is None:
        ctx.not_found("This job")
    try:
        result = ctx.web.jobs.perform(ctx.tenant_id, job_id, "run")
    except LookupError:
        ctx.not_found("This job")
    except JobActionRefused as refused:
        ctx.refuse(f"The job cannot start: {refused}.")
    assert result.run is not None
    run = jobs.get_run(ctx.db, ctx.tenant_id, result.run.id)
    assert run is not None
    return JSONResponse({"run": run_json(run), "message": result.message}, 202)


@table.get("/api/v1/runs/{run_id:int}", role="viewer", api=True)
def api_run(ctx: Ctx) -> Response:
    run = jobs.get_run(ctx.db, ctx.tenant_id, ctx.param("run_id"))
    if run is None:
        ctx.not_found("This run")
    return JSONResponse(run_json(run))
