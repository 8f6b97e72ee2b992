"""Which pull request mentions which Jira issue of the same site, computable in both directions.

Every third PR (j % 3 == 0) mentions one issue through an affine permutation of the issue index,
so the GitHub side can name the issue key of PR j, and the Jira side (the Development field and
dev-status) can list the PRs of issue i, both in O(1) without scanning.
"""

from __future__ import annotations

from math import gcd


class IssueLinks:
    def __init__(self, seed: int, issues: int, prs: int) -> None:
        self.issues = issues
        self.linking = (prs + 2) // 3  # PRs 0, 3, 6, ... below `prs`
        if issues == 0:
            self.a = self.b = self.a_inv = 0
            return
        a = 1 + 2 * (seed % 997)
        while gcd(a, issues) != 1:
            a += 1
        self.a = a % issues or 1
        self.b = (seed >> 16) % issues
        self.a_inv = pow(self.a, -1, issues) if issues > 1 else 0

    def issue_for_pr(self, j: int) -> int | None:
        if self.issues == 0 or j % 3:
            return None
        return (self.a * (j // 3) + self.b) % self.issues

    def prs_for_issue(self, i: int) -> list[int]:
        if self.issues == 0 or self.linking == 0:
            return []
        first = (self.a_inv * (i - self.b)) % self.issues if self.issues > 1 else 0
        return [3 * k for k in range(first, self.linking, self.issues)]

    @staticmethod
    def key_in_title(j: int) -> bool:
        """Linked PRs with j % 6 == 0 name the key in the title too; the others only in the
        branch name (so a connector must look at both)."""
        return j % 6 == 0
