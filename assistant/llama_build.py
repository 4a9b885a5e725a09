"""Builds and installs llama-cpp-python with flags that run on this CPU.

The one place the embedded model's build flags live. It never installs a wheel
built with other flags: pip's own wheel cache keys on the package version, not on
`CMAKE_ARGS` or the CPU the wheel was compiled on, so a cached wheel can hide both
a crash and the flags that were used. Here the wheel is built with pip's cache
off and kept in a cache of our own, keyed by everything that shapes the binary
(version, flags, Python, platform, and the CPU's instruction sets when the build
targets this CPU).

Stdlib only: the Makefile runs this file before the package's dependencies are
installed (`python assistant/llama_build.py install`); `assistant doctor` imports
it for the build record and the reinstall command.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

PACKAGE = "llama-cpp-python"
VERSION = "0.3.36"

# -march=native, with AMX switched off. llama.cpp's AMX kernels crash with a
# segmentation fault on Q4_K models on CPUs that have AMX (ggml_backend_amx_mul_mat;
# seen on Sapphire Rapids): explicit -mno-* flags win over -march=native in GCC and
# Clang, so ggml's AMX code is not compiled in. The native build is tied to the CPU
# it was compiled on, so the CPU's instruction sets are part of the cache key.
# The multimodal (llava/mtmd) library is not built: nothing here uses it, and it
# adds build time. BENCHMARKS.md "Embedded model build" compares these flags with
# the alternatives, measured on one machine.
CMAKE_ARGS = ("-DLLAVA_BUILD=OFF", "-DGGML_NATIVE=ON")
COMPILER_FLAGS = ("-mno-amx-tile", "-mno-amx-int8", "-mno-amx-bf16")
NATIVE = True

# Where the installed build's description is written, inside the environment.
RECORD_NAME = "assistant-llama-build.json"


@dataclass(frozen=True)
class BuildSpec:
    """Everything that shapes the compiled library; its hash names the cached wheel."""

    package: str
    version: str
    cmake_args: tuple[str, ...]
    compiler_flags: tuple[str, ...]
    python: str
    platform: str
    cpu_features: tuple[str, ...]

    @property
    def key(self) -> str:
        text = json.dumps(asdict(self), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def record(self, **extra: object) -> dict[str, object]:
        """The spec with its key (and `extra`), as written to build.json and the record."""
        return {**asdict(self), "key": self.key, **extra}


def cpu_features(cpuinfo: Path = Path("/proc/cpuinfo")) -> tuple[str, ...]:
    """The instruction-set flags the kernel reports for this CPU (empty if unknown)."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ()
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name.strip() in ("flags", "Features"):
            return tuple(sorted(set(value.split())))
    return ()


def spec() -> BuildSpec:
    return BuildSpec(
        package=PACKAGE,
        version=VERSION,
        cmake_args=CMAKE_ARGS,
        compiler_flags=COMPILER_FLAGS,
        python=sys.implementation.cache_tag or sys.version,
        platform=sysconfig.get_platform(),
        cpu_features=cpu_features() if NATIVE else (),
    )


def default_cache() -> Path:
    """`.wheels/` in a source checkout (each clone builds its own), else the user cache."""
    root = Path(__file__).resolve().parent.parent
    if (root / "pyproject.toml").is_file():
        return root / ".wheels"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "assistant" / "wheels"


def record_path(prefix: str = sys.prefix) -> Path:
    return Path(prefix) / RECORD_NAME


