"""GitHub GraphQL client: one method per operation of the contract."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from datetime import datetime
from typing import Any

import httpx

from connectors.budget import RateBudget
from connectors.github import queries
from connectors.github.settings import GitHubCredentials, GitHubSettings
from connectors.http import Credential, HttpClient, HttpResult, RetryPolicy

MAX_PAGE = 100  # GitHub's limit on `first`


def github_label(settings: GitHubSettings) -> str:
    """How errors name the integration: `GitHub (acme)`."""
    host = settings.api_url.split("://", 1)[-1].split("/", 1)[0]
    where = "" if host == "api.github.com" else f" at {host}"
    return f"GitHub ({settings.organization}{where})"


def github_http_client(
    settings: GitHubSettings,
    credentials: GitHubCredentials,
    *,
    budget: RateBudget | None = None,
    policy: RetryPolicy | None = None,
    transport: httpx.BaseTransport | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], datetime] | None = None,
    label: str | None = None,
) -> HttpClient:
    credential = Credential.bearer(credentials.token, kind="GitHub access token")
    extra: dict[str, Any] = {"clock": clock} if clock else {}
    return HttpClient(
        settings.api_url,
        integration=label or github_label(settings),
        credential=credential,
        budget=budget,
        policy=policy,
        transport=transport,
        sleep=sleep,
        **extra,
    )


class GitHubApi:
    def __init__(self, http: HttpClient, settings: GitHubSettings) -> None:
        self.http = http
        self.settings = settings

    def viewer(self) -> HttpResult:
        return self.http.graphql(queries.VIEWER, {}, "Viewer", entity="github.viewer")

    def org_repositories(self, first: int, after: str | None) -> HttpResult:
        variables = {"org": self.settings.organization, "first": first, "after": after}
        return self.http.graphql(
            queries.ORG_REPOSITORIES, variables, "OrgRepositories", entity="github.repository"
        )

    def pull_requests(
        self,
        repository: str,
        first: int,
        after: str | None,
        nested: int,
        *,
        fail_fast: Collection[int] = (),
    ) -> HttpResult:
        owner, name = repository.split("/", 1)
        variables = {"owner": owner, "name": name, "first": first, "after": after, "nested": nested}
        return self.http.graphql(
            queries.REPO_PULL_REQUESTS,
            variables,
            "RepoPullRequests",
            cost=queries.pull_request_page_cost(first, nested),
            optional=True,  # a repository deleted or renamed since it was listed
            fail_fast=fail_fast,
            entity="github.pull_request",
        )

    def pull_request_ids(self, repository: str, after: str | None) -> HttpResult:
        owner, name = repository.split("/", 1)
        variables = {"owner": owner, "name": name, "first": MAX_PAGE, "after": after}
        return self.http.graphql(
            queries.REPO_PULL_REQUEST_IDS,
            variables,
            "RepoPullRequestIds",
            optional=True,
            entity="github.pull_request_id",
        )

    def pull_requests_by_ids(
        self,
        ids: list[str],
        nested: int,
        thread_comments: int,
        *,
        fail_fast: Collection[int] = (),
    ) -> HttpResult:
        variables = {"ids": ids, "nested": nested, "threadComments": thread_comments}
        return self.http.graphql(
            queries.PULL_REQUESTS_BY_IDS,
            variables,
            "PullRequestsByIds",
            cost=queries.pull_request_page_cost(len(ids), nested),
            fail_fast=fail_fast,
            entity="github.pull_request",
        )

    def nested_pages(self, query: str, variables: dict[str, Any]) -> HttpResult:
        return self.http.graphql(
            query, variables, "PullRequestNestedPages", entity="github.pull_request"
        )
