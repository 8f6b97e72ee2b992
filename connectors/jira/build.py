"""Assemble a Jira integration's streams for one run, and test its connection."""

# `test_connection` is the connector API's name, not a pytest test; PT028 reads it as one.
# ruff: noqa: PT028

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import httpx

from connectors.base import ExtractWindow, Stream
from connectors.budget import RateBudget
from connectors.connection import ConnectionCheck, probe
from connectors.http import HttpClient, RetryPolicy
from connectors.jira.catalog_streams import (
    BoardStream,
    FieldStream,
    IssueTypeStream,
    ProjectStream,
    SprintStream,
    StatusStream,
)
from connectors.jira.client import JiraApi, jira_http_client
from connectors.jira.issue_streams import DevStatusStream, IssueIdStream, IssueStream, issue_scope
from connectors.jira.settings import JiraCredentials, JiraSettings
from connectors.jira.site import JiraSite, SiteContext


def build_streams(
    settings: JiraSettings,
    credentials: JiraCredentials,
    window: ExtractWindow,
    *,
    http: HttpClient | None = None,
    budget: RateBudget | None = None,
    policy: RetryPolicy | None = None,
    transport: httpx.BaseTransport | None = None,
    sleep: Callable[[float], None] = time.sleep,
    refresh_catalog: bool = True,
    site: JiraSite | None = None,
    deletion_sweep: bool = False,
    dev_status_issue_ids: Sequence[str] | None = None,
) -> list[Stream]:
    """The run's streams in dependency order: catalog (optional), issues, development links
    (when enabled), the id sweep (when asked).

    Pass `http` to share one client (and its request counter), or `budget`/`transport`/`sleep`
    to have one built. Pass the `site` kept from an earlier run (see `jira.site`) so an
    incremental run does not spend requests rediscovering the time zone and field ids.
    """
    if http is None:
        http = jira_http_client(
            settings, credentials, budget=budget, policy=policy, transport=transport, sleep=sleep
        )
    context = SiteContext.of(JiraApi(http, settings), site)
    scope = issue_scope(settings.projects, settings.extra_jql)
    streams: list[Stream] = []
    if refresh_catalog:
        streams += [
            FieldStream(context),
            ProjectStream(context),
            IssueTypeStream(context),
            StatusStream(context),
            BoardStream(context),
            SprintStream(context),
        ]
    streams.append(IssueStream(context, window, scope))
    if settings.development_links:
        streams.append(DevStatusStream(context, scope, dev_status_issue_ids))
    if deletion_sweep:
        streams.append(IssueIdStream(context, scope))
    return streams


def test_connection(
    settings: JiraSettings,
    credentials: JiraCredentials,
    *,
    http: HttpClient | None = None,
    budget: RateBudget | None = None,
    transport: httpx.BaseTransport | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> ConnectionCheck:
    """`GET /myself`: who the credentials belong to, and their time zone."""
    client, body = probe(
        http,
        lambda: jira_http_client(
            settings,
            credentials,
            budget=budget,
            transport=transport,
            sleep=sleep,
            policy=RetryPolicy(max_retries=1),
        ),
        lambda c: JiraApi(c, settings).myself(),
    )
    if isinstance(body, ConnectionCheck):
        return body
    name = body.get("displayName") or body.get("emailAddress") or body.get("accountId") or "?"
    zone = body.get("timeZone")
    return ConnectionCheck(
        True,
        f"Connected to {client.integration} as {name}" + (f" (time zone {zone})" if zone else ""),
        {"account_id": body.get("accountId"), "display_name": name, "time_zone": zone},
    )


test_connection.__test__ = False  # type: ignore[attr-defined]  # not a pytest test
