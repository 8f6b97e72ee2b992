"""The Jira endpoint table: one method per request the contract lists (docs/source-apis.md)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from connectors.budget import RateBudget
from connectors.http import Credential, HttpClient, HttpResult, RetryPolicy
from connectors.jira.settings import JiraCredentials, JiraSettings

MAX_BULK_CHANGELOG_ISSUES = 1000
MAX_BULK_CHANGELOG_RESULTS = 1000
MAX_ID_SEARCH_RESULTS = 5000  # Cloud allows 5000 per page when only `id` is asked for
MAX_CATALOG_PAGE = 50


def jira_label(settings: JiraSettings) -> str:
    """How errors name the integration: `Jira (acme.atlassian.net)`."""
    return f"Jira ({urlsplit(settings.url).netloc or settings.url})"


def jira_http_client(
    settings: JiraSettings,
    credentials: JiraCredentials,
    *,
    budget: RateBudget | None = None,
    policy: RetryPolicy | None = None,
    transport: httpx.BaseTransport | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], datetime] | None = None,
    label: str | None = None,
) -> HttpClient:
    kind = "Jira API token" if settings.deployment == "cloud" else "Jira password"
    credential = Credential.basic(credentials.email, credentials.api_token, kind=kind)
    extra: dict[str, Any] = {"clock": clock} if clock else {}
    return HttpClient(
        settings.url,
        integration=label or jira_label(settings),
        credential=credential,
        budget=budget,
        policy=policy,
        transport=transport,
        sleep=sleep,
        **extra,
    )


class JiraApi:
    """Thin wrappers that only know paths and parameters; paging lives in the streams."""

    def __init__(self, http: HttpClient, settings: JiraSettings) -> None:
        self.http = http
        self.settings = settings
        self.cloud = settings.deployment == "cloud"
        self._api = f"/rest/api/{settings.api_version}"

    def myself(self) -> HttpResult:
        return self.http.get(f"{self._api}/myself", entity="jira.myself")

    def fields(self) -> HttpResult:
        return self.http.get(f"{self._api}/field", entity="jira.field")

    def issue_types(self) -> HttpResult:
        return self.http.get(f"{self._api}/issuetype", entity="jira.issue_type")

    def projects(self, params: Mapping[str, Any]) -> HttpResult:
        if self.cloud:
            query = {**params, "expand": "issueTypes"}
            return self.http.get(f"{self._api}/project/search", params=query, entity="jira.project")
        # Server/DC lists every project in one answer.
        return self.http.get(
            f"{self._api}/project", params={"expand": "issueTypes"}, entity="jira.project"
        )

    def project_statuses(self, key: str) -> HttpResult:
        return self.http.get(
            f"{self._api}/project/{quote(key)}/statuses", optional=True, entity="jira.status"
        )

    def search(
        self, jql: str, fields: Sequence[str], params: Mapping[str, Any], *, changelog: bool = True
    ) -> HttpResult:
        """One page of issues: Cloud `search/jql` (token) or Server `search` (offset)."""
        body: dict[str, Any] = {"jql": jql, "fields": list(fields), **params}
        if self.cloud:
            if changelog:
                body["expand"] = "changelog"
            return self.http.post(f"{self._api}/search/jql", json=body, entity="jira.issue")
        if changelog:
            body["expand"] = ["changelog"]
        return self.http.post(f"{self._api}/search", json=body, entity="jira.issue")

    def approximate_count(self, jql: str) -> HttpResult:
        return self.http.post(
            f"{self._api}/search/approximate-count", json={"jql": jql}, entity="jira.issue"
        )

    def changelog_bulk(self, issue_ids: Sequence[str], token: str | None) -> HttpResult:
        body: dict[str, Any] = {
            "issueIdsOrKeys": list(issue_ids),
            "maxResults": MAX_BULK_CHANGELOG_RESULTS,
        }
        if token:
            body["nextPageToken"] = token
        return self.http.post(
            f"{self._api}/changelog/bulkfetch", json=body, entity="jira.changelog"
        )

    def issue_changelog(self, issue_id: str, params: Mapping[str, Any]) -> HttpResult:
        return self.http.get(
            f"{self._api}/issue/{quote(issue_id)}/changelog",
            params=params,
            optional=True,
            entity="jira.changelog",
        )

    def boards(self, params: Mapping[str, Any]) -> HttpResult:
        return self.http.get("/rest/agile/1.0/board", params=params, entity="jira.board")

    def sprints(self, board_id: int | str, params: Mapping[str, Any]) -> HttpResult:
        # A board may vanish between listing and paging its sprints: skip it, do not fail the run.
        return self.http.get(
            f"/rest/agile/1.0/board/{board_id}/sprint",
            params=params,
            optional=True,
            entity="jira.sprint",
        )

    def dev_status(self, issue_id: str) -> HttpResult:
        params = {"issueId": issue_id, "applicationType": "GitHub", "dataType": "pullrequest"}
        return self.http.get(
            "/rest/dev-status/latest/issue/detail",
            params=params,
            optional=True,
            entity="jira.dev_status",
        )
