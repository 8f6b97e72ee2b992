"""Builds a run's streams from a stored integration: settings, decrypted credentials, the
credential's shared rate budget, and the connector facts kept between runs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session, sessionmaker

from connectors import github, jira
from connectors.base import ExtractWindow, Stream
from connectors.budget import RateBudget, credential_fingerprint
from connectors.http import HttpClient, RetryPolicy
from connectors.jira.fields import has_pull_requests
from connectors.jira.issue_streams import issue_scope
from pulse.errors import ConfigurationError
from storage import raw_store
from storage.crypto import CredentialCipher
from storage.db import transaction
from storage.rate_budget import SharedRateBudget
from storage.repositories.integrations import credentials_of
from storage.schema import Integration, JobRun, utcnow

# The Jira catalog (fields, projects, types, statuses, boards, sprints) changes rarely; an
# incremental run refreshes it only when it is older than this, so a quiet run costs 1 request.
CATALOG_MAX_AGE = timedelta(hours=6)

M = TypeVar("M", bound=BaseModel)
BudgetFactory = Callable[[str], RateBudget]


def jira_settings(integration: Integration) -> jira.JiraSettings:
    return _validated(
        integration, jira.JiraSettings, {"url": integration.base_url, **integration.settings}
    )


def github_settings(integration: Integration) -> github.GitHubSettings:
    settings = dict(integration.settings)
    if integration.base_url:
        settings.setdefault("api_url", integration.base_url)
    return _validated(integration, github.GitHubSettings, settings)


def _validated(integration: Integration, model: type[M], data: dict[str, object]) -> M:
    try:
        return model(**data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "settings"
        raise ConfigurationError(
            f"integration {integration.name!r}: setting {where!r}: {first['msg']}",
            integration_id=integration.id,
        ) from None


def _credentials(
    integration: Integration, model: type[M], secrets: dict[str, Any], needs: str
) -> M:
    try:
        return model(**secrets)
    except ValidationError:  # the message must not echo secrets, so pydantic's is not shown
        raise ConfigurationError(
            f"integration {integration.name!r} needs {needs}", integration_id=integration.id
        ) from None


class StreamFactory:
    def __init__(
        self,
        factory: sessionmaker[Session],
        cipher: CredentialCipher,
        *,
        max_retries: int,
        budget_for: BudgetFactory | None = None,
        http_hook: Callable[[HttpClient], None] | None = None,
    ) -> None:
        self._factory = factory
        self._cipher = cipher
        self._policy = RetryPolicy(max_retries=max_retries)
        self._budget_for = budget_for or (lambda fp: SharedRateBudget(factory, fp))
        self._http_hook = http_hook

    @contextmanager
    def __call__(
        self, integration: Integration, run: JobRun, window: ExtractWindow
    ) -> Iterator[list[Stream]]:
        """The run's streams; their HTTP client is closed when the run is over."""
        secrets = credentials_of(integration, self._cipher)
        clients: list[HttpClient] = []
        try:
            if integration.provider == "jira":
                yield self._jira(integration, run, window, secrets, clients)
            elif integration.provider == "github":
                yield self._github(integration, run, window, secrets, clients)
            else:
                raise ConfigurationError(
                    f"integration {integration.name!r} ({integration.provider}) has nothing "
                    "to extract",
                    integration_id=integration.id,
                )
        finally:
            for client in clients:
                client.close()

    def _jira(
        self,
        integration: Integration,
        run: JobRun,
        window: ExtractWindow,
        secrets: dict[str, Any],
        clients: list[HttpClient],
    ) -> list[Stream]:
        settings = jira_settings(integration)
        credentials = _credentials(
            integration, jira.JiraCredentials, secrets, "an email and an API token"
        )
        budget = self._budget_for(
            credential_fingerprint("jira", settings.url, credentials.api_token.get_secret_value())
        )
        http = jira.jira_http_client(settings, credentials, budget=budget, policy=self._policy)
        clients.append(http)
        if self._http_hook is not None:
            self._http_hook(http)
        site, refresh_catalog, dev_ids = self._jira_state(integration, run, settings, http)
        return jira.build_streams(
            settings,
            credentials,
            window,
            http=http,
            site=site,
            refresh_catalog=refresh_catalog,
            dev_status_issue_ids=dev_ids,
            deletion_sweep=run.kind == "reconcile",
        )

    def _jira_state(
        self,
        integration: Integration,
        run: JobRun,
        settings: jira.JiraSettings,
        http: HttpClient,
    ) -> tuple[jira.JiraSite, bool, list[str] | None]:
        with transaction(self._factory) as session:
            stored = raw_store.load_site_facts(session, integration.id, "jira.site")
            site = jira.JiraSite.from_json(stored) if stored and run.kind != "full" else None
            if site is None:
                site = jira.discover_site(jira.JiraApi(http, settings))
                raw_store.save_site_facts(
                    session, integration.tenant_id, integration.id, "jira.site", site.to_json()
                )
            fields = raw_store.load_checkpoint(session, integration.id, "site", "jira.field")
            catalog_age = (
                utcnow() - fields.updated_at if fields is not None and fields.finished else None
            )
            refresh = (
                run.kind in ("full", "reconcile")
                or catalog_age is None
                or catalog_age > CATALOG_MAX_AGE
                or (fields is not None and fields.job_run_id == run.id)
            )
            # A run resumed after its issue stream finished no longer holds, in memory, the
            # issues that have development data: read them back from the raw store.
            issues = raw_store.load_checkpoint(
                session,
                integration.id,
                issue_scope(settings.projects, settings.extra_jql),
                "jira.issue",
            )
            dev_ids: list[str] | None = None
            if (
                settings.development_links
                and issues is not None
                and issues.job_run_id == run.id
                and issues.finished
            ):
                dev_ids = [
                    str(p["id"])
                    for p in raw_store.run_payloads(session, run.id, "jira.issue")
                    if has_pull_requests(p, site.roles)
                ]
        return site, refresh, dev_ids

    def _github(
        self,
        integration: Integration,
        run: JobRun,
        window: ExtractWindow,
        secrets: dict[str, Any],
        clients: list[HttpClient],
    ) -> list[Stream]:
        settings = github_settings(integration)
        credentials = _credentials(integration, github.GitHubCredentials, secrets, "a token")
        budget = self._budget_for(
            credential_fingerprint("github", settings.api_url, credentials.token.get_secret_value())
        )
        http = github.github_http_client(settings, credentials, budget=budget, policy=self._policy)
        clients.append(http)
        if self._http_hook is not None:
            self._http_hook(http)
        return github.build_streams(
            settings, credentials, window, http=http, deletion_sweep=run.kind == "reconcile"
        )
