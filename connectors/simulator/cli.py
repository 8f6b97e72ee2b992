"""`pulse simulator serve`: run the simulator in the foreground until interrupted."""

from __future__ import annotations

import uvicorn

from connectors.simulator.app import build_app
from connectors.simulator.config import config_for
from connectors.simulator.simulator import Simulator


def serve_command(
    port: int,
    seed: int,
    scale: str,
    sites: str,
    rate_limit: int | None,
    *,
    host: str = "127.0.0.1",
    latency_ms: float | None = None,
) -> None:
    """Serve every site of `sites` (comma-separated) at `scale` (small/medium/large or
    `issues=N,prs=M,...`). Blocks until Ctrl-C."""
    overrides = {} if latency_ms is None else {"latency_ms": latency_ms}
    config = config_for(scale, seed=seed, sites=sites, rate_limit=rate_limit, **overrides)
    simulator = Simulator(config)
    base = f"http://{host}:{port}"
    print(
        f"Pulse simulator: seed {config.seed}, {config.issues_per_site} issues and "
        f"{config.prs_per_site} PRs per site, rate limit {config.rate_limit or 'none'}"
    )
    for site, state in simulator.sites.items():
        print(
            f"  {site}: Jira {base}/jira/{site} (time zone {state.jira.tz_name}), "
            f"GitHub {base}/github/{site}"
        )
    print(f"  control: {base}/_sim/stats, {base}/_sim/truth/jira/<site>; tokens start 'sim-'")
    uvicorn.run(
        build_app(simulator),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="off",
    )
