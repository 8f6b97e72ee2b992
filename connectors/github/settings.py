"""What a tenant configures for one GitHub integration, and its credentials."""

from __future__ import annotations

import fnmatch
import re

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

_ORG = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$")


class GitHubSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    organization: str = Field(description="Organization login, e.g. `acme`.")
    repository_patterns: list[str] = Field(
        default_factory=list,
        description="fnmatch patterns on the repository name (or owner/name); empty: all.",
    )
    page_size: int = Field(default=50, ge=1, le=100)
    nested_page_size: int = Field(default=50, ge=1, le=100)
    api_url: str = Field(
        default="https://api.github.com",
        description="API base URL; GitHub Enterprise Server: https://HOST/api",
    )
    overlap_seconds: int = Field(default=300, ge=0, le=86_400)

    @field_validator("organization")
    @classmethod
    def _org_login(cls, value: str) -> str:
        value = value.strip()
        if not _ORG.match(value):
            raise ValueError("must be a GitHub organization login (letters, digits, dashes)")
        return value

    @field_validator("api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with https:// (or http://)")
        # Enterprise admins often paste the REST base; GraphQL lives next to it at /api/graphql.
        return value.removesuffix("/v3")

    @field_validator("repository_patterns")
    @classmethod
    def _patterns(cls, value: list[str]) -> list[str]:
        return [p.strip() for p in value if p.strip()]

    def wants(self, name_with_owner: str) -> bool:
        """Whether a repository matches the patterns (case-insensitive, like GitHub names)."""
        if not self.repository_patterns:
            return True
        full = name_with_owner.lower()
        name = full.rsplit("/", 1)[-1]
        return any(
            fnmatch.fnmatchcase(name, p.lower()) or fnmatch.fnmatchcase(full, p.lower())
            for p in self.repository_patterns
        )


class GitHubCredentials(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    token: SecretStr = Field(description="Personal access token or GitHub App installation token.")