def installed_record(prefix: str = sys.prefix) -> dict[str, object] | None:
    """What this module recorded when it installed llama-cpp-python here, if it did."""
    try:
        data = json.loads(record_path(prefix).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def describe_installed(prefix: str = sys.prefix) -> str:
    """How the installed llama-cpp-python was built, as far as this module knows."""
    record = installed_record(prefix)
    if record is None:
        return "not installed by assistant/llama_build.py: flags unknown"
    words = [
        str(word)
        for field in ("cmake_args", "compiler_flags")
        for word in (record.get(field) or [])  # type: ignore[attr-defined]
    ]
    text = f"built with {' '.join(words)}"
    if record.get("key") != spec().key:
        text += " for another CPU or with other flags than this machine's"
    return text


def reinstall_command() -> str:
    """The exact command that rebuilds llama-cpp-python for this machine."""
    return f"{sys.executable} {Path(__file__).resolve()} install --rebuild"


def _build_env() -> dict[str, str]:
    env = dict(os.environ)
    env["CMAKE_ARGS"] = " ".join(CMAKE_ARGS)
    flags = " ".join(COMPILER_FLAGS)
    for name in ("CFLAGS", "CXXFLAGS"):
        env[name] = f"{env.get(name, '')} {flags}".strip()
    env.setdefault("CMAKE_BUILD_PARALLEL_LEVEL", str(os.cpu_count() or 2))
    env["PIP_NO_CACHE_DIR"] = "1"
    return env


def _pip(*args: str, env: dict[str, str] | None = None) -> None:
    subprocess.run([sys.executable, "-m", "pip", *args], check=True, env=env)


def build(target: BuildSpec, cache: Path) -> Path:
    """Compile the wheel from source into `cache/<key>/`; return its path."""
    folder = cache / target.key
    cache.mkdir(parents=True, exist_ok=True)
    print(
        f"Building {PACKAGE} {VERSION} from source (a few minutes on 2 cores)\n"
        f"  CMAKE_ARGS={' '.join(CMAKE_ARGS)}  CFLAGS+={' '.join(COMPILER_FLAGS)}",
        file=sys.stderr,
        flush=True,
    )
    started = time.monotonic()
    with tempfile.TemporaryDirectory(dir=cache, prefix=".build-") as tmp:
        _pip(
            "wheel",
            "--no-deps",
            "--no-cache-dir",
            "--no-binary",
            PACKAGE,
            "--wheel-dir",
            tmp,
            f"{PACKAGE}=={VERSION}",
            env=_build_env(),
        )
        wheels = sorted(Path(tmp).glob("*.whl"))
        if len(wheels) != 1:
            raise SystemExit(f"expected one wheel from the build, found {len(wheels)}")
        staged = Path(tmp) / "out"
        staged.mkdir()
        shutil.move(str(wheels[0]), staged / wheels[0].name)
        info = target.record(built_s=round(time.monotonic() - started))
        (staged / "build.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
        shutil.rmtree(folder, ignore_errors=True)
        # Appears whole or not at all: an interrupted build leaves only the temp dir.
        os.replace(staged, folder)
    return next(folder.glob("*.whl"))


def cached_wheel(cache: Path, target: BuildSpec) -> Path | None:
    """The wheel built earlier for exactly this spec, if there is one."""
    wheels = sorted((cache / target.key).glob("*.whl"))
    return wheels[0] if wheels else None


def install(cache: Path, *, rebuild: bool = False) -> str:
    """Install llama-cpp-python built for this machine; reuse only a same-key wheel."""
    target = spec()
    record = installed_record()
    if not rebuild and record and record.get("key") == target.key and _importable():
        return f"{PACKAGE} {VERSION} already installed with these flags ({target.key})"
    wheel = None if rebuild else cached_wheel(cache, target)
    if wheel is None:
        wheel = build(target, cache)
        how = "built"
    else:
        how = "installed the wheel built earlier with the same flags"
    # Replace whatever llama-cpp-python is there, then add its own dependencies
    # (the second call finds the package itself already satisfied).
    _pip("install", "--no-deps", "--no-index", "--force-reinstall", "--quiet", str(wheel))
    _pip("install", "--quiet", str(wheel))
    info = target.record(wheel=str(wheel))
    record_path().write_text(json.dumps(info, indent=2), encoding="utf-8")
    return f"{PACKAGE} {VERSION}: {how} ({target.key})"


def _importable() -> bool:
    # Only finds the package: importing it would load the library into this process.
    import importlib.util

    return importlib.util.find_spec("llama_cpp") is not None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    do = sub.add_parser("install", help="Install llama-cpp-python built for this machine.")
    do.add_argument("--rebuild", action="store_true", help="Compile again, even if cached.")
    do.add_argument("--cache", type=Path, default=None, help="Wheel cache (default: .wheels/).")
    sub.add_parser("show", help="Print the build spec and its key.")
    args = parser.parse_args(argv)
    if args.command == "show":
        print(json.dumps(spec().record(), indent=2))
        return 0
    print(install(args.cache or default_cache(), rebuild=args.rebuild), file=sys.stderr)
    return 0


if __name__ == "__main__":
    # Run as a file by the Makefile, before `assistant` itself is installed.
    sys.exit(main())
