"""docker-compose.yml cannot run here (no Docker engine), so it is kept correct by reading: every
process of the product is a service; every service is healthchecked (one-shot jobs excepted)
by a check that can pass; every application service runs a command the `pulse` CLI has; the
transform and load shards are numbered 0..K-1 of one K, each with its recovery directory on a
volume of its own; and every named volume is declared."""

from __future__ import annotations

import argparse
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import yaml

from pulse.cli import build_parser

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"
DOCKERFILE = COMPOSE.with_name("Dockerfile")
STATE_DIR = "/var/lib/pulse"  # the image's STATE_DIR (Dockerfile)


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


def _parses(command: list[str]) -> argparse.Namespace:
    """The command as `pulse` parses it: unknown options or bad values fail here."""
    try:
        return build_parser().parse_args(command)
    except SystemExit as exc:
        raise AssertionError(f"`pulse {' '.join(command)}` does not parse") from exc


def _app_services() -> dict[str, dict[str, Any]]:
    return {n: s for n, s in _compose()["services"].items() if s.get("image") == "pulse-etl:local"}


def _one_shot(service: dict[str, Any]) -> bool:
    return service.get("restart") == "no"


def _shards() -> dict[str, dict[str, tuple[int, int]]]:
    """stage -> service name -> (shard, shards), from the services running `pulse flow`."""
    found: dict[str, dict[str, tuple[int, int]]] = defaultdict(dict)
    for name, service in _app_services().items():
        if service["command"][0] == "flow":
            args = _parses(service["command"])
            found[args.stage][name] = (args.shard, args.shards)
    return found


def test_backing_services_are_pinned_and_healthchecked() -> None:
    services = _compose()["services"]
    assert services["postgres"]["image"] == "postgres:16"
    assert services["rabbitmq"]["image"].startswith("rabbitmq:3.13-management")
    assert services["qdrant"]["image"].startswith("qdrant/qdrant")
    for name in ("postgres", "rabbitmq", "qdrant"):
        assert services[name]["healthcheck"]["test"], name


def test_every_process_of_the_product_is_a_service() -> None:
    commands = {tuple(s["command"][:2]) for s in _app_services().values()}
    for process in (
        ("db", "upgrade"),
        ("web",),
        ("scheduler",),
        ("extract",),
        ("flow", "transform"),
        ("flow", "load"),
        ("vectorize",),
    ):
        assert any(c[: len(process)] == process for c in commands), f"no service runs {process}"


@pytest.mark.parametrize("name", sorted(_app_services()))
def test_application_service_runs_a_real_cli_command(name: str) -> None:
    command = _app_services()[name]["command"]
    assert any(tuple(command[: len(path)]) == path for path in _cli_commands()), (
        f"service {name!r} runs `pulse {' '.join(command)}`, which the CLI does not have"
    )
    _parses(command)


@pytest.mark.parametrize("name", sorted(_compose()["services"]))
def test_every_long_running_service_has_a_healthcheck(name: str) -> None:
    service = _compose()["services"][name]
    check = service.get("healthcheck") or {}
    if _one_shot(service):
        return
    assert not check.get("disable"), f"{name}: healthcheck disabled"
    test = check.get("test")
    assert isinstance(test, list), f"{name}: no healthcheck test"
    assert test[0] in ("CMD", "CMD-SHELL"), name
    assert len(test) > 1, name


@pytest.mark.parametrize(
    "name",
    sorted(
        n
        for n, s in _app_services().items()
        if s.get("healthcheck", {}).get("test", [None, None])[:2] == ["CMD", "pulse"]
    ),
)
def test_pulse_healthchecks_are_real_commands_about_their_own_worker(name: str) -> None:
    service = _app_services()[name]
    check = service["healthcheck"]["test"][2:]
    args = _parses(check)
    assert args.command == "health"
    # `pulse health --local KIND` reads the heartbeat named KIND-HOSTNAME, which is the
    # default name of the process the service runs (`pulse extract` is extract-HOSTNAME).
    assert args.local == service["command"][0], f"{name} checks another worker's heartbeat"
    worker = _parses(service["command"])
    assert worker.name.startswith(f"{args.local}-"), f"{name}: its worker is named {worker.name}"


def test_the_web_healthcheck_asks_the_port_it_serves() -> None:
    web = _app_services()["web"]
    args = _parses(web["command"])
    check = " ".join(web["healthcheck"]["test"])
    assert f"http://127.0.0.1:{args.port}/readyz" in check
    assert args.host == "0.0.0.0"  # reachable from outside its container
    assert f"{args.port}:{args.port}" in web["ports"]


def test_shards_of_each_stage_are_0_to_k_minus_1_of_one_k() -> None:
    shards = _shards()
    assert set(shards) == {"transform", "load"}
    for stage, services in shards.items():
        counts = {k for _, k in services.values()}
        assert len(counts) == 1, f"{stage} shards disagree on --shards: {services}"
        (count,) = counts
        numbers = sorted(k for k, _ in services.values())
        assert numbers == list(range(count)), f"{stage}: shards {numbers} of {count}"


@pytest.mark.parametrize(
    ("stage", "name"),
    sorted((stage, name) for stage, services in _shards().items() for name in services),
)
def test_each_shard_keeps_its_recovery_directory_on_its_own_volume(stage: str, name: str) -> None:
    services = _app_services()
    service = services[name]
    shard, count = _shards()[stage][name]
    args = _parses(service["command"])
    assert args.recovery_dir is None  # the default: STATE_DIR/recovery/<stage>-<k>-of-<K>
    directory = f"{STATE_DIR}/recovery/{stage}-{shard}-of-{count}"
    mounts = [v.split(":", 1) for v in service.get("volumes", [])]
    volume = [source for source, target in mounts if directory.startswith(target.rstrip("/"))]
    assert len(volume) == 1, f"{name}: {directory} is not on a volume ({mounts})"
    assert volume[0] in (_compose().get("volumes") or {}), f"{name}: {volume[0]} not a volume"
    others = {
        source
        for other_name, other in services.items()
        if other_name != name
        for source, _ in (v.split(":", 1) for v in other.get("volumes", []))
    }
    assert volume[0] not in others, f"{name} shares its recovery volume"
    # Its healthcheck watches its own recovery directory, not another shard's.
    assert directory in " ".join(service["healthcheck"]["test"])


def test_the_image_state_dir_holds_the_recovery_mount_point() -> None:
    """A new named volume takes the ownership of its mount point from the image: the
    directory must exist there, owned by the unprivileged user, or the shards cannot write."""
    dockerfile = DOCKERFILE.read_text()
    assert f"ENV STATE_DIR={STATE_DIR}" in dockerfile
    assert re.search(rf"mkdir -p {STATE_DIR}/recovery\b", dockerfile)
    assert re.search(rf"chown -R pulse {STATE_DIR}\b", dockerfile)


def test_named_volumes_are_declared_and_used() -> None:
    compose = _compose()
    declared = set(compose.get("volumes") or {})
    used = set()
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if not source.startswith((".", "/")):
                assert source in declared, f"{name} uses undeclared volume {source!r}"
                used.add(source)
    assert declared == used, f"declared but unused: {sorted(declared - used)}"


def test_cli_command_walk_finds_the_workers() -> None:
    assert ("extract",) in _cli_commands()
    assert ("db", "upgrade") in _cli_commands()
    assert ("flow",) in _cli_commands()
