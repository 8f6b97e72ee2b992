"""Work item type mappings and hierarchy levels: inline-edit tables with filters, create and
delete, the unmapped source types with their item counts and a one-click mapping, and a
hierarchy delete that asks where its mappings should move."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from storage.repositories import config, facts, integrations, mappings
from storage.repositories.mappings import EditError
from web.htmx import trigger
from web.routing import Ctx, RouteTable

table = RouteTable()
CONFIG_CHANGED = {"configChanged": True}


def _scopes(ctx: Ctx) -> list[tuple[str, str]]:
    rows = integrations.list_integrations(ctx.db, ctx.tenant_id)
    return [(str(i.id), i.name) for i in rows if i.provider != "embedding"]


def _levels(ctx: Ctx) -> list[tuple[str, str]]:
    return [
        (str(h.id), f"{h.level_number}: {h.name}")
        for h in config.list_hierarchies(ctx.db, ctx.tenant_id)
    ]


def _mapping_context(ctx: Ctx) -> dict[str, Any]:
    return {"levels": _levels(ctx), "scopes": _scopes(ctx)}


# --- type mappings ------------------------------------------------------------------------------


@table.get("/wit-mappings", role="viewer", blocks=("mapping_table",))
def wit_mappings_page(ctx: Ctx) -> Response:
    search = ctx.query("q")
    hierarchy_id = ctx.query_int("hierarchy")
    integration_id = ctx.query_int("integration")
    rows = mappings.find_wit_mappings(
        ctx.db,
        ctx.tenant_id,
        search=search or None,
        hierarchy_id=hierarchy_id,
        integration_id=integration_id,
    )
    unmapped = [u for u in facts.unmapped_values(ctx.db, ctx.tenant_id) if u.kind == "type"]
    return ctx.render(
        "wit_mappings.html",
        rows=rows,
        unmapped=unmapped,
        filters={"q": search, "hierarchy": hierarchy_id, "integration": integration_id},
        new={},
        **_mapping_context(ctx),
    )


def _row(ctx: Ctx, mapping_id: int, *, editing: bool = False, status: int = 200) -> Response:
    row = mappings.get_wit_mapping(ctx.db, ctx.tenant_id, mapping_id)
    if row is None:
        ctx.not_found("This type mapping")
    return ctx.fragment(
        "_wit_mapping_row.html",
        row=row,
        editing=editing,
        errors=ctx.form.errors,
        status=status,
        **_mapping_context(ctx),
    )


@table.get("/wit-mappings/{mapping_id:int}", role="viewer")
def wit_mapping_row(ctx: Ctx) -> Response:
    return _row(ctx, ctx.param("mapping_id"))


@table.get("/wit-mappings/{mapping_id:int}/edit", role="admin")
def wit_mapping_edit(ctx: Ctx) -> Response:
    return _row(ctx, ctx.param("mapping_id"), editing=True)


@table.post("/wit-mappings", role="admin")
def wit_mapping_create(ctx: Ctx) -> Response:
    form = ctx.form
    source_name = form.text("source_name", max_length=200)
    canonical_type = form.text("canonical_type", max_length=100)
    hierarchy_id = form.integer("hierarchy_id")
    integration_id = form.optional_int("integration_id")
    if form.ok:
        try:
            created = mappings.create_wit_mapping(
                ctx.db,
                ctx.tenant_id,
                source_name=source_name,
                canonical_type=canonical_type,
                hierarchy_id=hierarchy_id,
                integration_id=integration_id,
            )
        except EditError as exc:
            form.fail(exc.field, exc.message)
        else:
            return trigger(
                Response(status_code=204),
                mappingsChanged=True,
                showMessage=f"{created.source_name!r} now maps to {created.canonical_type!r}.",
                **CONFIG_CHANGED,
            )
    return ctx.render(
        "wit_mappings.html",
        block="create_form",
        new=form.values(),
        errors=form.errors,
        status=422,
        **_mapping_context(ctx),
    )


@table.post("/wit-mappings/{mapping_id:int}", role="admin")
def wit_mapping_update(ctx: Ctx) -> Response:
    form = ctx.form
    mapping_id = ctx.param("mapping_id")
    source_name = form.text("source_name", max_length=200)
    canonical_type = form.text("canonical_type", max_length=100)
    hierarchy_id = form.integer("hierarchy_id")
    if form.ok:
        try:
            saved = mappings.update_wit_mapping(
                ctx.db,
                ctx.tenant_id,
                mapping_id,
                source_name=source_name,
                canonical_type=canonical_type,
                hierarchy_id=hierarchy_id,
                active=form.flag("active"),
            )
        except EditError as exc:
            form.fail(exc.field, exc.message)
        else:
            if saved is None:
                ctx.not_found("This type mapping")
            return trigger(_row(ctx, mapping_id), showMessage="Saved.", **CONFIG_CHANGED)
    if mappings.get_wit_mapping(ctx.db, ctx.tenant_id, mapping_id) is None:
        ctx.not_found("This type mapping")
    return _row(ctx, mapping_id, editing=True, status=422)


@table.post("/wit-mappings/{mapping_id:int}/delete", role="admin")
def wit_mapping_delete(ctx: Ctx) -> Response:
    if not mappings.delete_wit_mapping(ctx.db, ctx.tenant_id, ctx.param("mapping_id")):
        ctx.not_found("This type mapping")
    return trigger(Response(""), showMessage="Mapping deleted.", **CONFIG_CHANGED)


# --- hierarchies --------------------------------------------------------------------------------


@table.get("/wit-hierarchies", role="viewer", blocks=("hierarchy_table",))
def hierarchies_page(ctx: Ctx) -> Response:
    rows = config.list_hierarchies(ctx.db, ctx.tenant_id)
    usage = {h.id: mappings.hierarchy_usage(ctx.db, ctx.tenant_id, h.id) for h in rows}
    return ctx.render("wit_hierarchies.html", rows=rows, usage=usage, new={})


def _hierarchy_row(
    ctx: Ctx, hierarchy_id: int, *, editing: bool = False, status: int = 200
) -> Response:
    row = mappings.get_hierarchy(ctx.db, ctx.tenant_id, hierarchy_id)
    if row is None:
        ctx.not_found("This hierarchy level")
    return ctx.fragment(
        "_hierarchy_row.html",
        row=row,
        usage={row.id: mappings.hierarchy_usage(ctx.db, ctx.tenant_id, row.id)},
        editing=editing,
        errors=ctx.form.errors,
        status=status,
    )


@table.get("/wit-hierarchies/{hierarchy_id:int}", role="viewer")
def hierarchy_row(ctx: Ctx) -> Response:
    return _hierarchy_row(ctx, ctx.param("hierarchy_id"))


@table.get("/wit-hierarchies/{hierarchy_id:int}/edit", role="admin")
def hierarchy_edit(ctx: Ctx) -> Response:
    return _hierarchy_row(ctx, ctx.param("hierarchy_id"), editing=True)


def _hierarchy_fields(ctx: Ctx) -> tuple[int, str, str]:
    form = ctx.form
    level_number = form.integer("level_number", minimum=-10, maximum=100)
    name = form.text("name", max_length=100)
    description = form.text("description", required=False, max_length=2000)
    return level_number, name, description


@table.post("/wit-hierarchies", role="admin")
def hierarchy_create(ctx: Ctx) -> Response:
    level_number, name, description = _hierarchy_fields(ctx)
    if ctx.form.ok:
        try:
            mappings.create_hierarchy(
                ctx.db, ctx.tenant_id, level_number=level_number, name=name, description=description
            )
        except EditError as exc:
            ctx.form.fail(exc.field, exc.message)
        else:
            return trigger(
                Response(status_code=204),
                hierarchiesChanged=True,
                showMessage=f"Level {name!r} added.",
                **CONFIG_CHANGED,
            )
    return ctx.render(
        "wit_hierarchies.html",
        block="create_form",
        new=ctx.form.values(),
        errors=ctx.form.errors,
        status=422,
    )


@table.post("/wit-hierarchies/{hierarchy_id:int}", role="admin")
def hierarchy_update(ctx: Ctx) -> Response:
    hierarchy_id = ctx.param("hierarchy_id")
    level_number, name, description = _hierarchy_fields(ctx)
    if ctx.form.ok:
        try:
            saved = mappings.update_hierarchy(
                ctx.db,
                ctx.tenant_id,
                hierarchy_id,
                level_number=level_number,
                name=name,
                description=description,
            )
        except EditError as exc:
            ctx.form.fail(exc.field, exc.message)
        else:
            if saved is None:
                ctx.not_found("This hierarchy level")
            return trigger(
                _hierarchy_row(ctx, hierarchy_id), showMessage="Saved.", **CONFIG_CHANGED
            )
    return _hierarchy_row(ctx, hierarchy_id, editing=True, status=422)


@table.post("/wit-hierarchies/{hierarchy_id:int}/delete", role="admin")
def hierarchy_delete(ctx: Ctx) -> Response:
    """Delete a level. When mappings use it and no `move_to` came with the request, answer
    with a dialog asking where to move them (the dialog posts here again with `move_to`)."""
    hierarchy_id = ctx.param("hierarchy_id")
    row = mappings.get_hierarchy(ctx.db, ctx.tenant_id, hierarchy_id)
    if row is None:
        ctx.not_found("This hierarchy level")
    move_to = ctx.form.optional_int("move_to")
    used = mappings.hierarchy_usage(ctx.db, ctx.tenant_id, hierarchy_id)
    if used and move_to is None:
        if "move_to" not in ctx.form.data:  # first click: ask
            return _move_dialog(ctx, row.id, row.name, used)
        ctx.form.errors.setdefault("move_to", "choose the level the mappings move to")
        return _move_dialog(ctx, row.id, row.name, used, status=422)
    try:
        moved = mappings.delete_hierarchy(ctx.db, ctx.tenant_id, hierarchy_id, move_to=move_to)
    except EditError as exc:
        ctx.form.fail(exc.field, exc.message)
        return _move_dialog(ctx, row.id, row.name, used, status=422)
    note = f" {moved} mapping(s) moved." if moved else ""
    return trigger(
        Response(status_code=204),
        closeModal=True,
        hierarchiesChanged=True,
        showMessage=f"Level {row.name!r} deleted.{note}",
        **CONFIG_CHANGED,
    )


def _move_dialog(ctx: Ctx, hierarchy_id: int, name: str, used: int, status: int = 200) -> Response:
    targets = [(value, label) for value, label in _levels(ctx) if value != str(hierarchy_id)]
    return ctx.fragment(
        "_move_dialog.html",
        status=status,
        title=f"Delete level {name!r}",
        explanation=f"{used} type mapping(s) use this level. Choose the level they move to.",
        action=f"/wit-hierarchies/{hierarchy_id}/delete",
        targets=targets,
        errors=ctx.form.errors,
    )
