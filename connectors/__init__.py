"""Connectors: one package per outside system, plus the shared HTTP layer and the simulator.

`connectors.jira` and `connectors.github` each offer `build_streams(...)` and
`test_connection(...)`; what they share (the HTTP client, error classification, paginators,
versions, deletion reconciliation) is listed here.
"""

from __future__ import annotations

from connectors.base import Cursor, ExtractWindow, Page, RawItem, Stream, StreamKey
from connectors.budget import BudgetState, InMemoryBudget, RateBudget
from connectors.classify import classify_outcome
from connectors.connection import ConnectionCheck
from connectors.http import Credential, HttpClient, HttpResult, RetryPolicy
from connectors.paginators import (
    GraphQLCursorPaginator,
    OffsetPaginator,
    Paginator,
    TokenPaginator,
)
from connectors.reconcile import (
    deleted_ids,
    github_deleted_pull_request_ids,
    jira_deleted_issue_ids,
)
from connectors.records import content_hash, fetch_version, parse_timestamp, utc_version
from connectors.windows import SINCE_BY_SCOPE, effective_since, window_since

__all__ = [
    "SINCE_BY_SCOPE",
    "BudgetState",
    "ConnectionCheck",
    "Credential",
    "Cursor",
    "ExtractWindow",
    "GraphQLCursorPaginator",
    "HttpClient",
    "HttpResult",
    "InMemoryBudget",
    "OffsetPaginator",
    "Page",
    "Paginator",
    "RateBudget",
    "RawItem",
    "RetryPolicy",
    "Stream",
    "StreamKey",
    "TokenPaginator",
    "classify_outcome",
    "content_hash",
    "deleted_ids",
    "effective_since",
    "fetch_version",
    "github_deleted_pull_request_ids",
    "jira_deleted_issue_ids",
    "parse_timestamp",
    "utc_version",
    "window_since",
]
