"""GitHub's flavour of GraphQL: type relations for fragments, opaque cursors, connection
resolvers with GitHub's paging rules (first/after, first <= 100), and request preparation."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from connectors.simulator.graphql import Executor, Resolver
from connectors.simulator.graphql_parser import (
    Document,
    GraphQLError,
    Operation,
    parse,
    pick_operation,
)

MAX_PAGE = 100
_PAGING = frozenset({"first", "after"})
IMPLEMENTS: dict[str, frozenset[str]] = {
    "User": frozenset(
        {"Actor", "Node", "RequestedReviewer", "RepositoryOwner", "UniformResourceLocatable"}
    ),
    "Bot": frozenset({"Actor", "Node"}),
    "Organization": frozenset({"Actor", "Node", "RepositoryOwner", "UniformResourceLocatable"}),
    "Team": frozenset({"Node", "RequestedReviewer"}),
    "PullRequest": frozenset(
        {
            "Node",
            "Assignable",
            "Closable",
            "Comment",
            "Labelable",
            "UniformResourceLocatable",
            "Updatable",
        }
    ),
    "Repository": frozenset({"Node", "RepositoryInfo", "UniformResourceLocatable"}),
    "PullRequestReview": frozenset({"Node", "Comment"}),
    "IssueComment": frozenset({"Node", "Comment"}),
    "PullRequestReviewComment": frozenset({"Node", "Comment"}),
    "PullRequestReviewThread": frozenset({"Node"}),
    "PullRequestCommit": frozenset({"Node", "UniformResourceLocatable"}),
}


def encode_cursor(key: Any) -> str:
    # Keys are ints or pairs of ints; formatting them by hand is much cheaper than json.dumps.
    text = f"[{key[0]}, {key[1]}]" if isinstance(key, tuple | list) else json.dumps(key)
    return base64.b64encode(b"cursor:v2:" + text.encode()).decode()


def decode_cursor(value: Any, connection: str) -> Any:
    if value is None:
        return None
    try:
        raw = base64.b64decode(str(value), validate=True)
        if not raw.startswith(b"cursor:v2:"):
            raise ValueError(raw)
        return json.loads(raw[10:])
    except ValueError as exc:
        raise GraphQLError(
            f"Argument 'after' on Field '{connection}' has an invalid value ({value!r})."
        ) from exc


def connection(
    name: str,
    typename: str,
    total: Callable[[], int],
    page: Callable[[Any, int, dict[str, Any]], tuple[list[tuple[Any, dict[str, Any]]], bool]],
    extra_args: frozenset[str] = frozenset(),
) -> Resolver:
    """A resolver for a cursor connection; `page(after_key, first, args)` -> (items, more)."""

    def resolve(args: dict[str, Any]) -> dict[str, Any]:
        unknown = set(args) - _PAGING - extra_args
        if unknown:
            raise GraphQLError(
                f"Field '{name}' doesn't accept argument '{sorted(unknown)[0]}' "
                "in the simulator (it paginates with first/after)"
            )
        first = args.get("first")
        if first is None:
            raise GraphQLError(
                f"You must provide a `first` value to properly paginate the `{name}` connection."
            )
        if not isinstance(first, int) or first < 0 or first > MAX_PAGE:
            raise GraphQLError(
                f"Requesting {first} records on the `{name}` connection exceeds "
                f"the `first` limit of {MAX_PAGE} records."
            )
        after = decode_cursor(args.get("after"), name)
        items, more = page(after, first, args)
        cursors = [encode_cursor(key) for key, _ in items]
        nodes = [node for _, node in items]
        return {
            "__typename": typename,
            "totalCount": total(),
            "pageInfo": {
                "__typename": "PageInfo",
                "hasNextPage": more,
                "endCursor": cursors[-1] if cursors else None,
                "hasPreviousPage": after is not None,
                "startCursor": cursors[0] if cursors else None,
            },
            "nodes": nodes,
            "edges": [
                {"__typename": typename[:-10] + "Edge", "cursor": c, "node": n}
                for c, n in zip(cursors, nodes, strict=True)
            ],
        }

    return resolve


def indexed(
    name: str, typename: str, count: int, make: Callable[[int], dict[str, Any]]
) -> Resolver:
    """A connection over items 0..count-1 generated on demand."""

    def page(
        after: Any, first: int, _: dict[str, Any]
    ) -> tuple[list[tuple[Any, dict[str, Any]]], bool]:
        start = int(after) + 1 if after is not None else 0
        stop = min(count, start + first)
        return [(k, make(k)) for k in range(start, stop)], stop < count

    return connection(name, typename, lambda: count, page)


@dataclass(frozen=True, slots=True)
class Prepared:
    doc: Document
    op: Operation
    variables: dict[str, Any]
    operation_name: str | None

    def executor(self) -> Executor:
        return Executor(self.doc, self.op, self.variables, IMPLEMENTS)


def prepare(body: Any) -> Prepared:
    """Parse a GraphQL request body; raises GraphQLError (answered 200 with `errors`)."""
    if not isinstance(body, dict) or not isinstance(body.get("query"), str):
        raise GraphQLError("A query attribute must be specified and must be a string.")
    doc = parse(body["query"])
    op = pick_operation(doc, body.get("operationName"))
    variables = body.get("variables") or {}
    if not isinstance(variables, dict):
        raise GraphQLError("Variables are invalid JSON.")
    return Prepared(doc, op, variables, body.get("operationName") or op.name)
