"""Qdrant: per entity, the tenant's facts in PostgreSQL against its points in Qdrant (with the
share embedded from the current content), the health of the collections holding them, a
re-embed action, and semantic search over the tenant's work items and pull requests."""

from __future__ import annotations

import logging
from typing import Any

from starlette.responses import Response

from pulse.messages import VECTOR_ENTITIES
from storage.repositories import browse
from web.htmx import trigger
from web.routing import Ctx, RouteTable

log = logging.getLogger(__name__)
table = RouteTable()
RESULTS = 20


def _qdrant_problem(exc: Exception) -> str:
    """What the page shows when Qdrant (or the embedding model) cannot answer."""
    log.warning("Qdrant page: %r", exc)
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return f"Qdrant cannot answer: {message}"


@table.get("/qdrant", role="viewer", blocks=("coverage", "search_results"))
def qdrant_page(ctx: Ctx) -> Response:
    access = ctx.web.vectors
    query = ctx.query("q")
    entity = ctx.query("entity")
    values: dict[str, Any] = {
        "query": query,
        "entity": entity,
        "entities": [(e, e.replace("_", " ")) for e in VECTOR_ENTITIES],
        "coverage": [],
        "collections": [],
        "problem": None,
        "hits": None,
        "links": {},
        "search_problem": None,
        "sweeping": access.sweeping(ctx.tenant_id),
    }
    if ctx.htmx.target != "search_results":
        try:
            values["coverage"] = access.coverage(ctx.tenant_id)
            values["collections"] = access.collections(ctx.tenant_id)
        except Exception as exc:  # shown on the page, not hidden
            values["problem"] = _qdrant_problem(exc)
    if query:
        try:
            hits = access.search(
                ctx.tenant_id,
                query,
                entity=entity if entity in VECTOR_ENTITIES else None,
                limit=RESULTS,
            )
            values["hits"] = hits
            values["links"] = {
                kind: browse.fact_ids(
                    ctx.db,
                    ctx.tenant_id,
                    kind,
                    [(h.integration_id, h.external_id) for h in hits if h.entity == kind],
                )
                for kind in VECTOR_ENTITIES
            }
        except Exception as exc:
            values["search_problem"] = _qdrant_problem(exc)
    return ctx.render("qdrant.html", **values)


@table.post("/qdrant/reembed", role="admin")
def qdrant_reembed(ctx: Ctx) -> Response:
    try:
        message = ctx.web.vectors.reembed(ctx.tenant_id)
    except Exception as exc:
        ctx.refuse(_qdrant_problem(exc), 503)
    return trigger(Response(status_code=204), showMessage=message, vectorsChanged=True)
