"""Which fields the issue search asks for.

Custom field ids differ per site (`customfield_10016` here, `customfield_10024` there), so story
points, sprint, team and development are found BY NAME in the field catalog (`GET /field`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from connectors.jira.settings import JiraSettings

logger = logging.getLogger(__name__)

# What the work-item model reads from an issue; keep in step with the mapping rules.
STANDARD_FIELDS: tuple[str, ...] = (
    "summary",
    "description",
    "issuetype",
    "status",
    "project",
    "priority",
    "resolution",
    "resolutiondate",
    "assignee",
    "reporter",
    "labels",
    "parent",
    "created",
    "updated",
)

STORY_POINT_NAMES = ("Story point estimate", "Story Points")
_SPRINT_SCHEMA = "com.pyxis.greenhopper.jira:gh-sprint"
_TEAM_SCHEMAS = (":atlassian-team", ":rm-teams-custom-field-team")
_DEVELOPMENT_SCHEMA_SUFFIX = ":devsummarycf"


@dataclass(frozen=True, slots=True)
class FieldRoles:
    """Field ids by role on one site. A role may map to several fields (both story point kinds)."""

    story_points: tuple[str, ...] = ()
    sprint: tuple[str, ...] = ()
    team: tuple[str, ...] = ()
    development: tuple[str, ...] = ()
    extra: tuple[str, ...] = ()

    def search_fields(self) -> list[str]:
        """The explicit `fields` list for the issue search, standard fields first."""
        ordered = [
            *STANDARD_FIELDS,
            *self.story_points,
            *self.sprint,
            *self.team,
            *self.development,
            *self.extra,
        ]
        return list(dict.fromkeys(ordered))

    def to_json(self) -> dict[str, list[str]]:
        return {name: list(ids) for name, ids in asdict(self).items()}

    @classmethod
    def from_json(cls, data: Mapping[str, Sequence[str]]) -> FieldRoles:
        return cls(**{name: tuple(data.get(name, ())) for name in cls.__dataclass_fields__})


def resolve_field_roles(catalog: Iterable[Mapping[str, Any]], settings: JiraSettings) -> FieldRoles:
    fields = [f for f in catalog if isinstance(f.get("id"), str)]

    def schema(field: Mapping[str, Any]) -> str:
        return str((field.get("schema") or {}).get("custom") or "")

    def by_names(names: Iterable[str]) -> tuple[str, ...]:
        # Localised sites translate `name`; `untranslatedName` keeps the English one.
        wanted = {name.casefold() for name in names}
        return tuple(
            f["id"]
            for f in fields
            if str(f.get("name", "")).casefold() in wanted
            or str(f.get("untranslatedName", "")).casefold() in wanted
        )

    def by_id_or_name(ref: str) -> tuple[str, ...]:
        if any(f["id"] == ref for f in fields):
            return (ref,)
        found = by_names([ref])
        if not found:
            logger.warning("Jira field %r is not in the site's field catalog; not fetched", ref)
        return found

    if settings.story_points_field:
        story_points = by_id_or_name(settings.story_points_field)
    else:
        story_points = by_names(STORY_POINT_NAMES)
    sprint = tuple(f["id"] for f in fields if schema(f) == _SPRINT_SCHEMA) or by_names(["Sprint"])
    team = tuple(f["id"] for f in fields if schema(f).endswith(_TEAM_SCHEMAS)) or by_names(["Team"])
    development = tuple(
        f["id"] for f in fields if schema(f).endswith(_DEVELOPMENT_SCHEMA_SUFFIX)
    ) or by_names(["development"])
    extra = tuple(ident for ref in settings.custom_fields for ident in by_id_or_name(ref))
    return FieldRoles(story_points, sprint, team, development, extra)


def has_pull_requests(issue: Mapping[str, Any], roles: FieldRoles) -> bool:
    """True when the issue's development summary mentions pull requests (Cloud: a string like
    `{pullrequest={dataType=pullrequest, state=MERGED, stateCount=1}, json=...}`; `{}` if none)."""
    values = issue.get("fields") or {}
    for field_id in roles.development:
        value = values.get(field_id)
        if isinstance(value, str) and "pullrequest" in value:
            return True
        if isinstance(value, dict) and value.get("pullrequest"):
            return True
    return False
