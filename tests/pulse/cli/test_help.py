"""`--help` works on every command and subcommand of `pulse`, found by walking the parser."""

from __future__ import annotations

import argparse

import pytest

from pulse.cli import build_parser, main


def _command_paths(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> list:
    paths = [path]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                paths += _command_paths(child, (*path, name))
    return paths


PATHS = _command_paths(build_parser())


def test_the_walk_finds_every_command_group() -> None:
    assert {("db", "upgrade"), ("tenant", "create"), ("user", "create"), ("keys", "generate")} <= (
        set(PATHS)
    )


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(("pulse", *p)))
def test_help_works(path: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([*path, "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: {' '.join(('pulse', *path))}")
    assert "show this help message and exit" in out
