"""Jobs, the home page: one card per job with its state, schedule, last run and a live panel
while a run is in flight; actions (run now, pause, resume, cancel, retry) offered only where
they apply; run history with durations and errors; the schedule edit."""

from __future__ import annotations

from starlette.responses import Response

from pulse.jobs import ProgressEvent
from storage.repositories.job_board import (
    MAX_INTERVAL_SECONDS,
    MIN_INTERVAL_SECONDS,
    JobCard,
    job_card,
    job_cards,
    run_history,
    set_schedule,
)
from storage.repositories.mappings import EditError
from storage.schema import RUN_STATES, utcnow
from web.htmx import trigger
from web.jobs_actions import ACTIONS, JobActionRefused, allowed
from web.live import STAGE_LABELS, live_stats
from web.pagination import PageRequest
from web.routing import Ctx, RouteTable

table = RouteTable()


def card_view(card: JobCard, event: ProgressEvent | None = None) -> dict[str, object]:
    """What a card template needs; shared with the live stream."""
    run = card.last_run
    now = utcnow()
    return {
        "card": card,
        "allowed": allowed(card),
        "live": live_stats(run, now, event) if card.active_run is not None and run else None,
        "stage_labels": STAGE_LABELS,
        "last_duration": (
            (run.finished_at - run.started_at).total_seconds()
            if run and run.finished_at and run.started_at
            else None
        ),
    }


@table.get("/jobs", role="viewer", blocks=("runs",))
def jobs_page(ctx: Ctx) -> Response:
    state = ctx.query("state")
    runs = run_history(ctx.db, ctx.tenant_id, state=state or None, limit=15)
    if ctx.requested_block == "runs":  # the state filter changed: the cards stay as they are
        return ctx.render("jobs.html", runs=runs, state=state)
    cards = [card_view(c) for c in job_cards(ctx.db, ctx.tenant_id)]
    return ctx.render("jobs.html", cards=cards, runs=runs, state=state, run_states=RUN_STATES)


@table.get("/jobs/{job_id:int}", role="viewer", blocks=("runs",))
def job_page(ctx: Ctx) -> Response:
    card = job_card(ctx.db, ctx.tenant_id, ctx.param("job_id"))
    if card is None:
        ctx.not_found("This job")
    page = PageRequest.of(ctx.query("page"), ctx.query("size"), default_size=25)
    state = ctx.query("state")
    runs = run_history(
        ctx.db,
        ctx.tenant_id,
        job_id=card.job.id,
        state=state or None,
        limit=page.size + 1,
        offset=page.offset,
    )
    return ctx.render(
        "job.html",
        view=card_view(card),
        runs=runs[: page.size],
        more=len(runs) > page.size,
        page=page,
        state=state,
        run_states=RUN_STATES,
        schedule={
            "schedule_interval_seconds": card.job.schedule_interval_seconds,
            "retry_interval_seconds": card.job.retry_interval_seconds,
        },
        limits=(MIN_INTERVAL_SECONDS, MAX_INTERVAL_SECONDS),
    )


def _act(ctx: Ctx, action: str) -> Response:
    job_id = ctx.param("job_id")
    if job_card(ctx.db, ctx.tenant_id, job_id) is None:
        ctx.not_found("This job")
    try:
        result = ctx.web.jobs.perform(ctx.tenant_id, job_id, action)
    except LookupError:
        ctx.not_found("This job")
    except JobActionRefused as refused:
        ctx.refuse(f"Cannot {action}: {refused}.")
    ctx.db.expire_all()  # the service committed in its own transaction
    card = job_card(ctx.db, ctx.tenant_id, job_id)
    assert card is not None
    response = ctx.fragment("_job_card.html", view=card_view(card))
    return trigger(response, showMessage=result.message)


def _register_actions() -> None:
    for action in ACTIONS:

        def handler(ctx: Ctx, action: str = action) -> Response:
            return _act(ctx, action)

        handler.__name__ = f"job_{action}"
        handler.__doc__ = f"{action.capitalize()} a job (role user)."
        table.add(f"/jobs/{{job_id:int}}/{action}", handler, methods=("POST",), role="user")


_register_actions()


@table.post("/jobs/{job_id:int}/schedule", role="admin")
def job_schedule(ctx: Ctx) -> Response:
    form = ctx.form
    values = {
        name: form.integer(name, minimum=MIN_INTERVAL_SECONDS, maximum=MAX_INTERVAL_SECONDS)
        for name in ("schedule_interval_seconds", "retry_interval_seconds")
    }
    job = None
    if form.ok:
        try:
            job = set_schedule(ctx.db, ctx.tenant_id, ctx.param("job_id"), **values)
        except EditError as exc:
            form.fail(exc.field, exc.message)
        else:
            if job is None:
                ctx.not_found("This job")
    status = 200 if form.ok else 422
    response = ctx.render(
        "job.html",
        block="schedule_form",
        schedule=form.values() if not form.ok else values,
        errors=form.errors,
        job_id=ctx.param("job_id"),
        limits=(MIN_INTERVAL_SECONDS, MAX_INTERVAL_SECONDS),
        status=status,
    )
    return trigger(response, showMessage="Schedule saved.") if form.ok else response
