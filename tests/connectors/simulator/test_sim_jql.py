"""The JQL subset: what parses, what is refused with 400, and `updated >=` in the user's zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from connectors.simulator import SimulatorServer
from connectors.simulator.jql import parse_jql
from connectors.simulator.protocol import BadRequest

from .helpers import jira, search_all


def test_the_connector_jql_parses() -> None:
    query = parse_jql(
        'project in (ACME1, "ACME2") AND (project = acme2) AND updated >= "2025-03-01 10:15" '
        "ORDER BY key ASC"
    )
    assert query.projects == frozenset({"ACME2"})
    assert query.updated_from == datetime(2025, 3, 1, 10, 15)
    assert query.order == "key"
    assert parse_jql("project = ACME1").order == "updated"
    assert not parse_jql("ORDER BY updated ASC").bounded


@pytest.mark.parametrize(
    "jql",
    [
        "status = Done",
        "project = ACME1 OR project = ACME2",
        "project = ACME1 ORDER BY created ASC",
        "project = ACME1 ORDER BY updated DESC",
        'updated > "2025-01-01 00:00"',
        'updated >= "yesterday"',
        "project in (ACME1",
        "project = ACME1 AND",
        "NOT project = ACME1",
    ],
)
def test_other_jql_is_refused(jql: str) -> None:
    with pytest.raises(BadRequest):
        parse_jql(jql)


@pytest.mark.parametrize(
    ("jql", "message"),
    [
        ("project = ACME1 AND status = Done", "not supported"),
        ("project = NOPE", "does not exist"),
        ("ORDER BY updated ASC", "Unbounded"),
    ],
)
def test_search_answers_400_with_error_messages(
    server: SimulatorServer, jql: str, message: str
) -> None:
    with jira(server, "acme") as client:
        response = client.post("/rest/api/3/search/jql", json={"jql": jql})
    assert response.status_code == 400
    assert message in response.json()["errorMessages"][0]


@pytest.mark.parametrize(
    ("site", "zone"), [("acme", "Asia/Shanghai"), ("globex", "America/Los_Angeles")]
)
def test_updated_filter_reads_dates_in_the_users_time_zone(
    server: SimulatorServer, site: str, zone: str
) -> None:
    truth = server.truth("jira", site)
    assert truth["time_zone"] == zone
    moments = sorted(
        datetime.fromisoformat(t["updated_utc"].replace("Z", "+00:00")) for t in truth["issues"]
    )
    # A bound right at one issue's update: misreading the date as UTC would shift the bound by
    # the zone offset and move exactly that issue across it.
    pivot = moments[len(moments) // 2]
    offset = pivot.astimezone(ZoneInfo(zone)).utcoffset() or timedelta()
    bound = pivot.replace(second=0, microsecond=0)
    if offset < timedelta():
        bound += timedelta(minutes=1)
    local = bound.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")
    expected = sum(1 for m in moments if m >= bound)
    as_utc = datetime.strptime(local, "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
    naive_utc = sum(1 for m in moments if m >= as_utc)
    prefix = site.upper()
    with jira(server, site) as client:
        me = client.get("/rest/api/3/myself").json()
        issues = search_all(
            client,
            f"project in ({prefix}1, {prefix}2, {prefix}3) AND "
            f'updated >= "{local}" ORDER BY updated ASC',
            maxResults=100,
            fields=["updated"],
        )
    assert me["timeZone"] == zone
    assert len(issues) == expected
    assert naive_utc != expected  # reading the date as UTC would select a different set
    first = datetime.strptime(issues[0]["fields"]["updated"], "%Y-%m-%dT%H:%M:%S.%f%z")
    assert first >= bound
