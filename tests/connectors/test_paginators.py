from __future__ import annotations

import json

import pytest

from connectors.paginators import GraphQLCursorPaginator, OffsetPaginator, TokenPaginator
from pulse.errors import FatalError


def test_token_paginator_follows_tokens_until_last() -> None:
    paginator = TokenPaginator(100)
    assert paginator.request(None) == {"maxResults": 100}
    position = paginator.advance(None, {"issues": [1], "nextPageToken": "t1", "isLast": False})
    assert position == {"token": "t1"}
    assert paginator.request(position) == {"maxResults": 100, "nextPageToken": "t1"}
    assert (
        paginator.advance(position, {"issues": [2], "nextPageToken": "t2", "isLast": True}) is None
    )
    assert paginator.advance(position, {"issues": []}) is None


def test_token_paginator_refuses_a_repeated_token() -> None:
    with pytest.raises(FatalError):
        TokenPaginator(10).advance({"token": "t1"}, {"nextPageToken": "t1"})


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ({"startAt": 0, "maxResults": 2, "values": [1, 2], "isLast": False}, {"start_at": 2}),
        ({"startAt": 0, "maxResults": 2, "values": [1, 2], "isLast": True}, None),
        ({"startAt": 0, "maxResults": 2, "values": [1, 2], "total": 5}, {"start_at": 2}),
        ({"startAt": 4, "maxResults": 2, "values": [5], "total": 5}, None),
        ({"startAt": 0, "maxResults": 2, "values": []}, None),
        # the server capped maxResults at 2 though we asked for 50: a full page, go on
        ({"startAt": 0, "maxResults": 2, "values": [1, 2]}, {"start_at": 2}),
        ({"startAt": 2, "maxResults": 2, "values": [3]}, None),
    ],
    ids=["isLast-false", "isLast-true", "total-more", "total-done", "empty", "capped", "short"],
)
def test_offset_paginator(answer: dict[str, object], expected: dict[str, int] | None) -> None:
    assert OffsetPaginator(50).advance(None, answer) == expected


def test_offset_paginator_request_uses_position() -> None:
    assert OffsetPaginator(50).request({"start_at": 100}) == {"startAt": 100, "maxResults": 50}


def test_graphql_cursor_paginator() -> None:
    paginator = GraphQLCursorPaginator(25)
    assert paginator.request(None) == {"first": 25, "after": None}
    connection = {"pageInfo": {"hasNextPage": True, "endCursor": "c1"}, "nodes": [1]}
    position = paginator.advance(None, connection)
    assert position == {"after": "c1"}
    assert paginator.request(position) == {"first": 25, "after": "c1"}
    assert paginator.advance(position, {"pageInfo": {"hasNextPage": False}}) is None
    with pytest.raises(FatalError):
        paginator.advance(position, connection)  # same cursor again: would loop forever


def test_positions_are_json() -> None:
    position = GraphQLCursorPaginator(1).advance(
        None, {"pageInfo": {"hasNextPage": True, "endCursor": "x"}}
    )
    assert json.loads(json.dumps(position)) == position
