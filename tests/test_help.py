"""`--help` of every command against a golden file, so an interface change is a
visible diff. The list of commands comes from the app itself: a new command
without a golden file fails here. UPDATE_GOLDEN=1 rewrites the files."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from assistant.cli.app import app

HELP = Path(__file__).parent / "golden" / "help"
runner = CliRunner()


def _command_paths(group: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = []
    for name, command in sorted(group.commands.items()):
        paths.append((*prefix, name))
        if hasattr(command, "commands"):
            paths.extend(_command_paths(command, (*prefix, name)))
    return paths


COMMANDS = _command_paths(typer.main.get_command(app))


def test_every_command_is_covered() -> None:
    assert ("ask",) in COMMANDS and ("config", "show") in COMMANDS
    names = {"-".join(path) + ".txt" for path in COMMANDS}
    assert names == {p.name for p in HELP.glob("*.txt")}


@pytest.mark.parametrize("path", COMMANDS, ids=["-".join(p) for p in COMMANDS])
def test_help_matches_golden(path: tuple[str, ...]) -> None:
    result = runner.invoke(app, [*path, "--help"], terminal_width=100)
    assert result.exit_code == 0, result.output
    golden = HELP / ("-".join(path) + ".txt")
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(result.stdout)
    assert result.stdout == golden.read_text()
