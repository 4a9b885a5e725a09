"""Running the llama.cpp build in a child process first, so that a build that
crashes on this CPU (SIGSEGV in its AMX kernels, say) is reported with the
command that rebuilds it, never met as the user's first sight of the tool."""

from __future__ import annotations

import hashlib
import importlib.util
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from assistant.errors import BackendUnavailableError

# Loads the model and decodes a short prompt plus one token: the steps where a
# build that does not fit the CPU dies (llama.cpp's AMX kernels crash in decode).
_PROBE = """
import sys
from llama_cpp import Llama
llm = Llama(model_path=sys.argv[1], n_ctx=128, n_threads=int(sys.argv[2]), verbose=False)
out = llm.create_completion(
    "Layer normalization computes the mean and variance used for normalization from all "
    "of the summed inputs to the neurons in a layer on a single training case.",
    max_tokens=1,
    temperature=0.0,
)
print(repr(out["choices"][0]["text"]))
"""


@dataclass(frozen=True)
class ProbeResult:
    """How a child process fared loading the model and generating one token."""

    ok: bool
    detail: str
    # The signal that killed the child, when it died of one (a native crash).
    signal_name: str | None = None
    seconds: float = 0.0


def probe(model: Path, threads: int, timeout_s: float = 180.0) -> ProbeResult:
    """Load `model` and generate one token in a child process, so a crash stays there."""
    started = time.monotonic()
    try:
        done = subprocess.run(
            [sys.executable, "-c", _PROBE, str(model), str(threads)],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return ProbeResult(False, f"no token after {timeout_s:.0f} s", None, timeout_s)
    seconds = time.monotonic() - started
    if done.returncode < 0:
        try:
            name = signal.Signals(-done.returncode).name
        except ValueError:
            name = f"signal {-done.returncode}"
        return ProbeResult(False, f"llama.cpp crashed ({name})", name, seconds)
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        return ProbeResult(False, lines[-1] if lines else f"exit {done.returncode}", None, seconds)
    return ProbeResult(True, "loaded the model and generated a token", None, seconds)


def crash_error(model: Path, result: ProbeResult) -> BackendUnavailableError:
    """The message for a build of llama.cpp that dies on this machine."""
    from assistant.llama_build import reinstall_command

    return BackendUnavailableError(
        f"llama.cpp crashed ({result.signal_name}) loading {model.name} in a test process: "
        "this build of llama-cpp-python does not run on this CPU.",
        hint=f"Rebuild it for this machine: {reinstall_command()}  "
        "(or answer without it: --backend none)",
    )


def _library_identity() -> str:
    """Path, size and time of the installed libllama, without loading it."""
    spec = importlib.util.find_spec("llama_cpp")
    folders = list(spec.submodule_search_locations or []) if spec else []
    parts = []
    for folder in folders:
        for lib in sorted((Path(folder) / "lib").glob("lib*.so*")):
            stat = lib.stat()
            parts.append(f"{lib}:{stat.st_size}:{stat.st_mtime_ns}")
    return "|".join(parts)


def probe_marker(model: Path, models_dir: Path) -> Path:
    from assistant.llama_build import cpu_features

    stat = model.stat()
    ident = "\n".join(
        [_library_identity(), f"{model.resolve()}:{stat.st_size}", " ".join(cpu_features())]
    )
    key = hashlib.sha256(ident.encode()).hexdigest()[:16]
    return models_dir / "probed" / f"llamacpp-{key}"
