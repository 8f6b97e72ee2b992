"""The data browser: work items and pull requests with filters and pagination, and lineage from
a row down to the raw JSON it was built from, its other stored versions, and (for a work item)
its status transitions and linked pull requests."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from storage.repositories import browse
from storage.repositories.browse import PullRequestFilter, WorkItemFilter
from web.pagination import PageRequest, pager
from web.routing import Ctx, RouteTable

table = RouteTable()
PR_STATES = ("open", "closed", "merged")


@table.get("/data/work-items", role="viewer", blocks=("results",))
def work_items_page(ctx: Ctx) -> Response:
    filters = WorkItemFilter(
        integration_id=ctx.query_int("integration"),
        search=ctx.query("q") or None,
        project_key=ctx.query("project") or None,
        type_name=ctx.query("type") or None,
        workflow_step=ctx.query("step") or None,
        unmapped=ctx.query("unmapped") == "1",
    )
    page = PageRequest.of(ctx.query("page"), ctx.query("size"))
    found = browse.work_items_page(
        ctx.db, ctx.tenant_id, filters, limit=page.size, offset=page.offset
    )
    form: dict[str, Any] = {}
    if ctx.requested_block != "results":  # the filter form is outside the results
        choices = browse.filter_choices(ctx.db, ctx.tenant_id, "jira")
        form["integrations"] = [(str(i), name) for i, name in choices.integrations]
        form["projects"] = [(p, p) for p in choices.scopes]
    return ctx.render(
        "work_items.html",
        rows=found.rows,
        page=pager(ctx.request.url, page, len(found.rows), found.total, found.capped),
        filters=filters,
        **form,
    )


@table.get("/data/work-items/{work_item_id:int}", role="viewer")
def work_item_page(ctx: Ctx) -> Response:
    item_id = ctx.param("work_item_id")
    item = browse.get_work_item(ctx.db, ctx.tenant_id, item_id)
    if item is None:
        ctx.not_found("This work item")
    return ctx.render(
        "work_item.html",
        item=item,
        transitions=browse.work_item_transitions(ctx.db, ctx.tenant_id, item_id),
        links=browse.work_item_links(ctx.db, ctx.tenant_id, item_id),
        raw=browse.get_raw_record(ctx.db, ctx.tenant_id, item.raw_id) if item.raw_id else None,
    )


@table.get("/data/pull-requests", role="viewer", blocks=("results",))
def pull_requests_page(ctx: Ctx) -> Response:
    state = ctx.query("state")
    filters = PullRequestFilter(
        integration_id=ctx.query_int("integration"),
        search=ctx.query("q") or None,
        repository=ctx.query("repository") or None,
        state=state if state in PR_STATES else None,
    )
    page = PageRequest.of(ctx.query("page"), ctx.query("size"))
    found = browse.pull_requests_page(
        ctx.db, ctx.tenant_id, filters, limit=page.size, offset=page.offset
    )
    form: dict[str, Any] = {}
    if ctx.requested_block != "results":  # the filter form is outside the results
        choices = browse.filter_choices(ctx.db, ctx.tenant_id, "github")
        form["integrations"] = [(str(i), name) for i, name in choices.integrations]
        form["repositories"] = [(r, r) for r in choices.scopes]
        form["states"] = [(s, s) for s in PR_STATES]
    return ctx.render(
        "pull_requests.html",
        rows=found.rows,
        page=pager(ctx.request.url, page, len(found.rows), found.total, found.capped),
        filters=filters,
        **form,
    )


@table.get("/data/pull-requests/{pull_request_id:int}", role="viewer")
def pull_request_page(ctx: Ctx) -> Response:
    pr_id = ctx.param("pull_request_id")
    pr = browse.get_pull_request(ctx.db, ctx.tenant_id, pr_id)
    detail = browse.pull_request_detail(ctx.db, ctx.tenant_id, pr_id)
    if pr is None or detail is None:
        ctx.not_found("This pull request")
    linked = [
        (key, browse.find_work_item_by_key(ctx.db, ctx.tenant_id, key))
        for key in detail.linked_keys
    ]
    return ctx.render(
        "pull_request.html",
        pr=pr,
        detail=detail,
        linked=linked,
        raw=browse.get_raw_record(ctx.db, ctx.tenant_id, pr.raw_id) if pr.raw_id else None,
    )


@table.get("/data/raw/{raw_id:int}", role="viewer")
def raw_record_page(ctx: Ctx) -> Response:
    raw_id = ctx.param("raw_id")
    raw = browse.get_raw_record(ctx.db, ctx.tenant_id, raw_id)
    if raw is None:
        ctx.not_found("This raw record")
    return ctx.render(
        "raw_record.html", raw=raw, versions=browse.raw_versions(ctx.db, ctx.tenant_id, raw_id)
    )
