"""Custom fields: the source field catalog of a Jira integration and which field fills each
slot (the special fields team, sprints, story points, development, and custom_01..20)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from storage.repositories import config, integrations, mappings
from storage.repositories.mappings import EditError
from storage.schema import CUSTOM_SLOTS, SPECIAL_SLOTS
from web.htmx import trigger
from web.routing import Ctx, RouteTable

table = RouteTable()


def _context(ctx: Ctx, integration_id: int | None) -> dict[str, Any]:
    sources = [
        i for i in integrations.list_integrations(ctx.db, ctx.tenant_id) if i.provider == "jira"
    ]
    chosen = next((i for i in sources if i.id == integration_id), sources[0] if sources else None)
    fields = (
        mappings.list_source_fields(ctx.db, ctx.tenant_id, integration_id=chosen.id)
        if chosen
        else []
    )
    assigned = {
        m.slot: m
        for m in config.list_field_mappings(ctx.db, ctx.tenant_id)
        if chosen is not None and m.integration_id == chosen.id
    }
    return {
        "sources": [(str(i.id), i.name) for i in sources],
        "integration": chosen,
        "fields": fields,
        "field_choices": [(f.external_id, f"{f.name} ({f.external_id})") for f in fields],
        "field_names": {f.external_id: f.name for f in fields},
        "assigned": assigned,
        "used_by": {m.field_external_id: slot for slot, m in assigned.items()},
        "slots": [(s, s.replace("_", " ")) for s in SPECIAL_SLOTS + CUSTOM_SLOTS],
    }


@table.get("/custom-fields", role="viewer", blocks=("slot_table",))
def custom_fields_page(ctx: Ctx) -> Response:
    return ctx.render("custom_fields.html", **_context(ctx, ctx.query_int("integration")))


@table.post("/custom-fields", role="admin")
def custom_field_assign(ctx: Ctx) -> Response:
    form = ctx.form
    integration_id = form.integer("integration_id")
    slot = form.text("slot", max_length=32)
    field_external_id = form.text("field_external_id", max_length=200)
    if form.ok:
        try:
            mappings.assign_slot(
                ctx.db,
                ctx.tenant_id,
                integration_id=integration_id,
                slot=slot,
                field_external_id=field_external_id,
            )
        except EditError as exc:
            form.fail(exc.field, exc.message)
    context = _context(ctx, integration_id)
    if context["integration"] is None or context["integration"].id != integration_id:
        ctx.not_found("This integration")
    response = ctx.render(
        "custom_fields.html",
        block="slot_table",
        status=200 if form.ok else 422,
        errors=form.errors,
        error_slot=slot,
        **context,
    )
    if form.ok:
        return trigger(response, showMessage=f"Slot {slot} saved.", configChanged=True)
    return response


@table.post("/custom-fields/{mapping_id:int}/delete", role="admin")
def custom_field_clear(ctx: Ctx) -> Response:
    integration_id = ctx.form.optional_int("integration_id")
    if not mappings.clear_slot(ctx.db, ctx.tenant_id, ctx.param("mapping_id")):
        ctx.not_found("This slot assignment")
    response = ctx.render("custom_fields.html", block="slot_table", **_context(ctx, integration_id))
    return trigger(response, showMessage="Slot cleared.", configChanged=True)
