"""The demo's report: what `pulse demo --no-serve` prints and when it counts as a failure."""

from __future__ import annotations

import json

from pulse.demo import DemoReport, RunSummary

COUNTS = {"work_items": 5, "pull_requests": 2, "vector_points": 7, "qdrant_points": 7}


def _run(state: str = "succeeded", error: str | None = None) -> RunSummary:
    return RunSummary(1, "jira", state, 9, 9, 5, 5, 0, error)


def _report(loaded: dict[str, int], runs: list[RunSummary]) -> DemoReport:
    return DemoReport("embedded", "demo", False, 12.345, runs, loaded, dict(COUNTS))


def test_matching_counts_and_succeeded_runs_are_ok_in_one_json_line() -> None:
    report = _report(dict(COUNTS), [_run()])
    line = report.to_json()
    assert "\n" not in line
    data = json.loads(line)
    assert data["ok"] is True
    assert data["setup_seconds"] == 12.3
    assert data["counts"]["work_items"] == {"loaded": 5, "simulator": 5}
    assert list(data["counts"]) == ["work_items", "pull_requests", "vector_points", "qdrant_points"]
    assert data["runs"][0]["integration"] == "jira"
    assert data["problems"] == []


def test_a_count_off_by_one_or_a_failed_run_is_a_problem() -> None:
    report = _report({**COUNTS, "vector_points": 6}, [_run("failed", "HTTP 401 from Jira")])
    assert not report.ok
    assert report.problems() == [
        "run 1 failed: HTTP 401 from Jira",
        "vector_points: loaded 6, the simulator holds 7",
    ]


def test_qdrant_not_counted_is_shown_as_null_not_as_a_mismatch() -> None:
    loaded = {k: v for k, v in COUNTS.items() if k != "qdrant_points"}
    data = json.loads(_report(loaded, [_run()]).to_json())
    assert data["ok"] is True
    assert data["counts"]["qdrant_points"] == {"loaded": None, "simulator": 7}
