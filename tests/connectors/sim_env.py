"""Build connector streams against a running simulator (contract and economy tests)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import SecretStr

from connectors import github, jira
from connectors.base import ExtractWindow, Page, Stream
from connectors.budget import InMemoryBudget
from connectors.http import RetryPolicy
from connectors.simulator import SimulatorServer
from tests.connectors.fakes import Sleeps

SITE = "acme"
EMAIL = "sync@example.com"
TOKEN = "sim-contract-token"
POLICY = RetryPolicy(max_retries=3, base_delay=0.01, timeout=10.0)


@dataclass
class Env:
    sim: SimulatorServer
    sleeps: Sleeps = field(default_factory=Sleeps)

    def jira_truth(self) -> dict[str, Any]:
        return self.sim.truth("jira", SITE)

    def github_truth(self) -> dict[str, Any]:
        return self.sim.truth("github", SITE)

    def project_keys(self) -> list[str]:
        return sorted({i["key"].split("-")[0] for i in self.jira_truth()["issues"]})

    def jira_settings(self, **overrides: Any) -> jira.JiraSettings:
        values: dict[str, Any] = {"url": self.sim.jira_url(SITE), "projects": self.project_keys()}
        return jira.JiraSettings(**{**values, **overrides})

    def jira_streams(
        self,
        window: ExtractWindow,
        *,
        token: str = TOKEN,
        settings: dict[str, Any] | None = None,
        **kw: Any,
    ) -> list[Stream]:
        return jira.build_streams(
            self.jira_settings(**(settings or {})),
            jira.JiraCredentials(email=EMAIL, api_token=SecretStr(token)),
            window,
            budget=InMemoryBudget(),
            policy=POLICY,
            sleep=self.sleeps,
            **kw,
        )

    def github_settings(self, **overrides: Any) -> github.GitHubSettings:
        values = {
            "organization": self.github_truth()["organization"],
            "api_url": self.sim.github_url(SITE),
        }
        return github.GitHubSettings(**{**values, **overrides})

    def github_streams(
        self,
        window: ExtractWindow,
        *,
        token: str = TOKEN,
        settings: dict[str, Any] | None = None,
        repositories: Sequence[str] | None = None,
        **kw: Any,
    ) -> list[Stream]:
        cfg = self.github_settings(**(settings or {}))
        credentials = github.GitHubCredentials(token=SecretStr(token))
        http = github.github_http_client(
            cfg, credentials, budget=InMemoryBudget(), policy=POLICY, sleep=self.sleeps
        )
        if repositories is None:
            repositories = self.github_truth()["repositories"]
        return github.build_streams(
            cfg, credentials, window, http=http, repositories=repositories, **kw
        )


def drain(stream: Stream, cursor: Any = None, limit: int = 10_000) -> list[Page]:
    """Every page until the stream finishes, each cursor passed through JSON like the worker's
    checkpoint table does."""
    pages: list[Page] = []
    for _ in range(limit):
        page = stream.fetch_page(cursor)
        pages.append(page)
        if page.next_cursor is None:
            return pages
        cursor = json.loads(json.dumps(page.next_cursor))
    raise AssertionError(f"{stream.key} did not finish in {limit} pages")


def items_of(pages: Sequence[Page]) -> list[Any]:
    return [item for page in pages for item in page.items]


def requests_of(pages: Sequence[Page]) -> int:
    return sum(page.requests for page in pages)
