"""Readers for the recorded real Jira payloads in ../shared/fixtures/real (read-only)."""

from __future__ import annotations

import csv
import io
import json
from functools import cache
from typing import Any

from tests.connectors.fakes import FIXTURES


@cache
def devlake_rows(name: str) -> list[dict[str, Any]]:
    """The JSON `data` column of `jira/_raw_jira_api_<name>.csv` (DevLake raw tables)."""
    csv.field_size_limit(1 << 30)
    text = (FIXTURES / "jira" / f"_raw_jira_api_{name}.csv").read_text(encoding="utf-8")
    rows = csv.DictReader(io.StringIO(text.lstrip("\n")))
    return [json.loads(row["data"]) for row in rows]


def devlake_rows_with_url(name: str) -> list[tuple[str, dict[str, Any]]]:
    csv.field_size_limit(1 << 30)
    text = (FIXTURES / "jira" / f"_raw_jira_api_{name}.csv").read_text(encoding="utf-8")
    return [(r["url"], json.loads(r["data"])) for r in csv.DictReader(io.StringIO(text))]


@cache
def faros_records(stream: str) -> list[dict[str, Any]]:
    """RECORD lines of faros/jira-all-streams.log whose stream name ends with `__<stream>`."""
    records = []
    with (FIXTURES / "faros" / "jira-all-streams.log").open(encoding="utf-8") as log:
        for line in log:
            if not line.strip():
                continue
            message = json.loads(line)
            if message.get("type") == "RECORD" and message["record"]["stream"].endswith(
                f"__{stream}"
            ):
                records.append(message["record"]["data"])
    return records
