"""What the issue search needs to know about a site: the user's time zone and the field ids.

Discovering it costs two requests (`/myself`, `/field`). The worker should keep the `JiraSite`
(it is JSON) and pass it to `build_streams` on incremental runs, so a run that finds nothing new
costs a single search request. The streams of one build share a `SiteContext`, so the catalog
fetched by the `jira.field` stream is reused by the issue stream instead of being fetched again.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from connectors.jira.client import JiraApi
from connectors.jira.fields import FieldRoles, resolve_field_roles
from connectors.records import fetch_version
from pulse.errors import RetriableError


@dataclass(frozen=True, slots=True)
class JiraSite:
    time_zone: str | None
    roles: FieldRoles

    def to_json(self) -> dict[str, Any]:
        return {"time_zone": self.time_zone, "roles": self.roles.to_json()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> JiraSite:
        return cls(time_zone=data.get("time_zone"), roles=FieldRoles.from_json(data["roles"]))


@dataclass
class SiteContext:
    """State shared by the streams of one `build_streams` call (one process, one run)."""

    api: JiraApi
    time_zone: str | None = None
    time_zone_known: bool = False
    roles: FieldRoles | None = None
    board_ids: list[int] | None = None  # boards seen by the board stream this run
    dev_issue_ids: set[str] = field(default_factory=set)  # issues with linked pull requests
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def of(cls, api: JiraApi, site: JiraSite | None) -> SiteContext:
        if site is None:
            return cls(api)
        return cls(api, time_zone=site.time_zone, time_zone_known=True, roles=site.roles)

    def fetch_version(self) -> str:
        """The version of an unversioned entity fetched now (see `records.fetch_version`)."""
        return fetch_version(self.api.http.now())

    def remember_catalog(self, catalog: list[dict[str, Any]]) -> None:
        with self._lock:
            self.roles = resolve_field_roles(catalog, self.api.settings)

    def ensure(self, *, time_zone: bool = True) -> int:
        """Fill in what is unknown; returns the requests that cost. A search without a date
        does not need the time zone, so a plain backfill skips `/myself`."""
        spent = 0
        if time_zone and not self.time_zone_known:
            result = self.api.myself()
            spent += result.attempts
            body = result.body if isinstance(result.body, dict) else {}
            self.time_zone, self.time_zone_known = body.get("timeZone"), True
        if self.roles is None:
            result = self.api.fields()
            spent += result.attempts
            if not isinstance(result.body, list):
                raise RetriableError(
                    "Jira field catalog is not a list", integration=self.api.http.integration
                )
            self.remember_catalog(result.body)
        return spent

    def site(self) -> JiraSite:
        if self.roles is None or not self.time_zone_known:
            raise RuntimeError("call ensure() first")
        return JiraSite(self.time_zone, self.roles)


def discover_site(api: JiraApi) -> JiraSite:
    """Fetch the time zone and field ids now (two requests)."""
    context = SiteContext(api)
    context.ensure()
    return context.site()
