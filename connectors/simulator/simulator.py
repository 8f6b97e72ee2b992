"""The simulator: every site's data plus request handling, usable without a socket.

`Simulator.handle` takes a `SimRequest` and returns a `SimResponse`; the Starlette app (app.py)
is a thin adapter around it. A request passes, in order: routing (which names the endpoint for
the request counts), injected faults, authentication, the per-credential rate limit, and the
endpoint itself.
"""

from __future__ import annotations

import base64
import binascii
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from connectors.simulator.config import SimulatorConfig
from connectors.simulator.control import handle_control
from connectors.simulator.faults import (
    Fault,
    FaultInjector,
    FaultKind,
    fault_response,
    unauthorized,
)
from connectors.simulator.github_api import GithubGraph, execute
from connectors.simulator.github_data import GithubOrg, parse_node_id
from connectors.simulator.github_graphql import Prepared, prepare
from connectors.simulator.graphql_parser import GraphQLError
from connectors.simulator.jira_api import JiraContext, route
from connectors.simulator.jira_issues import JiraSite
from connectors.simulator.jira_search import IssueSearch
from connectors.simulator.limits import Budget, RateLimiter
from connectors.simulator.links import IssueLinks
from connectors.simulator.overlay import Overlay
from connectors.simulator.protocol import (
    BadRequest,
    SimRequest,
    SimResponse,
    dump,
    jira_error,
    json_response,
)
from connectors.simulator.truth import github_truth, jira_truth, pick_spread

logger = logging.getLogger(__name__)

TOKEN_PREFIX = "sim-"  # noqa: S105 - the prefix of valid simulated tokens, not a secret
SYSTEMS = ("jira", "github")


@dataclass(slots=True)
class SiteState:
    jira: JiraSite
    github: GithubOrg
    jira_overlay: Overlay
    github_overlay: Overlay
    search: IssueSearch
    graph: GithubGraph


