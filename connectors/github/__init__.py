"""GitHub (GraphQL v4, github.com or Enterprise Server): settings, client, streams, sweep."""

from __future__ import annotations

from connectors.github.build import build_streams, list_repositories, test_connection
from connectors.github.client import GitHubApi, github_http_client, github_label
from connectors.github.nested import complete_pull_requests, needs_more
from connectors.github.settings import GitHubCredentials, GitHubSettings
from connectors.github.streams import (
    MIN_PAGE_SIZE,
    PullRequestIdStream,
    PullRequestStream,
    RepositoryStream,
    pull_request_item,
    repository_item,
    repository_scope,
)
from connectors.reconcile import github_deleted_pull_request_ids

__all__ = [
    "MIN_PAGE_SIZE",
    "GitHubApi",
    "GitHubCredentials",
    "GitHubSettings",
    "PullRequestIdStream",
    "PullRequestStream",
    "RepositoryStream",
    "build_streams",
    "complete_pull_requests",
    "github_deleted_pull_request_ids",
    "github_http_client",
    "github_label",
    "list_repositories",
    "needs_more",
    "pull_request_item",
    "repository_item",
    "repository_scope",
    "test_connection",
]
