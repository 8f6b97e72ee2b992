from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from connectors.jira import FieldRoles, JiraSettings, build_jql, format_jql_datetime
from connectors.jira.fields import STANDARD_FIELDS, has_pull_requests, resolve_field_roles
from tests.connectors.jira.conftest import settings

MOMENT = datetime(2024, 3, 1, 23, 30, 45, tzinfo=UTC)


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        ("Asia/Shanghai", "2024-03-02 07:30"),
        ("America/Los_Angeles", "2024-03-01 15:30"),
        ("UTC", "2024-03-01 23:30"),
        (None, "2024-03-01 09:30"),  # unknown zone: 14 hours earlier, never later
        ("Mars/Olympus", "2024-03-01 09:30"),
    ],
)
def test_jql_dates_in_user_time_zone(zone: str | None, expected: str) -> None:
    assert format_jql_datetime(MOMENT, zone) == expected


def test_build_jql_shapes() -> None:
    assert build_jql(["EE"]) == "project = EE ORDER BY updated ASC"
    assert build_jql(
        ["A", "OR"], extra_jql="labels = x", updated_since=MOMENT, time_zone="UTC", order="key"
    ) == (
        'project in (A, "OR") AND (labels = x) AND updated >= "2024-03-01 23:30" ORDER BY key ASC'
    )


def test_settings_validate_and_normalise() -> None:
    cfg = settings(projects=["ee", "EE", "ops"], url="https://acme.atlassian.net/", extra_jql="  ")
    assert cfg.projects == ["EE", "OPS"]
    assert cfg.url == "https://acme.atlassian.net"
    assert cfg.extra_jql is None
    with pytest.raises(ValueError, match="project key"):
        JiraSettings(url="https://x.test", projects=["not a key"])
    with pytest.raises(ValueError, match="https"):
        JiraSettings(url="acme.atlassian.net", projects=["EE"])


def test_credentials_never_show_the_token() -> None:
    from tests.connectors.jira.conftest import CREDENTIALS

    assert "jira-secret-token" not in repr(CREDENTIALS)
    assert "jira-secret-token" not in str(CREDENTIALS.model_dump())
    assert "jira-secret-token" not in CREDENTIALS.model_dump_json()


CATALOG: list[dict[str, Any]] = [
    {"id": "summary", "name": "Summary"},
    {"id": "customfield_1", "name": "故事点", "untranslatedName": "Story Points"},
    {
        "id": "customfield_2",
        "name": "Sprint",
        "schema": {"custom": "com.pyxis.greenhopper.jira:gh-sprint"},
    },
    {
        "id": "customfield_3",
        "name": "Squad",
        "schema": {"custom": "com.atlassian.jira.plugin.system.customfieldtypes:atlassian-team"},
    },
    {"id": "customfield_4", "name": "development"},
    {"id": "customfield_5", "name": "Severity"},
    {"id": "customfield_6", "name": "Effort"},
]


def test_field_roles_by_name_schema_and_settings() -> None:
    roles = resolve_field_roles(CATALOG, settings(custom_fields=["Severity", "customfield_9"]))
    assert roles == FieldRoles(
        story_points=("customfield_1",),
        sprint=("customfield_2",),
        team=("customfield_3",),
        development=("customfield_4",),
        extra=("customfield_5",),
    )
    fields = roles.search_fields()
    assert fields[: len(STANDARD_FIELDS)] == list(STANDARD_FIELDS)
    assert fields[len(STANDARD_FIELDS) :] == [f"customfield_{n}" for n in (1, 2, 3, 4, 5)]
    override = resolve_field_roles(CATALOG, settings(story_points_field="Effort"))
    assert override.story_points == ("customfield_6",)
    assert FieldRoles.from_json(roles.to_json()) == roles


def test_has_pull_requests() -> None:
    roles = FieldRoles(development=("customfield_4",))
    summary = "{pullrequest={dataType=pullrequest, state=OPEN, stateCount=1}, json={}}"
    assert has_pull_requests({"fields": {"customfield_4": summary}}, roles)
    assert not has_pull_requests({"fields": {"customfield_4": "{}"}}, roles)
    assert not has_pull_requests({"fields": {}}, roles)
