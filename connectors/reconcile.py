"""Deletion reconciliation: which stored entities no longer exist at the source.

Jira and GitHub do not report deletions, so an id-only sweep (`jira.issue_id`,
`github.pull_request_id`) lists every id that exists now. Anything stored but not in that list
was deleted (or moved out of the configured scope). Pure functions; the caller must pass the
output of a *completed* sweep, otherwise everything not reached yet would look deleted.
"""

from __future__ import annotations

from collections.abc import Iterable

from connectors.base import RawItem

JIRA_ISSUE_ID = "jira.issue_id"
GITHUB_PULL_REQUEST_ID = "github.pull_request_id"


def deleted_ids(current: Iterable[str], stored: Iterable[str]) -> set[str]:
    """Ids present in `stored` and absent from `current`."""
    return set(stored) - set(current)


def _ids_of(items: Iterable[RawItem], entity: str) -> set[str]:
    ids: set[str] = set()
    for item in items:
        if item.entity != entity:
            raise ValueError(f"expected {entity!r} items, got {item.entity!r}")
        ids.add(item.external_id)
    return ids


def jira_deleted_issue_ids(sweep: Iterable[RawItem], stored_ids: Iterable[str]) -> set[str]:
    """Jira issue ids (the numeric `id`, as stored for `jira.issue`) deleted at the source."""
    return deleted_ids(_ids_of(sweep, JIRA_ISSUE_ID), stored_ids)


def github_deleted_pull_request_ids(
    sweep: Iterable[RawItem], stored_ids: Iterable[str]
) -> set[str]:
    """GitHub pull request node ids (as stored for `github.pull_request`) gone at the source."""
    return deleted_ids(_ids_of(sweep, GITHUB_PULL_REQUEST_ID), stored_ids)
