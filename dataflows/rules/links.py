"""Work item ↔ pull request links: issue keys in text, and Jira's development (dev-status) data.

Issue keys follow Jira's default format: a project key of two or more characters (an upper-case
letter, then upper-case letters, digits or `_`), a hyphen and an issue number without leading
zeros. Like Jira's own GitHub integration, keys are matched in upper case only: lower-case
branch names such as `release-2024` or `fix-1` are far more often prose than keys. A key must
stand on its own (not glued to letters or digits on either side), and well-known technical
tokens that share the shape (`UTF-8`, `ISO-8601`, `SHA-256`, `CVE-2024-1234`, ...) are not keys.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from dataflows.rules._payload import RecordMeta, Row, as_dict, as_list, opt_text
from pulse.tenant_config import TenantConfig

__all__ = [
    "NOT_ISSUE_PREFIXES",
    "extract_issue_keys",
    "key_links",
    "map_dev_status",
    "parse_pull_url",
]

_KEY = re.compile(r"(?<![A-Za-z0-9])([A-Z][A-Z0-9_]+)-([1-9][0-9]*)(?![A-Za-z0-9])")

# Standard and technical identifiers that look like issue keys. Kept short on purpose: every
# entry is a project key that can never be linked.
NOT_ISSUE_PREFIXES = frozenset(
    {
        "AES", "BASE", "COVID", "CVE", "CWE", "ECMA", "FIPS", "GHSA", "GPT", "HTTP", "IEC",
        "IEEE", "IPV", "ISO", "MD", "PEP", "RFC", "RSA", "SHA", "SSL", "TLS", "UTF",
    }
)  # fmt: skip

_PULL_PATH = re.compile(r"/([^/]+)/([^/]+)/pulls?/(\d+)/?$")


def extract_issue_keys(text: str | None) -> list[str]:
    """The distinct issue keys in `text`, in order of first appearance."""
    if not text:
        return []
    found: dict[str, None] = {}
    for match in _KEY.finditer(text):
        if match.group(1) not in NOT_ISSUE_PREFIXES:
            found.setdefault(match.group(0), None)
    return list(found)


def parse_pull_url(url: str | None) -> tuple[str, int] | None:
    """`https://github.com/{owner}/{repo}/pull/{n}` (any host, e.g. GitHub Enterprise) →
    (`owner/repo`, n); None for anything else (GitLab merge requests, branches, ...)."""
    if not url:
        return None
    match = _PULL_PATH.search(urlsplit(url).path)
    if match is None:
        return None
    return f"{match.group(1)}/{match.group(2)}", int(match.group(3))


def map_dev_status(payload: Mapping[str, Any], config: TenantConfig, meta: RecordMeta) -> list[Row]:
    """Jira dev-status detail → `work_item_pr_links` rows (`link_source` "jira_dev").

    The connector stores `{issueId, errors, detail}`; dev-status answers do not name the issue
    key. Rows carry `work_item_external_id` (the issue id) always and `work_item_key` from the
    payload's `issueKey` when the connector provides it, else None for the loader to resolve
    from `work_items`. Entries whose URL is not a GitHub pull request URL are not GitHub pull
    requests (GitLab, Bitbucket) and produce no link; `pr_status` is lower-cased
    (open | merged | declined).
    """
    issue_id = opt_text(payload.get("issueId")) or meta.external_id
    issue_key = opt_text(payload.get("issueKey"))
    rows: dict[tuple[str, int], Row] = {}
    for detail in as_list(payload.get("detail")):
        for pr in as_list((as_dict(detail) or {}).get("pullRequests")):
            pr = as_dict(pr) or {}
            url = opt_text(pr.get("url"))
            parsed = parse_pull_url(url)
            if parsed is None:
                continue
            status = opt_text(pr.get("status"))
            rows[parsed] = {
                **meta.versioned(config),
                "work_item_key": issue_key,
                "work_item_external_id": issue_id,
                "repository_full_name": parsed[0],
                "pr_number": parsed[1],
                "link_source": "jira_dev",
                "pr_status": status.lower() if status else None,
                "url": url,
            }
    return list(rows.values())


def key_links(
    keys_by_source: Mapping[str, list[str]],
    base: Row,
    repository_full_name: str,
    number: int,
    status: str | None,
    url: str | None,
) -> list[Row]:
    """`work_item_pr_links` rows for issue keys found in a pull request's title and branch."""
    return [
        {
            **base,
            "work_item_key": key,
            "repository_full_name": repository_full_name,
            "pr_number": number,
            "link_source": source,
            "pr_status": status,
            "url": url,
        }
        for source, keys in keys_by_source.items()
        for key in keys
    ]
