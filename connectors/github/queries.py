"""GraphQL documents: the operations of the contract (docs/source-apis.md) plus two that complete
overflowing nested connections of many pull requests at once (`PullRequestsByIds`,
`PullRequestNestedPages`: standard GraphQL, `nodes(ids:)` and aliases).

Every query asks for `rateLimit` so the budget learns the real point balance from each answer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

MAX_NESTED = 100  # GitHub's limit on `first`

_RATE = "rateLimit { cost remaining resetAt limit }"
_PAGE = "totalCount pageInfo { hasNextPage endCursor }"

_COMMIT = (
    "commit { oid message additions deletions authoredDate committedDate "
    "author { name email user { login } } committer { name email } }"
)
_REVIEW = "id databaseId author { login } state body submittedAt createdAt"
_COMMENT = "id databaseId author { login } body createdAt updatedAt"
_THREAD_COMMENT = "id databaseId author { login } body path position line createdAt updatedAt"

# Nodes of each nested connection of a pull request. Review threads also ask for their edge
# cursors: following one thread's comments needs the cursor of the thread before it.
CONNECTION_NODES: dict[str, str] = {
    "commits": _COMMIT,
    "reviews": _REVIEW,
    "comments": _COMMENT,
    "reviewThreads": "id path line comments(first: $THREAD) {{ {page} nodes {{ {nodes} }} }}",
}
_EDGES = {"reviewThreads": " edges { cursor }"}


def _connection_body(name: str, thread_comments: str) -> str:
    nodes = CONNECTION_NODES[name]
    if name == "reviewThreads":
        nodes = nodes.replace("$THREAD", thread_comments).format(page=_PAGE, nodes=_THREAD_COMMENT)
    return f"{_PAGE}{_EDGES.get(name, '')} nodes {{ {nodes} }}"


def _pull_request_fragment(nested: str, thread_comments: str) -> str:
    connections = "\n".join(
        f"  {name}(first: {nested}) {{ {_connection_body(name, thread_comments)} }}"
        for name in CONNECTION_NODES
    )
    return f"""
fragment PullRequestFields on PullRequest {{
  id databaseId number title body url state isDraft createdAt updatedAt closedAt mergedAt
  additions deletions changedFiles headRefName baseRefName
  author {{ login }} mergedBy {{ login }} repository {{ id nameWithOwner }}
{connections}
}}
"""


VIEWER = f"query Viewer {{ viewer {{ login }} {_RATE} }}"

ORG_REPOSITORIES = f"""
query OrgRepositories($org: String!, $first: Int!, $after: String) {{
  {_RATE}
  organization(login: $org) {{
    repositories(first: $first, after: $after) {{
      {_PAGE}
      nodes {{
        id databaseId name nameWithOwner description url primaryLanguage {{ name }}
        defaultBranchRef {{ name }} visibility isPrivate isArchived isFork
        createdAt updatedAt pushedAt
      }}
    }}
  }}
}}
"""

REPO_PULL_REQUESTS = f"""
query RepoPullRequests($owner: String!, $name: String!, $first: Int!, $after: String,
                       $nested: Int!) {{
  {_RATE}
  repository(owner: $owner, name: $name) {{
    pullRequests(first: $first, after: $after, orderBy: {{field: UPDATED_AT, direction: DESC}}) {{
      {_PAGE}
      nodes {{ ...PullRequestFields }}
    }}
  }}
}}
""" + _pull_request_fragment("$nested", "$nested")

# Pull requests whose nested connections overflowed the listing, read again in one request with
# the largest nested pages; what still overflows then comes from `nested_pages_query`.
PULL_REQUESTS_BY_IDS = f"""
query PullRequestsByIds($ids: [ID!]!, $nested: Int!, $threadComments: Int!) {{
  {_RATE}
  nodes(ids: $ids) {{ ...PullRequestFields }}
}}
""" + _pull_request_fragment("$nested", "$threadComments")

REPO_PULL_REQUEST_IDS = f"""
query RepoPullRequestIds($owner: String!, $name: String!, $first: Int!, $after: String) {{
  {_RATE}
  repository(owner: $owner, name: $name) {{
    pullRequests(first: $first, after: $after) {{ {_PAGE} nodes {{ id number }} }}
  }}
}}
"""


def nested_pages_query(wants: Sequence[NestedWant]) -> tuple[str, dict[str, Any]]:
    """One request for the next page of many nested connections, one alias per connection.

    A thread's comments are reached through its pull request: `reviewThreads(first: 1, after:
    <cursor of the thread before it>)`.
    """
    fields: list[str] = []
    params: list[str] = []
    variables: dict[str, Any] = {}
    for k, want in enumerate(wants):
        params += [f"$i{k}: ID!", f"$a{k}: String"]
        variables[f"i{k}"], variables[f"a{k}"] = want.pull_request_id, want.after
        if want.connection == "threadComments":
            params.append(f"$t{k}: String")
            variables[f"t{k}"] = want.thread_after
            inner = (
                f"reviewThreads(first: 1, after: $t{k}) {{ nodes {{ id "
                f"comments(first: {MAX_NESTED}, after: $a{k}) {{ {_PAGE} "
                f"nodes {{ {_THREAD_COMMENT} }} }} }} }}"
            )
        else:
            body = _connection_body(want.connection, str(MAX_NESTED // 2))
            inner = f"{want.connection}(first: {MAX_NESTED}, after: $a{k}) {{ {body} }}"
        fields.append(f"  n{k}: node(id: $i{k}) {{ ... on PullRequest {{ {inner} }} }}")
    body = "\n".join(fields)
    query = f"query PullRequestNestedPages({', '.join(params)}) {{\n  {_RATE}\n{body}\n}}"
    return query, variables


@dataclass(frozen=True, slots=True)
class NestedWant:
    """The next page of one nested connection (`threadComments`: of one review thread)."""

    pull_request_id: str
    connection: str  # commits | reviews | comments | reviewThreads | threadComments
    after: str | None
    thread_after: str | None = None  # threadComments: cursor of the thread before this one
    thread_id: str | None = None


def pull_request_page_cost(first: int, nested: int) -> int:
    """GitHub's point estimate for one RepoPullRequests page: connections asked / 100."""
    connections = 1 + first * 4 + first * nested  # PRs, 4 nested each, comments per thread
    return max(1, math.ceil(connections / 100))
