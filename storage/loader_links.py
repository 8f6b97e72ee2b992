"""Work item ↔ pull request links for the loader.

Two kinds, two replacement rules:

- `title` / `branch` links come with their pull request. When the pull request's row was
  written (its version guard passed), every title and branch link of that pull request is
  replaced — under its stored repository and number as well as the new ones — so a renamed
  pull request (or a moved repository) loses its stale links, and a replayed older version
  touches nothing.
- `jira_dev` links come from one issue's dev-status record, which lists all of the issue's pull
  requests. The rows carry the issue id (`work_item_external_id`); a row without
  `work_item_key` gets it from `work_items`. The links of one issue are replaced as a set when
  the record is newer than the stored set (by `(version, config_version)`), so a pull request
  unlinked in Jira disappears and an older record never brings it back.

A dev-status link whose work item is not loaded yet is not written (there is no key to write,
and a made-up one would be wrong): it is counted, and its raw record is left unprocessed, so
the sweeper (`raw_store.requeue_stale`) sends it through again and it loads once its work item
has.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, select, tuple_

from storage.db import among
from storage.loader_facts import FactWrite
from storage.loader_sql import (
    LINK_KEY,
    LINKS,
    FactKey,
    LoadError,
    Row,
    guard_of,
    table,
    upsert,
)

logger = logging.getLogger(__name__)

DEV = "jira_dev"
KEY_SOURCES = ("title", "branch")
SOURCES = (DEV, *KEY_SOURCES)

_PrScope = tuple[int, str, int]  # (integration_id, repository_full_name, pr_number)
_LinkSet = tuple[int, str]  # (integration_id, work_item_key)


@dataclass(frozen=True, slots=True)
class LinkOutcome:
    written: int
    unresolved: int  # dev-status links held back: their work item is not loaded yet
    deferred_raw_ids: frozenset[int]  # their raw records, left unprocessed


def _pr_scope(row: Mapping[str, Any], number: str) -> _PrScope:
    return (row["integration_id"], row["repository_full_name"], row[number])


def check_links(
    rows: Sequence[Mapping[str, Any]], pull_requests: Sequence[Mapping[str, Any]], tenant_id: int
) -> None:
    """Refuse links the loader could only guess about."""
    scopes = {_pr_scope(pr, "number") for pr in pull_requests}
    for row in rows:
        source = row.get("link_source")
        if source not in SOURCES:
            raise LoadError(
                f"a {LINKS} row has link_source {source!r}; expected one of {', '.join(SOURCES)}",
                tenant=tenant_id,
                table=LINKS,
            )
        if source in KEY_SOURCES and _pr_scope(row, "pr_number") not in scopes:
            raise LoadError(
                f"a {source} link names pull request "
                f"{row['repository_full_name']}#{row['pr_number']}, which is not in the batch",
                tenant=tenant_id,
                table=LINKS,
            )
        if source == DEV and not (row.get("work_item_key") or row.get("work_item_external_id")):
            raise LoadError(
                "a jira_dev link has neither work_item_key nor work_item_external_id",
                tenant=tenant_id,
                table=LINKS,
                raw_id=row.get("raw_id"),
            )


def load_links(
    conn: Connection,
    tenant_id: int,
    rows: Sequence[Mapping[str, Any]],
    pull_requests: Sequence[Mapping[str, Any]],
    written_prs: FactWrite,
) -> LinkOutcome:
    key_rows = [r for r in rows if r["link_source"] in KEY_SOURCES]
    dev_rows = [r for r in rows if r["link_source"] == DEV]
    written = _replace_key_links(conn, tenant_id, key_rows, pull_requests, written_prs)
    dev_written, unresolved = _replace_dev_links(conn, tenant_id, dev_rows)
    deferred = frozenset(r["raw_id"] for r in unresolved if r.get("raw_id") is not None)
    if unresolved:
        logger.warning(
            "%d dev-status link(s) wait for their work items; raw records %s stay unprocessed",
            len(unresolved),
            sorted(deferred),
            extra={
                "tenant_id": tenant_id,
                "work_item_external_ids": sorted({r["work_item_external_id"] for r in unresolved}),
            },
        )
    return LinkOutcome(written + dev_written, len(unresolved), deferred)


def _replace_key_links(
    conn: Connection,
    tenant_id: int,
    rows: Sequence[Mapping[str, Any]],
    pull_requests: Sequence[Mapping[str, Any]],
    prs: FactWrite,
) -> int:
    links = table(LINKS)
    written: set[_PrScope] = set()
    stale: set[_PrScope] = set()
    for pr in pull_requests:
        key: FactKey = (pr["integration_id"], pr["external_id"])
        if key not in prs.written:
            continue
        scope = _pr_scope(pr, "number")
        written.add(scope)
        stale.add(scope)
        before = prs.before.get(key)
        if before is not None:  # (content_hash, repository_full_name, number) as stored
            stale.add((key[0], before[1], before[2]))
    if not stale:
        return 0
    conn.execute(
        delete(links).where(
            links.c.tenant_id == tenant_id,
            links.c.link_source.in_(KEY_SOURCES),
            tuple_(links.c.integration_id, links.c.repository_full_name, links.c.pr_number).in_(
                sorted(stale)
            ),
        )
    )
    fresh = [r for r in rows if _pr_scope(r, "pr_number") in written]
    return upsert(conn, links, fresh, LINK_KEY).written


def _replace_dev_links(
    conn: Connection, tenant_id: int, rows: Sequence[Mapping[str, Any]]
) -> tuple[int, list[Mapping[str, Any]]]:
    """Returns the rows written and the rows held back (work item unknown)."""
    if not rows:
        return 0, []
    keys = _work_item_keys(
        conn,
        tenant_id,
        {
            (r["integration_id"], r["work_item_external_id"])
            for r in rows
            if not r.get("work_item_key")
        },
    )
    unresolved: list[Mapping[str, Any]] = []
    sets: dict[_LinkSet, tuple[tuple[Any, ...], list[Row]]] = {}
    for row in rows:
        item_key = row.get("work_item_key") or keys.get(
            (row["integration_id"], row["work_item_external_id"])
        )
        if item_key is None:
            unresolved.append(row)
            continue
        link = {c: v for c, v in row.items() if c != "work_item_external_id"}
        link["work_item_key"] = item_key
        scope, guard = (link["integration_id"], item_key), guard_of(link)
        held = sets.get(scope)
        if held is None or guard > held[0]:  # the newest record of the issue wins
            sets[scope] = (guard, [link])
        elif guard == held[0]:
            held[1].append(link)
    stored = _stored_set_guards(conn, tenant_id, list(sets))
    replace = {
        scope: links
        for scope, (guard, links) in sets.items()
        if scope not in stored or stored[scope] < guard
    }
    if not replace:
        return 0, unresolved
    target = table(LINKS)
    conn.execute(
        delete(target).where(
            target.c.tenant_id == tenant_id,
            target.c.link_source == DEV,
            tuple_(target.c.integration_id, target.c.work_item_key).in_(sorted(replace)),
        )
    )
    fresh = [link for links in replace.values() for link in links]
    return upsert(conn, target, fresh, LINK_KEY).written, unresolved


def _work_item_keys(conn: Connection, tenant_id: int, wanted: set[FactKey]) -> dict[FactKey, str]:
    if not wanted:
        return {}
    items = table("work_items")
    query = select(items.c.integration_id, items.c.external_id, items.c.key).where(
        items.c.tenant_id == tenant_id,
        among(conn, items.c.integration_id, {i for i, _ in wanted}),
        among(conn, items.c.external_id, {x for _, x in wanted}),
    )
    return {(i, x): k for i, x, k in conn.execute(query) if (i, x) in wanted}


def _stored_set_guards(
    conn: Connection, tenant_id: int, scopes: list[_LinkSet]
) -> dict[_LinkSet, tuple[Any, ...]]:
    """The newest (version, config_version) stored for each issue's dev-status links."""
    if not scopes:
        return {}
    links = table(LINKS)
    query = (
        select(
            links.c.integration_id, links.c.work_item_key, links.c.version, links.c.config_version
        )
        .where(
            links.c.tenant_id == tenant_id,
            links.c.link_source == DEV,
            tuple_(links.c.integration_id, links.c.work_item_key).in_(sorted(scopes)),
        )
        .order_by(links.c.id)
        .with_for_update()
    )
    guards: dict[_LinkSet, tuple[Any, ...]] = {}
    for integration_id, key, version, config_version in conn.execute(query):
        scope = (integration_id, key)
        guards[scope] = max(guards.get(scope, (version, config_version)), (version, config_version))
    return guards
