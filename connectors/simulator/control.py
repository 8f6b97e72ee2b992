"""The `/_sim/...` control endpoints: stats, ground truth, mutations, faults. No auth."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from connectors.simulator.protocol import BadRequest, SimRequest, SimResponse, json_response

if TYPE_CHECKING:
    from connectors.simulator.simulator import Simulator

_FAULT_OPTIONS = ("count", "site", "system", "match", "operation", "retry_after", "delay")


def handle_control(sim: Simulator, req: SimRequest) -> SimResponse:
    parts = [p for p in req.path.split("/") if p][1:]  # after "_sim"
    try:
        return _dispatch(sim, req, parts)
    except BadRequest as exc:
        return json_response({"error": exc.message}, exc.status)
    except (ValueError, TypeError) as exc:
        return json_response({"error": str(exc)}, 400)


def _body(req: SimRequest) -> dict[str, Any]:
    body = req.json() if req.body else {}
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    return body


def _dispatch(sim: Simulator, req: SimRequest, parts: list[str]) -> SimResponse:
    method = req.method
    match parts:
        case ["stats"] if method == "GET":
            return json_response(sim.stats())
        case ["reset-stats"] if method == "POST":
            sim.reset_stats()
            return json_response({"ok": True})
        case ["reset-limits"] if method == "POST":
            sim.reset_limits()
            return json_response({"ok": True})
        case ["truth", kind, site] if method == "GET":
            return json_response(sim.truth(kind, site))
        case ["touch" | "delete" as action] if method == "POST":
            body = _body(req)
            target = body.get("site")
            if not isinstance(target, str):
                raise BadRequest("'site' is required")
            call = sim.touch if action == "touch" else sim.delete
            ids = call(
                str(body.get("kind", "jira")), target, ids=body.get("ids"), count=body.get("count")
            )
            return json_response({"touched" if action == "touch" else "deleted": ids})
        case ["faults"] if method == "GET":
            return json_response({"faults": sim.faults.describe()})
        case ["faults"] if method == "DELETE":
            sim.clear_faults()
            return json_response({"ok": True})
        case ["faults"] if method == "POST":
            body = _body(req)
            if "kind" not in body:
                raise BadRequest("'kind' is required")
            options = {k: body[k] for k in _FAULT_OPTIONS if body.get(k) is not None}
            return json_response(sim.inject_fault(str(body["kind"]), **options), 201)
        case ["config"] if method == "GET":
            config = sim.config
            return json_response(
                {
                    "seed": config.seed,
                    "sites": list(config.sites),
                    "issues_per_site": config.issues_per_site,
                    "projects_per_site": config.projects_per_site,
                    "max_histories": config.max_histories,
                    "repos_per_site": config.repos_per_site,
                    "prs_per_site": config.prs_per_site,
                    "rate_limit": config.rate_limit,
                    "rate_window_seconds": config.rate_window_seconds,
                    "latency_ms": config.latency_ms,
                    "time_zones": {s: st.jira.tz_name for s, st in sim.sites.items()},
                    "jira": {s: f"{req.base_url}/jira/{s}" for s in sim.sites},
                    "github": {s: f"{req.base_url}/github/{s}" for s in sim.sites},
                }
            )
    return json_response({"error": f"no control endpoint {method} {req.path}"}, 404)
