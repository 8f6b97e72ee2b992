"""docker-compose.yml cannot run here (no Docker engine), so it is kept correct by reading:
every service is healthchecked (one-shot jobs excepted), every application service runs a
command the `pulse` CLI has, and every named volume is declared."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest
import yaml

from pulse.cli import build_parser

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"


def _compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def _cli_commands() -> set[tuple[str, ...]]:
    """Every command path of the CLI, e.g. ("db", "upgrade")."""
    found: set[tuple[str, ...]] = set()

    def walk(parser: argparse.ArgumentParser, path: tuple[str, ...]) -> None:
        subparsers = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subparsers:
            found.add(path)
        for action in subparsers:
            for name, child in action.choices.items():
                walk(child, (*path, name))

    walk(build_parser(), ())
    return found


def _app_services() -> dict[str, dict[str, Any]]:
    return {n: s for n, s in _compose()["services"].items() if s.get("image") == "pulse-etl:local"}


def test_backing_services_are_pinned_and_healthchecked() -> None:
    services = _compose()["services"]
    assert services["postgres"]["image"] == "postgres:16"
    assert services["rabbitmq"]["image"].startswith("rabbitmq:3.13-management")
    assert services["qdrant"]["image"].startswith("qdrant/qdrant")
    for name in ("postgres", "rabbitmq", "qdrant"):
        assert services[name]["healthcheck"]["test"], name


@pytest.mark.parametrize("name", sorted(_app_services()))
def test_application_service_runs_a_real_cli_command(name: str) -> None:
    service = _app_services()[name]
    command = tuple(service["command"])
    commands = _cli_commands()
    assert any(command[: len(path)] == path for path in commands), (
        f"service {name!r} runs `pulse {' '.join(command)}`, which the CLI does not have"
    )
    one_shot = service.get("restart") == "no"
    if not one_shot:
        check = service["healthcheck"]["test"]
        assert check[:2] == ["CMD", "pulse"], f"{name}: healthcheck should use the pulse CLI"
        check_command = tuple(check[2:])
        assert any(check_command[: len(p)] == p for p in commands), name


def test_named_volumes_are_declared() -> None:
    compose = _compose()
    declared = set(compose.get("volumes") or {})
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if not source.startswith((".", "/")):
                assert source in declared, f"{name} uses undeclared volume {source!r}"


def test_cli_command_walk_finds_the_workers() -> None:
    assert ("extract",) in _cli_commands()
    assert ("db", "upgrade") in _cli_commands()
