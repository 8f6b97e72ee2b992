"""Issue search over generated issues plus the overlay, without scanning.

Generated issues are already sorted by `updated` (strictly increasing in the index) and by key
within a project, so a query's start is a binary search. Touched issues (moved to a newer
`updated`) come from the small sorted overlay list and are merged in; deleted ones are skipped.
"""

from __future__ import annotations

import base64
import heapq
import json
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import islice

from connectors.simulator.jira_issues import JiraSite
from connectors.simulator.jql import JqlQuery
from connectors.simulator.overlay import Overlay
from connectors.simulator.protocol import BadRequest

SortKey = tuple[int, int]  # (updated_ms, index) or (project, number - 1)
_CACHED_QUERIES = 64


@dataclass(frozen=True, slots=True)
class Resolved:
    projects: tuple[int, ...]  # project indexes, ascending
    since_ms: int | None
    order: str
    signature: int  # identifies the query in page tokens


def _first(lo: int, hi: int, pred: Callable[[int], bool]) -> int:
    """The first x in [lo, hi) where the monotone `pred` holds, or hi."""
    while lo < hi:
        mid = (lo + hi) // 2
        if pred(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


class IssueSearch:
    def __init__(self, site: JiraSite, overlay: Overlay) -> None:
        self.site = site
        self.overlay = overlay
        # (query, overlay version) -> {offset: sort key of the item before it}
        self._offsets: OrderedDict[tuple[int, int], dict[int, SortKey | None]] = OrderedDict()

    def resolve(self, query: JqlQuery, text: str) -> Resolved:
        site = self.site
        if query.projects is None:
            projects = tuple(range(site.p))
        else:
            found = []
            for ref in sorted(query.projects):
                project = site.project_by_ref.get(ref)
                if project is None:
                    raise BadRequest(f"The value '{ref}' does not exist for the field 'project'.")
                found.append(project.index)
            projects = tuple(sorted(set(found)))
        since = None
        if query.updated_from is not None:
            since = int(query.updated_from.replace(tzinfo=site.tz).timestamp() * 1000)
        signature = zlib.crc32(" ".join(text.split()).encode())
        return Resolved(projects, since, query.order, signature)

    # -- counting --------------------------------------------------------------------------------
    def _project_size(self, p: int) -> int:
        return max(0, (self.site.n - p + self.site.p - 1) // self.site.p)

    def _first_k(self, p: int, since: int | None) -> int:
        size = self._project_size(p)
        if since is None:
            return 0
        site = self.site
        return _first(0, size, lambda k: site.updated_ms(k * site.p + p) >= since)

    def count(self, q: Resolved) -> int:
        site, overlay = self.site, self.overlay
        total = 0
        starts = {p: self._first_k(p, q.since_ms) for p in q.projects}
        for p, k0 in starts.items():
            total += self._project_size(p) - k0
        for i in overlay.touched.keys() | overlay.deleted:
            start = starts.get(i % site.p)
            if start is not None and i // site.p >= start and i < site.n:
                total -= 1
        for ms, i in overlay.by_time:
            if i % site.p in starts and (q.since_ms is None or ms >= q.since_ms):
                total += 1
        return total

    # -- iteration -------------------------------------------------------------------------------
    def iterate(self, q: Resolved, after: SortKey | None) -> Iterator[tuple[SortKey, int]]:
        """Matching issues in query order, strictly after the sort key `after`."""
        if q.order == "key":
            return heapq.merge(self._base_by_key(q, after), self._touched(q, after, by_key=True))
        return heapq.merge(self._base_by_updated(q, after), self._touched(q, after, by_key=False))

    def _base_by_updated(self, q: Resolved, after: SortKey | None) -> Iterator[tuple[SortKey, int]]:
        site, overlay = self.site, self.overlay
        lo = 0
        if q.since_ms is not None:
            since = q.since_ms
            lo = _first(0, site.n, lambda i: site.updated_ms(i) >= since)
        if after is not None:
            lo = max(lo, _first(0, site.n, lambda i: (site.updated_ms(i), i) > after))
        wanted = set(q.projects)
        every = len(wanted) == site.p
        hidden = overlay.hidden
        for i in range(lo, site.n):
            if (every or i % site.p in wanted) and not hidden(i):
                yield (site.updated_ms(i), i), i

    def _base_by_key(self, q: Resolved, after: SortKey | None) -> Iterator[tuple[SortKey, int]]:
        site, hidden = self.site, self.overlay.hidden
        for p in q.projects:
            if after is not None and p < after[0]:
                continue
            k0 = self._first_k(p, q.since_ms)
            if after is not None and p == after[0]:
                k0 = max(k0, after[1] + 1)
            for k in range(k0, self._project_size(p)):
                i = k * site.p + p
                if not hidden(i):
                    yield (p, k), i

    def _touched(
        self, q: Resolved, after: SortKey | None, *, by_key: bool
    ) -> Iterator[tuple[SortKey, int]]:
        site = self.site
        wanted = set(q.projects)
        found: list[tuple[SortKey, int]] = []
        for ms, i in self.overlay.by_time:
            if i % site.p not in wanted or (q.since_ms is not None and ms < q.since_ms):
                continue
            key = (i % site.p, i // site.p) if by_key else (ms, i)
            if after is None or key > after:
                found.append((key, i))
        found.sort()
        return iter(found)

    # -- pages -----------------------------------------------------------------------------------
    def page_after(
        self, q: Resolved, token: str | None, limit: int
    ) -> tuple[list[int], str | None]:
        """A cursor page: the issue indexes and the next page token (None on the last page)."""
        after = self.decode_token(token, q) if token else None
        taken = list(islice(self.iterate(q, after), limit + 1))
        more = len(taken) > limit
        taken = taken[:limit]
        next_token = self.encode_token(q, taken[-1][0]) if more and taken else None
        return [i for _, i in taken], next_token

    def page_at(self, q: Resolved, start: int, limit: int) -> list[int]:
        """An offset page (Server/DC `startAt`): resumes from remembered offsets, so paging
        forward costs one page of work rather than a scan from the start."""
        key = (q.signature, self.overlay.version)
        offsets = self._offsets.get(key)
        if offsets is None:
            offsets = {0: None}
            self._offsets[key] = offsets
            while len(self._offsets) > _CACHED_QUERIES:
                self._offsets.popitem(last=False)
        best = max(o for o in offsets if o <= start)
        items = self.iterate(q, offsets[best])
        taken = list(islice(items, start - best, start - best + limit))
        if taken and len(offsets) < 10_000:
            offsets[start + len(taken)] = taken[-1][0]
        return [i for _, i in taken]

    @staticmethod
    def encode_token(q: Resolved, key: SortKey) -> str:
        raw = json.dumps([q.order[0], key[0], key[1], q.signature]).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @staticmethod
    def decode_token(token: str, q: Resolved) -> SortKey:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            order, a, b, signature = json.loads(raw)
            valid = order == q.order[0] and signature == q.signature
        except (ValueError, TypeError):
            valid = False
        if not valid:
            raise BadRequest("The provided next page token is invalid or expired.")
        return int(a), int(b)
