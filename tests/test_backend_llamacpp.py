"""The embedded backend tries its build in a child process first: a native crash
(as llama.cpp's AMX kernels give on some CPUs) becomes a message and the command
that rebuilds it, never the user's first sight of the tool.

The crash itself cannot be had from the real library on this machine (no AMX
here), so those tests put a `llama_cpp` package first on the child's path whose
model load dies of a real SIGSEGV; the code that runs the child, reads its death
and reports it is the real one. The successful path runs the real build."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import run_cli

from assistant.backends.llamacpp import bundled_model
from assistant.backends.llamacpp_probe import probe
from assistant.llama_build import reinstall_command

QUESTION = "Which papers propose alternatives to batch normalization for NLP models?"

_CRASHING = """
import ctypes

def llama_log_set(*args):
    return None

class Llama:
    def __init__(self, *args, **kwargs):
        ctypes.string_at(0)  # a real segmentation fault, as a broken native build gives
"""


@pytest.fixture
def crashing_llama(tmp_path: Path) -> str:
    """A PYTHONPATH on which `llama_cpp` dies of SIGSEGV when a model is loaded."""
    package = tmp_path / "crashing" / "llama_cpp"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(_CRASHING)
    return str(package.parent)


@pytest.fixture
def models_dir(isolated_home: Path) -> Path:
    return isolated_home / "models"


@pytest.fixture
def unprobed_index(copy_of_bundled_index: Path) -> Path:
    """A copy of the bundled index whose home remembers no probe (an earlier test's
    ask may have left one in the shared index)."""
    shutil.rmtree(copy_of_bundled_index / "models" / "probed", ignore_errors=True)
    return copy_of_bundled_index


def test_probe_of_the_real_build_generates_a_token(models_dir: Path) -> None:
    result = probe(bundled_model(models_dir), threads=2)
    assert result.ok, result.detail
    assert result.signal_name is None
    assert 0 < result.seconds < 180


def test_probe_reports_the_signal_a_child_died_of(
    models_dir: Path, crashing_llama: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", crashing_llama)
    result = probe(bundled_model(models_dir), threads=2)
    assert not result.ok
    assert result.signal_name == "SIGSEGV"
    assert result.detail == "llama.cpp crashed (SIGSEGV)"


def test_doctor_reports_a_crashing_build_with_the_rebuild_command(
    bundled_home: Path, crashing_llama: str
) -> None:
    result = run_cli("doctor", ASSISTANT_BACKEND="llamacpp", PYTHONPATH=crashing_llama)
    assert result.returncode == 3, result.stdout + result.stderr
    line = next(x for x in result.stdout.splitlines() if x.startswith("[FAIL] llamacpp:"))
    assert "llama.cpp crashed (SIGSEGV) loading gemma-3-270m-q4_k_m.gguf in a test process" in line
    assert "does not run on this CPU" in line
    assert f"Hint: Rebuild it for this machine: {reinstall_command()}" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_doctor_runs_the_real_build(bundled_home: Path) -> None:
    result = run_cli("doctor", ASSISTANT_BACKEND="llamacpp")
    line = next(x for x in result.stdout.splitlines() if x.startswith("[ok  ] llamacpp:"))
    assert "loaded and generated a token in a test process" in line
    assert "gemma-3-270m-q4_k_m.gguf" in line


def test_ask_with_a_crashing_build_exits_4_with_a_message(
    unprobed_index: Path, crashing_llama: str
) -> None:
    result = run_cli("ask", QUESTION, "--backend", "llamacpp", PYTHONPATH=crashing_llama)
    assert result.returncode == 4, result.stderr
    assert result.returncode > 0  # died of no signal: the parent never loaded the library
    assert "Error: llama.cpp crashed (SIGSEGV) loading gemma-3-270m-q4_k_m.gguf" in result.stderr
    assert f"Hint: Rebuild it for this machine: {reinstall_command()}" in result.stderr
    assert "Traceback" not in result.stderr
    # Nothing remembered: the next ask tries again rather than loading a crashing build.
    assert not list((unprobed_index / "models" / "probed").glob("*"))


def test_the_first_ask_probes_once_and_remembers(unprobed_index: Path, crashing_llama: str) -> None:
    first = run_cli("ask", QUESTION, "--backend", "llamacpp")
    assert first.returncode == 0, first.stderr
    markers = list((unprobed_index / "models" / "probed").glob("llamacpp-*"))
    assert len(markers) == 1
    stamp = markers[0].stat().st_mtime_ns
    again = run_cli("ask", QUESTION, "--backend", "llamacpp")
    assert again.returncode == 0, again.stderr
    assert list((unprobed_index / "models" / "probed").glob("llamacpp-*")) == markers
    assert markers[0].stat().st_mtime_ns == stamp  # not probed again
    # Another library is another build: its marker differs, so it is probed, and refused.
    other = run_cli("ask", QUESTION, "--backend", "llamacpp", PYTHONPATH=crashing_llama)
    assert other.returncode == 4, other.stderr
    assert "crashed (SIGSEGV)" in other.stderr


@pytest.mark.parametrize("backend", ["none", "llamacpp"])
def test_the_backend_line_comes_before_the_answer(bundled_home: Path, backend: str) -> None:
    """stdout and stderr into one pipe, as a terminal shows them."""
    done = subprocess.run(
        [sys.executable, "-m", "assistant", "ask", QUESTION, "--backend", backend],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"Backend: {backend} ("), lines[:3]
    assert sum(line.startswith("Backend:") for line in lines) == 1
    assert "Sources:" in lines
