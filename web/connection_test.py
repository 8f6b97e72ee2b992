"""The "test connection" action for a stored integration: one cheap request with its own
settings and credentials, answered in a sentence the form shows inline (never a secret)."""

from __future__ import annotations

import time

from pydantic import ValidationError

from connectors import github, jira
from connectors.connection import ConnectionCheck
from connectors.extract.factory import github_settings, jira_settings
from dataflows.vectorize.embedders import embedder_for_integration
from pulse.errors import PulseError
from storage.crypto import CredentialCipher
from storage.repositories.integrations import credentials_of
from storage.schema import Integration


def test_integration(integration: Integration, cipher: CredentialCipher) -> ConnectionCheck:
    """Probe the integration; configuration problems come back as a failed check too."""
    started = time.monotonic()
    try:
        check = _probe(integration, cipher)
    except PulseError as exc:
        check = ConnectionCheck(False, exc.message)
    elapsed_ms = round((time.monotonic() - started) * 1000)
    return ConnectionCheck(
        check.ok, check.message, {**check.details, "ms": elapsed_ms}, check.retriable
    )


test_integration.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


def _probe(integration: Integration, cipher: CredentialCipher) -> ConnectionCheck:
    secrets = credentials_of(integration, cipher)
    if integration.provider == "jira":
        try:
            jira_credentials = jira.JiraCredentials(**secrets)
        except ValidationError:
            return ConnectionCheck(False, "Enter the account e-mail and API token, then save.")
        return jira.test_connection(jira_settings(integration), jira_credentials)
    if integration.provider == "github":
        try:
            github_credentials = github.GitHubCredentials(**secrets)
        except ValidationError:
            return ConnectionCheck(False, "Enter the token, then save.")
        return github.test_connection(github_settings(integration), github_credentials)
    return _probe_embedding(integration, cipher)


def _probe_embedding(integration: Integration, cipher: CredentialCipher) -> ConnectionCheck:
    embedder = embedder_for_integration(integration, cipher)
    try:
        vectors = embedder.embed(["Pulse ETL connection test"])
    finally:
        embedder.close()
    return ConnectionCheck(
        True,
        f"Connected: model {embedder.model!r} returned a {len(vectors[0])}-dimension vector",
        {"model": embedder.model, "dimension": len(vectors[0])},
    )
