"""A local Jira + GitHub API simulator: every endpoint of docs/source-apis.md, seeded synthetic
data at any scale, per-credential rate limits, injectable faults and ground truth.

    with SimulatorServer(SimulatorConfig(seed=7, sites=("acme", "globex"))) as sim:
        jira = httpx.Client(base_url=sim.jira_url("acme"), auth=("me@example.com", "sim-token"))
"""

from __future__ import annotations

from connectors.simulator.app import build_app
from connectors.simulator.config import SCALES, SimulatorConfig, config_for, parse_scale
from connectors.simulator.faults import FaultKind
from connectors.simulator.protocol import SimRequest, SimResponse
from connectors.simulator.server import SimulatorServer
from connectors.simulator.simulator import TOKEN_PREFIX, Simulator

__all__ = [
    "SCALES",
    "TOKEN_PREFIX",
    "FaultKind",
    "SimRequest",
    "SimResponse",
    "Simulator",
    "SimulatorConfig",
    "SimulatorServer",
    "build_app",
    "config_for",
    "parse_scale",
]
