"""The embedded model's build: one place for its flags, a wheel cache keyed by
everything that shapes the binary, and flags that keep llama.cpp's AMX kernels
(which crash on Q4_K models) out of a build for a CPU that has AMX."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import ROOT

from assistant import llama_build
from assistant.llama_build import BuildSpec, cached_wheel, cpu_features, spec


def _spec(**changes: object) -> BuildSpec:
    return replace(spec(), **changes)  # type: ignore[arg-type]


def test_the_key_changes_with_everything_that_shapes_the_binary() -> None:
    base = _spec(cpu_features=("avx2", "avx512f"))
    changed = [
        _spec(cpu_features=("avx2", "avx512f", "amx_int8")),
        _spec(cpu_features=("avx2", "avx512f"), cmake_args=("-DGGML_NATIVE=OFF",)),
        _spec(cpu_features=("avx2", "avx512f"), compiler_flags=()),
        _spec(cpu_features=("avx2", "avx512f"), version="0.3.37"),
        _spec(cpu_features=("avx2", "avx512f"), python="cpython-312"),
    ]
    keys = {base.key, *(c.key for c in changed)}
    assert len(keys) == 1 + len(changed)
    assert _spec(cpu_features=("avx2", "avx512f")).key == base.key


def test_a_wheel_cached_under_another_key_is_never_used(tmp_path: Path) -> None:
    here = _spec(cpu_features=("avx2",))
    other = _spec(cpu_features=("avx2", "avx512f"))
    (tmp_path / other.key).mkdir()
    (tmp_path / other.key / "llama_cpp_python-0.3.36-py3-none-linux_x86_64.whl").write_bytes(b"x")
    assert cached_wheel(tmp_path, here) is None
    assert cached_wheel(tmp_path, other) == next((tmp_path / other.key).glob("*.whl"))


def test_cpu_features_reads_the_flags_line(tmp_path: Path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text(
        "processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: sse2 avx2 amx_int8 avx2\n\n"
        "processor\t: 1\nflags\t\t: sse2 avx2 amx_int8\n"
    )
    assert cpu_features(info) == ("amx_int8", "avx2", "sse2")
    assert cpu_features(tmp_path / "missing") == ()


def test_the_native_build_keys_on_this_cpu() -> None:
    assert llama_build.NATIVE
    assert spec().cpu_features == cpu_features()
    assert "-DGGML_NATIVE=ON" in llama_build.CMAKE_ARGS


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc, which builds llama.cpp here")
def test_the_flags_keep_amx_out_even_when_the_cpu_has_it() -> None:
    """What -march=native gives on a CPU with AMX, imitated with -march=sapphirerapids:
    ggml compiles its AMX kernels only when __AMX_INT8__ is defined."""

    def macros(*flags: str) -> set[str]:
        out = subprocess.run(
            ["gcc", "-march=sapphirerapids", *flags, "-dM", "-E", "-x", "c", "/dev/null"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return set(re.findall(r"#define (__AMX_\w+__)", out))

    assert "__AMX_INT8__" in macros()  # the crash's precondition
    assert macros(*llama_build.COMPILER_FLAGS) == set()
    assert (
        "__AVX512F__"
        in subprocess.run(
            [
                "gcc",
                "-march=sapphirerapids",
                *llama_build.COMPILER_FLAGS,
                "-dM",
                "-E",
                "-x",
                "c",
                "-",
            ],
            input="",
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )  # AVX-512 stays


def test_the_build_env_carries_the_flags_and_turns_pip_cache_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CFLAGS", "-O2")
    env = llama_build._build_env()
    assert env["CMAKE_ARGS"] == " ".join(llama_build.CMAKE_ARGS)
    assert env["CFLAGS"] == "-O2 " + " ".join(llama_build.COMPILER_FLAGS)
    assert env["CXXFLAGS"].endswith(" ".join(llama_build.COMPILER_FLAGS))
    assert env["PIP_NO_CACHE_DIR"] == "1"


def test_the_pinned_version_is_the_one_built() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = [d for d in project["dependencies"] if d.startswith("llama-cpp-python")]
    assert pins == [f"llama-cpp-python=={llama_build.VERSION}"]


def test_setup_installs_llama_cpp_through_the_keyed_build_before_the_package() -> None:
    recipe = (ROOT / "Makefile").read_text()
    build = recipe.index("$(BIN)/python assistant/llama_build.py install")
    assert build < recipe.index("$(BIN)/pip install --quiet -e '.[dev]'")
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_show_prints_the_spec_and_its_key() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "assistant" / "llama_build.py"), "show"],
        capture_output=True,
        text=True,
        check=True,
    )
    shown = json.loads(done.stdout)
    assert shown["key"] == spec().key
    assert shown["cmake_args"] == list(llama_build.CMAKE_ARGS)


def test_reinstall_command_runs_this_file_with_this_python() -> None:
    command = llama_build.reinstall_command()
    assert command == f"{sys.executable} {ROOT / 'assistant' / 'llama_build.py'} install --rebuild"
