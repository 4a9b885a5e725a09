"""Every test runs offline with its own ASSISTANT_HOME.

Real components throughout: Chroma on disk, the bundled MiniLM model, the
bundled llama.cpp model. The only fake is the Ollama server (tests/ollama_server.py),
because no Ollama binary can run here.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
SHARED = ROOT.parent / "shared"

OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "ANONYMIZED_TELEMETRY": "False",
    "TOKENIZERS_PARALLELISM": "false",
}


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("ASSISTANT_HOME", str(home))
    for key, value in OFFLINE_ENV.items():
        monkeypatch.setenv(key, value)
    for key in list(os.environ):
        if key.startswith("ASSISTANT_") and key != "ASSISTANT_HOME":
            monkeypatch.delenv(key)
    # Nothing listens here, so `auto` deterministically falls back to llama.cpp.
    monkeypatch.setenv("OLLAMA_HOST", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setenv("ASSISTANT_CONNECT_TIMEOUT_S", "0.5")
    return home


@pytest.fixture(scope="session")
def bundled_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An ASSISTANT_HOME holding the bundled corpus, ingested once per test session."""
    home = tmp_path_factory.mktemp("bundled-home")
    env = {**os.environ, **OFFLINE_ENV, "ASSISTANT_HOME": str(home)}
    subprocess.run(
        [sys.executable, "-m", "assistant", "ingest", "--quiet"],
        env=env,
        check=True,
        capture_output=True,
    )
    return home


@pytest.fixture
def bundled_home(bundled_index: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Use the shared bundled index (read-only: tests must not ingest into it)."""
    monkeypatch.setenv("ASSISTANT_HOME", str(bundled_index))
    return bundled_index


@pytest.fixture
def small_corpus(tmp_path: Path) -> Path:
    """Three bundled files' worth is slow to embed; a handful of real papers is not."""
    folder = tmp_path / "corpus"
    folder.mkdir()
    lines = (DATA / "003_099459961173535e.txt").read_text(encoding="utf-8").splitlines()
    # Header (12 lines) and the first six papers, blank-line layout.
    (folder / "listing.txt").write_text("\n".join(lines[:36]) + "\n", encoding="utf-8")
    return folder


def default_sigint() -> None:
    """For a child that must see Ctrl-C: a shell's background job (`pytest ... &`)
    starts with SIGINT ignored, and children inherit that."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def cli_env(**extra: str) -> dict[str, str]:
    env = {**os.environ, **OFFLINE_ENV}
    env.update(extra)
    return env


def run_cli(
    *args: str, input: str | None = None, timeout: float = 300, **env: str
) -> subprocess.CompletedProcess[str]:
    """The real console entry point in a child process, for exit codes and streams."""
    return subprocess.run(
        [sys.executable, "-m", "assistant", *args],
        input=input,
        capture_output=True,
        text=True,
        env=cli_env(**env),
        timeout=timeout,
    )


@pytest.fixture
def copy_of_bundled_index(
    bundled_index: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    home = tmp_path / "copied-home"
    shutil.copytree(bundled_index, home)
    monkeypatch.setenv("ASSISTANT_HOME", str(home))
    yield home
