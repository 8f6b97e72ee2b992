"""What a tenant configures for one Jira integration, and its credentials."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

_PROJECT_KEY = re.compile(r"^[A-Z][A-Z0-9_]{0,49}$")


class JiraSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str = Field(description="Site base URL, e.g. https://acme.atlassian.net")
    projects: list[str] = Field(min_length=1, description="Project keys to extract.")
    extra_jql: str | None = Field(
        default=None, description="Extra JQL, ANDed with the project list, e.g. `labels = x`."
    )
    deployment: Literal["cloud", "server"] = "cloud"
    page_size: int = Field(default=100, ge=1, le=100)
    development_links: bool = Field(
        default=False, description="Fetch linked pull requests (one request per linked issue)."
    )
    overlap_seconds: int = Field(default=300, ge=0, le=86_400)
    start_date: date | None = Field(
        default=None, description="Backfill only issues updated on or after this day (UTC)."
    )
    custom_fields: list[str] = Field(
        default_factory=list, description="Extra fields to fetch, by id or by name."
    )
    story_points_field: str | None = Field(
        default=None, description="Story points field by id or name (default: found by name)."
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with https:// (or http://)")
        return value

    @field_validator("projects")
    @classmethod
    def _project_keys(cls, value: list[str]) -> list[str]:
        keys = [key.strip().upper() for key in value]
        bad = [key for key in keys if not _PROJECT_KEY.match(key)]
        if bad:
            raise ValueError(f"not a Jira project key: {', '.join(map(repr, bad))}")
        return list(dict.fromkeys(keys))

    @field_validator("extra_jql")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @property
    def api_version(self) -> str:
        return "3" if self.deployment == "cloud" else "2"

    @property
    def start_datetime(self) -> datetime | None:
        if self.start_date is None:
            return None
        return datetime.combine(self.start_date, time.min, tzinfo=UTC)


class JiraCredentials(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    email: str = Field(description="Atlassian account e-mail (Server/DC: the user name).")
    api_token: SecretStr = Field(description="API token (Server/DC: password).")
