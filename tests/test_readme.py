"""The examples in the README (and docs/) against the real code: every
`assistant ...` line in a shell block names a real command whose options and
arguments parse (without running it), the README's Python example runs, the
JSON examples parse and the README's MCP client configuration starts `assistant mcp`,
so documentation cannot drift from the code (as Datasette and Typer test theirs)."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from conftest import ROOT, cli_env

from assistant.cli.app import app

_BLOCK = re.compile(r"```(?:sh|bash|console)\n(.*?)```", re.DOTALL)


def _documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _examples() -> list[tuple[str, str]]:
    found = []
    for doc in _documents():
        for block in _BLOCK.findall(doc.read_text(encoding="utf-8")):
            for line in block.splitlines():
                words = shlex.split(line, comments=True)
                # Leading VAR=value assignments set the environment, not the command.
                while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", words[0]):
                    words.pop(0)
                if words and words[0] in ("assistant", ".venv/bin/assistant"):
                    found.append((doc.name, shlex.join(words[1:])))
    return found


EXAMPLES = _examples()


def test_the_readme_has_examples_of_the_main_commands() -> None:
    commands = {args.split()[0] for _, args in EXAMPLES if args}
    assert {"ingest", "search", "ask", "chat", "doctor", "config", "eval", "mcp"} <= commands


def test_json_examples_parse() -> None:
    for doc in _documents():
        for block in re.findall(r"```json\n(.*?)```", doc.read_text(encoding="utf-8"), re.DOTALL):
            json.loads(block)


def test_the_readme_configures_an_mcp_client_to_start_the_server() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```json\n(.*?)```", readme, re.DOTALL)
    configs = [json.loads(block) for block in blocks if "mcpServers" in block]
    assert len(configs) == 1
    (server,) = configs[0]["mcpServers"].values()
    assert Path(server["command"]).name == "assistant"
    assert set(server["env"]) == {"ASSISTANT_HOME"}
    command: Any = typer.main.get_command(app)
    name, *words = server["args"]
    assert name == "mcp"
    command.commands[name].make_context(name, words)


@pytest.mark.parametrize(("doc", "args"), EXAMPLES, ids=[a for _, a in EXAMPLES])
def test_example_parses(doc: str, args: str) -> None:
    command: Any = typer.main.get_command(app)
    words = shlex.split(args)
    name = "assistant"
    # Descend through groups (e.g. `config show`) to the command itself.
    while hasattr(command, "commands") and words and words[0] in command.commands:
        name = words.pop(0)
        command = command.commands[name]
    assert not hasattr(command, "commands"), f"{doc}: `assistant {args}` names no command"
    try:
        command.make_context(name, words)
    except Exception as exc:  # click's usage errors, from the copy of click Typer ships
        pytest.fail(f"{doc}: `assistant {args}` does not parse: {exc}")


def test_the_python_example_runs(copy_of_bundled_index: Path) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", readme, re.DOTALL)
    assert len(blocks) == 1
    code = blocks[0]
    assert len(code.strip().splitlines()) <= 6
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=cli_env(ASSISTANT_HOME=str(copy_of_bundled_index)),
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    titles, answer = done.stdout.splitlines()[:2]
    assert "WaveMix" in titles
    assert answer.startswith("Extractive answer (no language model)")