class Simulator:
    def __init__(
        self, config: SimulatorConfig | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self.config = config or SimulatorConfig()
        self.clock = clock
        self.limiter = RateLimiter(self.config.rate_limit, self.config.rate_window_seconds, clock)
        self.faults = FaultInjector()
        self._lock = threading.RLock()
        self._counts: Counter[tuple[str, str, int]] = Counter()  # (site, endpoint, status)
        self.sites: dict[str, SiteState] = {}
        for site in self.config.sites:
            jira = JiraSite(self.config, site)
            links = IssueLinks(jira.seed, self.config.issues_per_site, self.config.prs_per_site)
            org = GithubOrg(self.config, site, links)
            jira_overlay, github_overlay = Overlay(), Overlay()
            graph = GithubGraph(org, github_overlay)
            jira.dev_source = graph
            self.sites[site] = SiteState(
                jira, org, jira_overlay, github_overlay, IssueSearch(jira, jira_overlay), graph
            )

    # -- request handling ------------------------------------------------------------------------
    def handle(self, req: SimRequest) -> SimResponse:
        if req.path.startswith("/_sim/") or req.path == "/_sim":
            return handle_control(self, req)
        parts = req.path.split("/", 3)
        system = parts[1] if len(parts) > 1 else ""
        site = parts[2] if len(parts) > 2 else ""
        sub = "/" + (parts[3] if len(parts) > 3 else "")
        state = self.sites.get(site)
        if system not in SYSTEMS or state is None:
            self._record(site or "-", f"{system or 'unknown'}.unknown", 404)
            return json_response(
                {"message": "Not Found", "errorMessages": [f"No simulated site at {req.path!r}"]},
                404,
            )
        with self._lock:
            if system == "jira":
                response, endpoint = self._jira(state, site, sub, req)
            else:
                response, endpoint = self._github(state, site, sub, req)
            self._record(site, endpoint, response.status)
        response.delay += self.config.latency_ms / 1000
        return response

    def _record(self, site: str, endpoint: str, status: int) -> None:
        with self._lock:
            self._counts[(site, endpoint, status)] += 1

    def _jira(
        self, state: SiteState, site: str, sub: str, req: SimRequest
    ) -> tuple[SimResponse, str]:
        endpoint, handler, match, allowed = route(req.method, sub)
        fault = self.faults.take("jira", site, req.path, endpoint, None)
        credential = _jira_credential(req.headers.get("authorization", ""))
        early = self._early("jira", fault, credential)
        if early is not None:
            return early, endpoint
        assert credential is not None
        email, token = credential
        budget = self.limiter.take("jira", token)
        if not budget.allowed:
            headers = {
                **budget.jira_headers(),
                "X-RateLimit-Remaining": "0",
                "Retry-After": str(budget.retry_after(self.clock())),
            }
            response = jira_error(429, "Rate limit exceeded.")
            response.headers.update(headers)
            return response, endpoint
        if handler is None or match is None or not allowed:
            response = jira_error(
                404 if handler is None else 405, f"No Jira endpoint {req.method} {sub}"
            )
        else:
            base = f"{req.base_url}/jira/{site}"
            ctx = JiraContext(state.jira, state.search, state.jira_overlay, base, email)
            response = self._run(lambda: handler(ctx, req, match), "jira")
        response.headers.update(budget.jira_headers())
        return _after(response, fault), endpoint

    def _github(
        self, state: SiteState, site: str, sub: str, req: SimRequest
    ) -> tuple[SimResponse, str]:
        prepared: Prepared | None = None
        problem: SimResponse | None = None
        if sub.rstrip("/") != "/graphql":
            problem = json_response({"message": "Not Found"}, 404)
        elif req.method != "POST":
            problem = json_response({"message": "Only POST is supported for /graphql"}, 405)
        else:
            try:
                prepared = prepare(req.json())
            except BadRequest:
                problem = json_response({"message": "Problems parsing JSON"}, 400)
            except GraphQLError as exc:
                problem = json_response({"errors": [exc.payload]})
        operation = prepared.operation_name if prepared else None
        fallback = "graphql" if problem is None or problem.status == 200 else "unknown"
        endpoint = f"github.{operation or fallback}"
        fault = self.faults.take("github", site, req.path, endpoint, operation)
        token = _github_token(req.headers.get("authorization", ""))
        early = self._early("github", fault, None if token is None else ("", token))
        if early is not None:
            return early, endpoint
        assert token is not None
        cost, nodes = prepared.executor().cost() if prepared else (1, 0)
        budget = self.limiter.take("github", token, cost if self.config.github_points else 1)
        if not budget.allowed:
            headers = {**budget.github_headers(), "x-ratelimit-remaining": "0"}
            body = {
                "message": "API rate limit exceeded for this token.",
                "documentation_url": "https://docs.github.com/graphql",
            }
            return SimResponse(403, dump(body), headers), endpoint
        if problem is not None:
            response = problem
        else:
            assert prepared is not None
            rate = budget.graphql(cost, nodes)
            response = self._run(
                lambda: json_response(execute(state.graph, prepared, rate)), "github"
            )
        response.headers.update(budget.github_headers())
        return _after(response, fault), endpoint

    def _early(
        self, system: str, fault: Fault | None, credential: tuple[str, str] | None
    ) -> SimResponse | None:
        """A fault's own answer, or 401 for a bad credential; None to carry on."""
        if fault is not None:
            rate = self._peek_headers(system, credential)
            response = fault_response(fault, system, rate)
            if response is not None:
                return response
        if credential is None or not credential[1].startswith(TOKEN_PREFIX):
            return unauthorized(system)
        return None

    def _peek_headers(self, system: str, credential: tuple[str, str] | None) -> dict[str, str]:
        if credential is None:
            return {}
        budget: Budget = self.limiter.peek(system, credential[1])
        return budget.github_headers() if system == "github" else budget.jira_headers()

    @staticmethod
    def _run(call: Callable[[], SimResponse], system: str) -> SimResponse:
        try:
            return call()
        except BadRequest as exc:
            if system == "jira":
                return jira_error(exc.status, exc.message)
            return json_response({"message": exc.message}, exc.status)
        except GraphQLError as exc:
            return json_response({"errors": [exc.payload]})
        except Exception:  # a simulator bug: answer 500 like a server would, and say so
            logger.exception("simulator failed to answer a %s request", system)
            return json_response({"message": "simulator error; see its log"}, 500)

    # -- observability ---------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        with self._lock:
            counts = dict(self._counts)
        by_endpoint: Counter[str] = Counter()
        by_site: Counter[str] = Counter()
        by_status: Counter[str] = Counter()
        by_site_endpoint: dict[str, Counter[str]] = {}
        for (site, endpoint, status), n in counts.items():
            by_endpoint[endpoint] += n
            by_site[site] += n
            by_status[str(status)] += n
            by_site_endpoint.setdefault(site, Counter())[endpoint] += n
        return {
            "total": sum(counts.values()),
            "by_endpoint": dict(sorted(by_endpoint.items())),
            "by_site": dict(sorted(by_site.items())),
            "by_status": dict(sorted(by_status.items())),
            "by_site_endpoint": {
                s: dict(sorted(c.items())) for s, c in sorted(by_site_endpoint.items())
            },
        }

    def reset_stats(self) -> None:
        with self._lock:
            self._counts.clear()

    def truth(self, kind: str, site: str) -> dict[str, Any]:
        state = self.site_state(site)
        with self._lock:
            if kind in ("jira", "issues"):
                return jira_truth(state.jira, state.jira_overlay)
            if kind in ("github", "pull_requests", "prs"):
                return github_truth(state.github, state.graph)
        raise ValueError(f"unknown truth kind {kind!r}; use 'jira' or 'github'")

    # -- mutations -------------------------------------------------------------------------------
    def touch(
        self, kind: str, site: str, ids: Sequence[str] | None = None, count: int | None = None
    ) -> list[str]:
        """Bump `updated` of the given items (or `count` spread-out items) to now."""
        with self._lock:
            indexes, overlay = self._select(kind, site, ids, count)
            now = int(self.clock() * 1000)
            for i in indexes:
                overlay.touch(i, now)
            return self._ids(kind, site, indexes)

    def delete(
        self, kind: str, site: str, ids: Sequence[str] | None = None, count: int | None = None
    ) -> list[str]:
        """Delete items; a Jira issue takes its sub-task with it, as in Jira."""
        with self._lock:
            indexes, overlay = self._select(kind, site, ids, count)
            if _system(kind) == "jira":
                jira = self.sites[site].jira
                children = [jira.subtask_of(i) for i in indexes]
                indexes += [
                    c
                    for c in children
                    if c is not None and c not in overlay.deleted and c not in indexes
                ]
            for i in indexes:
                overlay.delete(i)
            return self._ids(kind, site, indexes)

    def _select(
        self, kind: str, site: str, ids: Sequence[str] | None, count: int | None
    ) -> tuple[list[int], Overlay]:
        state = self.site_state(site)
        system = _system(kind)
        overlay = state.jira_overlay if system == "jira" else state.github_overlay
        size = state.jira.n if system == "jira" else state.github.n
        if ids is not None:
            indexes = []
            for ref in ids:
                i = (
                    state.jira.index_of(str(ref))
                    if system == "jira"
                    else _pull_index(state.github, str(ref))
                )
                if i is None or i in overlay.deleted:
                    raise ValueError(f"no live {system} item {ref!r} on site {site!r}")
                indexes.append(i)
            return indexes, overlay
        if count is None or count < 0:
            raise ValueError("pass ids or a non-negative count")
        return pick_spread(size, count, overlay.deleted), overlay

    def _ids(self, kind: str, site: str, indexes: list[int]) -> list[str]:
        state = self.sites[site]
        if _system(kind) == "jira":
            return [state.jira.issue_id(i) for i in indexes]
        return [state.github.pull(j).id for j in indexes]

    def site_state(self, site: str) -> SiteState:
        state = self.sites.get(site)
        if state is None:
            raise ValueError(f"unknown site {site!r}; the simulator serves {sorted(self.sites)}")
        return state

    # -- faults ----------------------------------------------------------------------------------
    def inject_fault(self, kind: FaultKind | str, **options: Any) -> dict[str, Any]:
        """Fail the next `count` matching requests; see `FaultInjector.add` for the options."""
        return self.faults.add(kind, **options).describe()

    def clear_faults(self) -> None:
        self.faults.clear()

    def reset_limits(self) -> None:
        self.limiter.reset()


def _after(response: SimResponse, fault: Fault | None) -> SimResponse:
    """Apply the faults that alter a real response instead of replacing it."""
    if fault is not None and fault.kind == FaultKind.SLOW:
        response.delay += fault.delay
    if fault is not None and fault.kind == FaultKind.TRUNCATED:
        response.body = response.body[: max(1, len(response.body) // 2)]
    return response


def _system(kind: str) -> str:
    if kind in ("jira", "issues"):
        return "jira"
    if kind in ("github", "pull_requests", "prs"):
        return "github"
    raise ValueError(f"unknown kind {kind!r}; use 'jira' or 'github'")


def _pull_index(org: GithubOrg, ref: str) -> int | None:
    """A PR node id or `owner/repo#number`."""
    if "#" in ref:
        repo_ref, _, number = ref.partition("#")
        repo = org.repo_by_name.get(repo_ref.rpartition("/")[2].lower())
        return org.pull_index(repo.index, int(number)) if repo and number.isdigit() else None
    parsed = parse_node_id(ref)
    if parsed is None or parsed[0] != "pr" or parsed[1] != org.site or not parsed[2]:
        return None
    j = parsed[2][0]
    return j if 0 <= j < org.n else None


def _jira_credential(header: str) -> tuple[str, str] | None:
    """(email, token) from `Basic base64(email:token)`, or ("", token) from a Bearer PAT."""
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return "", value.strip()
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    email, sep, token = decoded.partition(":")
    return (email, token) if sep else None


def _github_token(header: str) -> str | None:
    scheme, _, value = header.strip().partition(" ")
    return value.strip() if scheme.lower() in ("bearer", "token") and value.strip() else None
