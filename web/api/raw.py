"""`/api/v1/raw-records`: the raw store, filtered by integration, entity, external id and run,
newest first with keyset paging (`before`); one record with its payload."""

from __future__ import annotations

from starlette.responses import JSONResponse, Response

from storage.repositories import browse
from storage.repositories.browse import RawFilter
from web.api.serialize import invalid, raw_record_json, raw_summary_json
from web.routing import Ctx, RouteTable

table = RouteTable()
MAX_LIMIT = 500


def _int_param(ctx: Ctx, name: str, errors: dict[str, str]) -> int | None:
    value = ctx.query(name)
    if not value:
        return None
    if not value.isdigit():
        errors[name] = "must be a positive integer"
        return None
    return int(value)


@table.get("/api/v1/raw-records", role="viewer", api=True)
def api_raw_records(ctx: Ctx) -> Response:
    errors: dict[str, str] = {}
    filters = RawFilter(
        integration_id=_int_param(ctx, "integration", errors),
        entity=ctx.query("entity") or None,
        external_id=ctx.query("external_id") or None,
        job_run_id=_int_param(ctx, "run", errors),
        before_id=_int_param(ctx, "before", errors),
    )
    limit = _int_param(ctx, "limit", errors) or 100
    if not 1 <= limit <= MAX_LIMIT:
        errors["limit"] = f"must be between 1 and {MAX_LIMIT}"
    if errors:
        return invalid(errors)
    rows = browse.list_raw_records(ctx.db, ctx.tenant_id, filters, limit=limit)
    next_before = rows[-1].id if len(rows) == limit else None
    return JSONResponse(
        {"records": [raw_summary_json(r) for r in rows], "next_before": next_before}
    )


@table.get("/api/v1/raw-records/{raw_id:int}", role="viewer", api=True)
def api_raw_record(ctx: Ctx) -> Response:
    raw = browse.get_raw_record(ctx.db, ctx.tenant_id, ctx.param("raw_id"))
    if raw is None:
        ctx.not_found("This raw record")
    return JSONResponse(raw_record_json(raw))
