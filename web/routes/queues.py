"""Queues (admin): depth, lag, consumers and rates of every queue and stream partition
(auto-refreshing), the worker processes' heartbeats, and the tenant's dead letters with
requeue and discard.

Queue figures are system-wide (the queues are shared by all tenants and carry no tenant data);
dead letters are always the caller's tenant's only.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from pulse.errors import PulseError
from pulse.ops import DeadLetterError
from storage.dead_letters import STATUSES
from storage.heartbeats import list_heartbeats
from storage.repositories.operations import get_dead_letter
from storage.schema import utcnow
from web.htmx import trigger
from web.routing import Ctx, RouteTable

table = RouteTable()
STAGES = ("extract", "transform", "load", "vectorize")


def _queue_context(ctx: Ctx) -> dict[str, Any]:
    access = ctx.web.queues
    stats, problem = [], None
    if not access.configured:
        problem = "Embedded mode (no RABBITMQ_URL): the stages hand records over in-process."
    else:
        try:
            stats = access.snapshot()
        except PulseError as exc:
            problem = f"RabbitMQ cannot be read: {exc.message}"
    now = utcnow()
    workers = [(w, (now - w.beat_at).total_seconds()) for w in list_heartbeats(ctx.db)]
    return {"stats": stats, "problem": problem, "workers": workers}


def _letters_context(ctx: Ctx) -> dict[str, Any]:
    status = ctx.query("status") or "open"
    stage = ctx.query("stage")
    letters = ctx.web.queues.dead_letters().find(
        tenant_id=ctx.tenant_id,
        status=status if status in STATUSES else None,
        stage=stage if stage in STAGES else None,
        limit=100,
    )
    return {
        "letters": letters,
        "letter_status": status,
        "stage": stage,
        "statuses": [(s, s) for s in STATUSES],
        "stages": [(s, s) for s in STAGES],
    }


@table.get("/queues", role="admin", blocks=("queue_table", "dead_letters"))
def queues_page(ctx: Ctx) -> Response:
    return ctx.render("queues.html", **_queue_context(ctx), **_letters_context(ctx))


def _resolve(ctx: Ctx, action: str) -> Response:
    letter_id = ctx.param("dead_letter_id")
    if get_dead_letter(ctx.db, ctx.tenant_id, letter_id) is None:
        ctx.not_found("This dead letter")
    letters = ctx.web.queues.dead_letters()
    try:
        if action == "requeue":
            message = (
                f"Dead letter {letter_id}: {letters.requeue(letter_id, tenant_id=ctx.tenant_id)}."
            )
        else:
            letters.discard(letter_id, tenant_id=ctx.tenant_id)
            message = f"Dead letter {letter_id} discarded."
    except DeadLetterError as exc:
        ctx.refuse(f"Cannot {action}: {exc.message}.")
    ctx.db.expire_all()  # resolved in the service's own transaction
    response = ctx.render("queues.html", block="dead_letters", **_letters_context(ctx))
    return trigger(response, showMessage=message)


@table.post("/queues/dead-letters/{dead_letter_id:int}/requeue", role="admin")
def dead_letter_requeue(ctx: Ctx) -> Response:
    return _resolve(ctx, "requeue")


@table.post("/queues/dead-letters/{dead_letter_id:int}/discard", role="admin")
def dead_letter_discard(ctx: Ctx) -> Response:
    return _resolve(ctx, "discard")
