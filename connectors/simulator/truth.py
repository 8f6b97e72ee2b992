"""Ground truth: the full item set a complete sync must end with, honouring touches and deletes."""

from __future__ import annotations

from typing import Any

from connectors.simulator.github_api import GithubGraph
from connectors.simulator.github_data import GithubOrg
from connectors.simulator.jira_issues import JiraSite
from connectors.simulator.jira_schema import STATUS_BY_ID
from connectors.simulator.overlay import Overlay
from connectors.simulator.rand import utc_millis, utc_seconds


def pick_spread(size: int, count: int, skip: set[int]) -> list[int]:
    """`count` live indexes spread evenly over [0, size), deterministic."""
    count = min(count, max(0, size - len(skip)))
    out: list[int] = []
    taken: set[int] = set()
    for c in range(count):
        i = int((c + 0.5) * size / count)
        while i in skip or i in taken:
            i = (i + 1) % size
        taken.add(i)
        out.append(i)
    return out


def jira_truth(site: JiraSite, overlay: Overlay) -> dict[str, Any]:
    issues = []
    histories = 0
    for i in range(site.n):
        if i in overlay.deleted:
            continue
        updated = overlay.updated(i, site.updated_ms(i))
        issues.append(
            {
                "id": site.issue_id(i),
                "key": site.key(i),
                "updated": site.time(updated),
                "updated_utc": utc_millis(updated),
            }
        )
        histories += site.history_count(i)
    statuses = {s for p in site.projects for s in p.workflow}
    return {
        "kind": "jira",
        "site": site.site,
        "time_zone": site.tz_name,
        "issues": issues,
        "counts": {
            "issues": len(issues),
            "projects": len(site.projects),
            "statuses": len(statuses),
            "status_categories": len({STATUS_BY_ID[s][2] for s in statuses}),
            "issue_types": 6,
            "boards": len(site.projects) + 1,
            "sprints": site.sprint_count,
            "histories": histories,
            "deleted": len(overlay.deleted),
            "touched": len(overlay.touched),
        },
    }


def github_truth(org: GithubOrg, graph: GithubGraph) -> dict[str, Any]:
    overlay = graph.overlay
    prs = []
    totals = dict.fromkeys(
        ("commits", "reviews", "comments", "review_threads", "review_thread_comments"), 0
    )
    for j in range(org.n):
        if j in overlay.deleted:
            continue
        pr = org.pull(j)
        repo = org.repos[pr.repo]
        prs.append(
            {
                "id": pr.id,
                "number": pr.number,
                "repository": f"{org.login}/{repo.name}",
                "updatedAt": utc_seconds(graph.updated(j)),
            }
        )
        totals["commits"] += pr.commits
        totals["reviews"] += pr.reviews
        totals["comments"] += pr.comments
        totals["review_threads"] += pr.threads
        totals["review_thread_comments"] += sum(
            org.thread_comments(j, t) for t in range(pr.threads)
        )
    return {
        "kind": "github",
        "site": org.site,
        "organization": org.login,
        "repositories": [f"{org.login}/{r.name}" for r in org.repos],
        "pull_requests": prs,
        "counts": {
            "repos": org.r,
            "prs": len(prs),
            **totals,
            "deleted": len(overlay.deleted),
            "touched": len(overlay.touched),
        },
    }
