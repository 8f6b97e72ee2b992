"""Workflows: each scope's ordered steps (tenant-wide, or one integration's own), reorder,
category, the one commitment point per workflow, and which statuses land on each step."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from starlette.responses import Response

from storage.repositories import config, integrations, mappings
from storage.repositories.mappings import EditError
from storage.schema import STEP_CATEGORIES
from web.htmx import trigger
from web.routing import Ctx, RouteTable

table = RouteTable()
CONFIG_CHANGED = {"configChanged": True}


def _table_context(ctx: Ctx) -> dict[str, Any]:
    steps = config.list_workflow_steps(ctx.db, ctx.tenant_id)
    names = {i.id: i.name for i in integrations.list_integrations(ctx.db, ctx.tenant_id)}
    statuses: dict[int, list[str]] = defaultdict(list)
    for mapping in config.list_status_mappings(ctx.db, ctx.tenant_id):
        statuses[mapping.workflow_id].append(mapping.source_name)
    scopes: dict[int | None, list[Any]] = defaultdict(list)
    for step in steps:
        scopes[step.integration_id].append(step)
    groups = [
        {
            "label": "All integrations" if scope is None else names.get(scope, f"#{scope}"),
            "ordered": [s for s in rows if s.step_order is not None],
            "outside": [s for s in rows if s.step_order is None],
        }
        for scope, rows in scopes.items()
    ]
    return {
        "groups": groups,
        "statuses": statuses,
        "categories": [(c, c.replace("_", " ")) for c in STEP_CATEGORIES],
        "scopes": [(str(i), n) for i, n in names.items()],
    }


@table.get("/workflows", role="viewer", blocks=("workflow_table",))
def workflows_page(ctx: Ctx) -> Response:
    return ctx.render("workflows.html", new={}, **_table_context(ctx))


def _table(ctx: Ctx, message: str) -> Response:
    response = ctx.render(
        "workflows.html",
        block="workflow_table",
        new={},
        headers={"HX-Retarget": "#workflow_table", "HX-Reswap": "innerHTML"},
        **_table_context(ctx),
    )
    return trigger(response, showMessage=message, **CONFIG_CHANGED)


def _row(ctx: Ctx, step_id: int, *, editing: bool = False, status: int = 200) -> Response:
    step = mappings.get_step(ctx.db, ctx.tenant_id, step_id)
    if step is None:
        ctx.not_found("This workflow step")
    context = _table_context(ctx)
    return ctx.fragment(
        "_workflow_row.html",
        step=step,
        editing=editing,
        errors=ctx.form.errors,
        status=status,
        statuses=context["statuses"],
        categories=context["categories"],
    )


@table.get("/workflows/{step_id:int}", role="viewer")
def workflow_row(ctx: Ctx) -> Response:
    return _row(ctx, ctx.param("step_id"))


@table.get("/workflows/{step_id:int}/edit", role="admin")
def workflow_edit(ctx: Ctx) -> Response:
    return _row(ctx, ctx.param("step_id"), editing=True)


@table.post("/workflows", role="admin")
def workflow_create(ctx: Ctx) -> Response:
    form = ctx.form
    step_name = form.text("step_name", max_length=100)
    category = form.choice("category", STEP_CATEGORIES)
    integration_id = form.optional_int("integration_id")
    if form.ok:
        try:
            created = mappings.create_step(
                ctx.db,
                ctx.tenant_id,
                step_name=step_name,
                category=category,
                integration_id=integration_id,
            )
        except EditError as exc:
            form.fail(exc.field, exc.message)
        else:
            return _table(ctx, f"Step {created.step_name!r} added.")
    return ctx.render(
        "workflows.html",
        block="create_form",
        new=form.values(),
        errors=form.errors,
        status=422,
        headers={"HX-Retarget": "#create_form", "HX-Reswap": "innerHTML"},
        **_table_context(ctx),
    )


@table.post("/workflows/{step_id:int}", role="admin")
def workflow_update(ctx: Ctx) -> Response:
    form = ctx.form
    step_id = ctx.param("step_id")
    step_name = form.text("step_name", max_length=100)
    category = form.choice("category", STEP_CATEGORIES)
    if form.ok:
        try:
            saved = mappings.update_step(
                ctx.db, ctx.tenant_id, step_id, step_name=step_name, category=category
            )
        except EditError as exc:
            form.fail(exc.field, exc.message)
        else:
            if saved is None:
                ctx.not_found("This workflow step")
            return _table(ctx, "Saved.")
    return _row(ctx, step_id, editing=True, status=422)


@table.post("/workflows/{step_id:int}/move", role="admin")
def workflow_move(ctx: Ctx) -> Response:
    direction = ctx.form.choice("direction", ("up", "down"))
    if not ctx.form.ok:
        ctx.refuse("direction must be up or down", 422)
    try:
        moved = mappings.move_step(
            ctx.db, ctx.tenant_id, ctx.param("step_id"), offset=-1 if direction == "up" else 1
        )
    except EditError as exc:
        ctx.refuse(exc.message, 422)
    if moved is None:
        ctx.not_found("This workflow step")
    return _table(ctx, f"{moved.step_name!r} moved {direction}.")


@table.post("/workflows/{step_id:int}/commitment", role="admin")
def workflow_commitment(ctx: Ctx) -> Response:
    try:
        step = mappings.set_commitment_point(ctx.db, ctx.tenant_id, ctx.param("step_id"))
    except EditError as exc:
        ctx.refuse(exc.message, 422)
    if step is None:
        ctx.not_found("This workflow step")
    return _table(ctx, f"{step.step_name!r} is now the commitment point.")


@table.post("/workflows/{step_id:int}/delete", role="admin")
def workflow_delete(ctx: Ctx) -> Response:
    step_id = ctx.param("step_id")
    step = mappings.get_step(ctx.db, ctx.tenant_id, step_id)
    if step is None:
        ctx.not_found("This workflow step")
    move_to = ctx.form.optional_int("move_to")
    used = mappings.step_usage(ctx.db, ctx.tenant_id, step_id)
    if used and move_to is None and not step.is_commitment_point:
        if "move_to" not in ctx.form.data:
            return _move_dialog(ctx, step.id, step.step_name, used)
        ctx.form.errors.setdefault("move_to", "choose the step the mappings move to")
        return _move_dialog(ctx, step.id, step.step_name, used, status=422)
    try:
        moved = mappings.delete_step(ctx.db, ctx.tenant_id, step_id, move_to=move_to)
    except EditError as exc:
        if step.is_commitment_point:
            ctx.refuse(exc.message)
        ctx.form.fail(exc.field, exc.message)
        return _move_dialog(ctx, step.id, step.step_name, used, status=422)
    note = f" {moved} status mapping(s) moved." if moved else ""
    return trigger(
        Response(status_code=204),
        closeModal=True,
        workflowsChanged=True,
        showMessage=f"Step {step.step_name!r} deleted.{note}",
        **CONFIG_CHANGED,
    )


def _move_dialog(ctx: Ctx, step_id: int, name: str, used: int, status: int = 200) -> Response:
    step = mappings.get_step(ctx.db, ctx.tenant_id, step_id)
    assert step is not None
    targets = [
        (str(s.id), s.step_name)
        for s in config.list_workflow_steps(ctx.db, ctx.tenant_id)
        if s.id != step_id and s.integration_id in (None, step.integration_id)
    ]
    return ctx.fragment(
        "_move_dialog.html",
        status=status,
        title=f"Delete step {name!r}",
        explanation=f"{used} status mapping(s) use this step. Choose the step they move to.",
        action=f"/workflows/{step_id}/delete",
        targets=targets,
        errors=ctx.form.errors,
    )
