from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pydantic import SecretStr

from connectors.base import ExtractWindow, Page, Stream
from connectors.budget import InMemoryBudget
from connectors.http import RetryPolicy
from connectors.jira import JiraCredentials, JiraSettings, build_streams
from tests.connectors.fakes import Sleeps
from tests.connectors.jira.fake_jira import FakeJira

CREDENTIALS = JiraCredentials(email="ann@acme.test", api_token=SecretStr("jira-secret-token"))


def settings(**overrides: Any) -> JiraSettings:
    values: dict[str, Any] = {"url": "https://acme.atlassian.net", "projects": ["EE"]}
    values.update(overrides)
    return JiraSettings(**values)


def drain(stream: Stream, cursor: Any = None) -> list[Page]:
    """Fetch pages until the stream is finished, passing each cursor through JSON like the
    worker's checkpoint table does."""
    import json

    pages = []
    for _ in range(1000):
        page = stream.fetch_page(cursor)
        pages.append(page)
        if page.next_cursor is None:
            return pages
        cursor = json.loads(json.dumps(page.next_cursor))
    raise AssertionError("the stream never finished")


BuildFn = Callable[..., list[Stream]]


@pytest.fixture
def build() -> BuildFn:
    def _build(fake: FakeJira, window: ExtractWindow | None = None, **kw: Any) -> list[Stream]:
        kw.setdefault("settings", settings())
        return build_streams(
            kw.pop("settings"),
            CREDENTIALS,
            window or ExtractWindow(None),
            transport=fake.transport,
            budget=InMemoryBudget(),
            sleep=Sleeps(),
            policy=RetryPolicy(max_retries=2, base_delay=0.01),
            **kw,
        )

    return _build


def stream_of(streams: list[Stream], entity: str) -> Stream:
    return next(s for s in streams if s.key.entity == entity)
