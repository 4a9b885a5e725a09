"""Shell completion (issue 17): the script Typer installs completes commands,
options and their choices, through a real bash."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import cli_env

SCRIPT = Path(sys.executable).with_name("assistant")

pytestmark = pytest.mark.skipif(
    not SCRIPT.exists() or shutil.which("bash") is None,
    reason="needs the installed console script and bash",
)


def _complete(words: str, home: Path) -> list[str]:
    """What bash offers after `words`, with the script --install-completion wrote."""
    parts = words.split()
    if words.endswith(" "):
        parts.append("")
    array = " ".join(f"'{p}'" for p in parts)
    script = (
        f"source '{home / '.bash_completions' / 'assistant.sh'}'\n"
        f"COMP_WORDS=({array}); COMP_CWORD={len(parts) - 1}\n"
        "_assistant_completion assistant\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    done = subprocess.run(
        ["bash", "--norc", "-c", script],
        capture_output=True,
        text=True,
        env=cli_env(HOME=str(home), PATH=f"{SCRIPT.parent}:/usr/bin:/bin"),
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_install_completion_then_complete_in_bash(tmp_path: Path) -> None:
    home = tmp_path / "user"
    home.mkdir()
    (home / ".bashrc").write_text("export KEEP=1\n", encoding="utf-8")
    # As a user types it at a bash prompt: Typer finds the shell among its parents
    # (a second statement keeps bash from exec-ing the command in its place).
    done = subprocess.run(
        ["bash", "--norc", "-c", f"'{SCRIPT}' --install-completion; exit $?"],
        capture_output=True,
        text=True,
        env=cli_env(HOME=str(home), SHELL="/bin/bash"),
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "completion installed" in done.stdout
    # What was in .bashrc stays; one line sources the script.
    bashrc = (home / ".bashrc").read_text(encoding="utf-8")
    assert bashrc.startswith("export KEEP=1\n") and "assistant.sh" in bashrc

    assert _complete("assistant se", home) == ["search"]
    assert set(_complete("assistant ", home)) >= {"ingest", "search", "ask", "chat", "doctor"}
    assert _complete("assistant ask --back", home) == ["--backend"]
    assert _complete("assistant ask --backend ", home) == [
        "auto",
        "ollama",
        "llamacpp",
        "openai",
        "none",
    ]
    assert _complete("assistant ask --format ", home) == ["text", "bibtex", "markdown"]


def test_completing_is_quick_and_loads_no_heavy_library(tmp_path: Path) -> None:
    probe = (
        "import sys, runpy; sys.argv = ['assistant']\n"
        "try:\n"
        "    runpy.run_module('assistant', run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = [m for m in ('torch', 'chromadb', 'llama_cpp', 'onnxruntime', 'rich')"
        " if m in sys.modules]\n"
        "print('HEAVY', heavy, file=sys.stderr)\n"
    )
    env = cli_env(_ASSISTANT_COMPLETE="complete_bash", COMP_WORDS="assistant se", COMP_CWORD="1")
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=60
    )
    seconds = time.monotonic() - started
    assert done.stdout.split() == ["search"]
    assert "HEAVY []" in done.stderr
    assert seconds < 5, seconds
