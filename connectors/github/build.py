"""Assemble a GitHub integration's streams for one run, and test its connection."""

from __future__ import annotations

# `test_connection` is the connector API's name, not a pytest test; PT028 reads it as one.
# ruff: noqa: PT028
import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx

from connectors.base import ExtractWindow, Stream
from connectors.budget import RateBudget
from connectors.connection import ConnectionCheck, probe
from connectors.github.client import MAX_PAGE, GitHubApi, github_http_client
from connectors.github.settings import GitHubCredentials, GitHubSettings
from connectors.github.streams import PullRequestIdStream, PullRequestStream, RepositoryStream
from connectors.http import HttpClient, RetryPolicy
from connectors.paginators import GraphQLCursorPaginator
from pulse.errors import FatalError


def list_repositories(api: GitHubApi, cache: dict[str | None, Any] | None = None) -> list[str]:
    """`owner/name` of every organization repository matching the patterns, by name.

    Pages read here are kept in `cache` (by their `after` cursor) so the repository stream of
    the same build does not read them again.
    """
    paginator = GraphQLCursorPaginator(MAX_PAGE)
    names: list[str] = []
    position: dict[str, Any] | None = None
    while True:
        after = (position or {}).get("after")
        result = api.org_repositories(MAX_PAGE, after)
        connection = ((result.body or {}).get("data") or {}).get("organization") or {}
        repositories = connection.get("repositories")
        if not isinstance(repositories, dict):
            raise FatalError(
                f"{api.http.integration}: organization {api.settings.organization!r} not found",
                integration=api.http.integration,
            )
        if cache is not None:
            cache[after] = result.body
        names += [
            node["nameWithOwner"]
            for node in repositories.get("nodes") or []
            if api.settings.wants(node.get("nameWithOwner", ""))
        ]
        position = paginator.advance(position, repositories)
        if position is None:
            return names


def build_streams(
    settings: GitHubSettings,
    credentials: GitHubCredentials,
    window: ExtractWindow,
    *,
    http: HttpClient | None = None,
    budget: RateBudget | None = None,
    policy: RetryPolicy | None = None,
    transport: httpx.BaseTransport | None = None,
    sleep: Callable[[float], None] = time.sleep,
    repositories: Sequence[str] | None = None,
    refresh_catalog: bool = True,
    deletion_sweep: bool = False,
) -> list[Stream]:
    """The run's streams in dependency order: repositories (when `refresh_catalog`), then per
    repository its pull requests and, when asked, the id sweep.

    `repositories` (`owner/name`, e.g. from the stored `github.repository` items) avoids listing
    the organization now; without it the list is read here (1 request per 100 repositories,
    reused by the repository stream).
    """
    if http is None:
        http = github_http_client(
            settings, credentials, budget=budget, policy=policy, transport=transport, sleep=sleep
        )
    api = GitHubApi(http, settings)
    cache: dict[str | None, Any] = {}
    if repositories is None:
        repositories = list_repositories(api, cache)
    else:
        repositories = [r for r in repositories if settings.wants(r)]
    streams: list[Stream] = []
    if refresh_catalog:
        streams.append(RepositoryStream(api, cache))
    streams += [PullRequestStream(api, repo, window) for repo in repositories]
    if deletion_sweep:
        streams += [PullRequestIdStream(api, repo) for repo in repositories]
    return streams


def test_connection(
    settings: GitHubSettings,
    credentials: GitHubCredentials,
    *,
    http: HttpClient | None = None,
    budget: RateBudget | None = None,
    transport: httpx.BaseTransport | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> ConnectionCheck:
    """The `Viewer` operation: whose token this is and how many points it has left."""
    client, outcome = probe(
        http,
        lambda: github_http_client(
            settings,
            credentials,
            budget=budget,
            transport=transport,
            sleep=sleep,
            policy=RetryPolicy(max_retries=1),
        ),
        lambda c: GitHubApi(c, settings).viewer(),
    )
    if isinstance(outcome, ConnectionCheck):
        return outcome
    data = outcome.get("data") or {}
    login = (data.get("viewer") or {}).get("login") or "?"
    rate = data.get("rateLimit") or {}
    left = ""
    if isinstance(rate.get("remaining"), int):
        left = f" ({rate['remaining']}/{rate.get('limit', '?')} points left this hour)"
    return ConnectionCheck(
        True,
        f"Connected to {client.integration} as @{login}{left}",
        {"login": login, "rate_limit": rate},
    )


test_connection.__test__ = False  # type: ignore[attr-defined]  # not a pytest test
