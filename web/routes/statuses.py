"""Status mappings: source status → workflow step, inline edit, filters, create and delete;
the unmapped source statuses with their item counts and a one-click "map to"."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from storage.repositories import config, facts, integrations, mappings
from storage.repositories.mappings import EditError
from web.htmx import trigger
from web.routing import Ctx, RouteTable

table = RouteTable()
CONFIG_CHANGED = {"configChanged": True}


def _choices(ctx: Ctx) -> dict[str, Any]:
    names = {i.id: i.name for i in integrations.list_integrations(ctx.db, ctx.tenant_id)}
    steps = [
        (
            str(s.id),
            s.step_name + ("" if s.integration_id is None else f" ({names.get(s.integration_id)})"),
        )
        for s in config.list_workflow_steps(ctx.db, ctx.tenant_id)
    ]
    scopes = [(str(i), n) for i, n in names.items()]
    return {"steps": steps, "scopes": scopes}


@table.get("/status-mappings", role="viewer", blocks=("status_table",))
def status_mappings_page(ctx: Ctx) -> Response:
    search = ctx.query("q")
    workflow_id = ctx.query_int("step")
    integration_id = ctx.query_int("integration")
    rows = mappings.find_status_mappings(
        ctx.db,
        ctx.tenant_id,
        search=search or None,
        workflow_id=workflow_id,
        integration_id=integration_id,
    )
    unmapped = [u for u in facts.unmapped_values(ctx.db, ctx.tenant_id) if u.kind == "status"]
    return ctx.render(
        "status_mappings.html",
        rows=rows,
        unmapped=unmapped,
        filters={"q": search, "step": workflow_id, "integration": integration_id},
        new={},
        **_choices(ctx),
    )


def _row(ctx: Ctx, mapping_id: int, *, editing: bool = False, status: int = 200) -> Response:
    row = mappings.get_status_mapping(ctx.db, ctx.tenant_id, mapping_id)
    if row is None:
        ctx.not_found("This status mapping")
    return ctx.fragment(
        "_status_mapping_row.html",
        row=row,
        editing=editing,
        errors=ctx.form.errors,
        status=status,
        **_choices(ctx),
    )


@table.get("/status-mappings/{mapping_id:int}", role="viewer")
def status_mapping_row(ctx: Ctx) -> Response:
    return _row(ctx, ctx.param("mapping_id"))


@table.get("/status-mappings/{mapping_id:int}/edit", role="admin")
def status_mapping_edit(ctx: Ctx) -> Response:
    return _row(ctx, ctx.param("mapping_id"), editing=True)


@table.post("/status-mappings", role="admin")
def status_mapping_create(ctx: Ctx) -> Response:
    form = ctx.form
    source_name = form.text("source_name", max_length=200)
    workflow_id = form.integer("workflow_id")
    integration_id = form.optional_int("integration_id")
    if form.ok:
        try:
            created = mappings.create_status_mapping(
                ctx.db,
                ctx.tenant_id,
                source_name=source_name,
                workflow_id=workflow_id,
                integration_id=integration_id,
            )
        except EditError as exc:
            form.fail(exc.field, exc.message)
        else:
            return trigger(
                Response(status_code=204),
                statusMappingsChanged=True,
                showMessage=f"Status {created.source_name!r} mapped.",
                **CONFIG_CHANGED,
            )
    return ctx.render(
        "status_mappings.html",
        block="create_form",
        new=form.values(),
        errors=form.errors,
        status=422,
        **_choices(ctx),
    )


@table.post("/status-mappings/{mapping_id:int}", role="admin")
def status_mapping_update(ctx: Ctx) -> Response:
    form = ctx.form
    mapping_id = ctx.param("mapping_id")
    source_name = form.text("source_name", max_length=200)
    workflow_id = form.integer("workflow_id")
    if form.ok:
        try:
            saved = mappings.update_status_mapping(
                ctx.db,
                ctx.tenant_id,
                mapping_id,
                source_name=source_name,
                workflow_id=workflow_id,
                active=form.flag("active"),
            )
        except EditError as exc:
            form.fail(exc.field, exc.message)
        else:
            if saved is None:
                ctx.not_found("This status mapping")
            return trigger(_row(ctx, mapping_id), showMessage="Saved.", **CONFIG_CHANGED)
    return _row(ctx, mapping_id, editing=True, status=422)


@table.post("/status-mappings/{mapping_id:int}/delete", role="admin")
def status_mapping_delete(ctx: Ctx) -> Response:
    if not mappings.delete_status_mapping(ctx.db, ctx.tenant_id, ctx.param("mapping_id")):
        ctx.not_found("This status mapping")
    return trigger(Response(""), showMessage="Mapping deleted.", **CONFIG_CHANGED)
