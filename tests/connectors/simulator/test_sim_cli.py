"""Scales, the config builder, and `python -m connectors.simulator` end to end."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from connectors.simulator import SimulatorConfig, config_for, parse_scale

ROOT = Path(__file__).resolve().parents[3]


def test_named_and_explicit_scales() -> None:
    assert parse_scale("small")["issues_per_site"] == 300
    assert parse_scale("small")["prs_per_site"] == 120
    assert parse_scale("large,latency=20")["latency_ms"] == 20.0
    explicit = config_for(
        "issues=50,prs=7,projects=2,repos=3,histories=120", seed=9, sites="a1, b2", rate_limit=10
    )
    assert (explicit.issues_per_site, explicit.prs_per_site, explicit.projects_per_site) == (
        50,
        7,
        2,
    )
    assert (explicit.repos_per_site, explicit.max_histories) == (3, 120)
    assert explicit.sites == ("a1", "b2")
    assert explicit.seed == 9
    assert explicit.rate_limit == 10


@pytest.mark.parametrize("scale", ["huge", "issues=many", "colour=blue"])
def test_bad_scales_are_refused(scale: str) -> None:
    with pytest.raises(ValueError, match="scale"):
        parse_scale(scale)


def test_bad_configs_are_refused() -> None:
    with pytest.raises(ValueError, match="site name"):
        SimulatorConfig(sites=("Acme Corp",))
    with pytest.raises(ValueError, match="distinct"):
        SimulatorConfig(sites=("acme", "acme"))


def test_module_entry_point_serves_until_stopped() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "connectors.simulator",
            "--port",
            str(port),
            "--seed",
            "3",
            "--scale",
            "issues=30,prs=9",
            "--sites",
            "acme,globex",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        config = None
        deadline = time.monotonic() + 20
        while config is None and time.monotonic() < deadline:
            try:
                config = httpx.get(f"http://127.0.0.1:{port}/_sim/config").json()
            except httpx.TransportError:
                time.sleep(0.1)
        assert config is not None, "the simulator did not come up"
        assert config["issues_per_site"] == 30
        assert config["sites"] == ["acme", "globex"]
        truth = httpx.get(f"http://127.0.0.1:{port}/_sim/truth/jira/globex").json()
        assert truth["counts"]["issues"] == 30
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=10)
    assert b"globex" in output
