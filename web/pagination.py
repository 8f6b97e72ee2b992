"""Page numbers from the query string and the links of a pager, keeping every other filter
in the URL (the URL is the state: deep links and the back button work)."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.datastructures import URL

PAGE_SIZES = (25, 50, 100, 200)


@dataclass(frozen=True, slots=True)
class PageRequest:
    number: int  # 1-based
    size: int

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size

    @classmethod
    def of(cls, page: str | None, size: str | None, *, default_size: int = 50) -> PageRequest:
        number = int(page) if page and page.isdigit() and int(page) > 0 else 1
        chosen = int(size) if size and size.isdigit() and int(size) in PAGE_SIZES else default_size
        return cls(min(number, 10_000), chosen)


@dataclass(frozen=True, slots=True)
class Pager:
    first: int
    last: int
    total: int
    capped: bool
    previous_url: str | None
    next_url: str | None


def relative_url(url: URL) -> URL:
    """The request's path and query only, so links never name a host (proxies rewrite it)."""
    return URL(url.path + (f"?{url.query}" if url.query else ""))


def pager(url: URL, request: PageRequest, shown: int, total: int, capped: bool) -> Pager:
    url = relative_url(url)
    first = request.offset + 1 if shown else 0
    last = request.offset + shown
    more = capped or last < total
    return Pager(
        first=first,
        last=last,
        total=total,
        capped=capped,
        previous_url=(
            str(url.include_query_params(page=request.number - 1)) if request.number > 1 else None
        ),
        next_url=str(url.include_query_params(page=request.number + 1)) if more and shown else None,
    )
