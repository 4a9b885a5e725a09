"""Builds of llama-cpp-python compared on the same question, machine and run.

Usage:
    python benchmarks/llama_builds.py --wheel native=/tmp/w/native.whl \\
        --wheel avx2=/tmp/w/avx2.whl [--runs 5]

Each wheel is unpacked into its own folder and put first on PYTHONPATH of a
child process, so the builds run side by side from one environment. Rounds
alternate between the builds (ABAB...), so that noise from the machine falls
on all of them alike. Per build and round, two children:

- `assistant ask QUESTION --backend llamacpp --json` on the bundled index:
  time to first token and total, as the answer's own timings record them
  (model load included, as a user meets it);
- raw llama.cpp on the same model: prompt processing of a fixed ~400-token
  prompt (tokens/s) and generation of up to 64 tokens (tokens/s).

A first, unmeasured round per build loads the model files into the page cache
and runs the first-use probe. Prints a Markdown table and the CPU's flags.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from assistant.llama_build import cpu_features

QUESTION = "Which papers propose alternatives to batch normalization for NLP models?"

_RAW = r"""
import json, sys, time
from llama_cpp import Llama, llama_print_system_info
from assistant.backends.llamacpp import bundled_model
from pathlib import Path

path = bundled_model(Path(sys.argv[1]))
prompt = Path(sys.argv[2]).read_text()
llm = Llama(model_path=str(path), n_ctx=2048, n_threads=2, verbose=False)
n_prompt = len(llm.tokenize(prompt.encode(), add_bos=True))
start = time.perf_counter()
stamps = []
for part in llm.create_completion(prompt, max_tokens=64, temperature=0.0, stream=True):
    stamps.append(time.perf_counter())
first = stamps[0] - start
gen = (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else 0.0
print(json.dumps({
    "prompt_tokens": n_prompt,
    "prompt_tok_s": n_prompt / first,
    "gen_tokens": len(stamps),
    "gen_tok_s": gen,
    "system_info": llama_print_system_info().decode(),
}))
"""


def unpack(name: str, wheel: Path, into: Path) -> Path:
    target = into / name
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(target)
    for lib in target.rglob("*.so*"):
        lib.chmod(0o755)
    return target


def child(args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{args[:4]} failed ({done.returncode}): {done.stderr[-2000:]}")
    return done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--wheel",
        action="append",
        required=True,
        help="NAME=PATH, or NAME=PATH@VARIANT for a GGML_BACKEND_DL build: the CPU "
        "variant to load (llama-cpp-python does not load its own variants)",
    )
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="llama-builds-"))
    home = scratch / "home"
    base = {**os.environ, "ASSISTANT_HOME": str(home), "OLLAMA_HOST": "http://127.0.0.1:9"}
    base.update({"HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False"})
    child([sys.executable, "-m", "assistant", "ingest", "--quiet"], base)
    data = Path(__file__).resolve().parent.parent / "data"
    abstracts = (data / "003_099459961173535e.txt").read_text(encoding="utf-8")
    prompt = scratch / "prompt.txt"
    prompt.write_text(abstracts[:1800] + "\n\nQuestion: " + QUESTION + "\nAnswer:")

    builds: dict[str, dict[str, str]] = {}
    for spec in args.wheel:
        name, _, where = spec.partition("=")
        path, _, variant = where.partition("@")
        folder = unpack(name, Path(path), scratch / "wheels")
        builds[name] = {**base, "PYTHONPATH": f"{folder}:{base.get('PYTHONPATH', '')}"}
        if variant:
            # llama-cpp-python's wheel puts the variants in bin/ at its root.
            found = list(folder.rglob(f"libggml-cpu-{variant}.so"))
            if not found:
                raise SystemExit(f"{name}: no CPU variant libggml-cpu-{variant}.so in the wheel")
            lib = found[0]
            # ggml loads the backend named here after searching its default paths.
            builds[name]["GGML_BACKEND_PATH"] = str(lib)

    ask = [sys.executable, "-m", "assistant", "ask", QUESTION, "--backend", "llamacpp", "--json"]
    raw = [sys.executable, "-c", _RAW, str(home / "models"), str(prompt)]
    results: dict[str, dict[str, list[float]]] = {n: {} for n in builds}
    info: dict[str, str] = {}
    for round_ in range(args.runs + 1):
        for name, env in builds.items():
            timings = json.loads(child(ask, env))["timings"]
            measured = json.loads(child(raw, env))
            info[name] = measured.pop("system_info")
            if round_ == 0:
                continue  # warm-up: page cache, first-use probe
            row = results[name]
            row.setdefault("ttft", []).append(timings["first_token_s"])
            row.setdefault("total", []).append(timings["total_s"])
            row.setdefault("prompt", []).append(measured["prompt_tok_s"])
            row.setdefault("gen", []).append(measured["gen_tok_s"])
        print(f"round {round_} done", file=sys.stderr)

    flags = cpu_features()
    wanted = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_int8")
    print(f"CPU flags of note: {' '.join(f for f in wanted if f in flags)}; {os.cpu_count()} cores")
    med = statistics.median
    print(f"\nMedians of {args.runs} alternating rounds, (min-max) below each.\n")
    print("| build | `ask` first token | `ask` total | prompt tokens/s | generation tokens/s |")
    print("|---|---|---|---|---|")
    for name, row in results.items():
        print(
            f"| {name} | {med(row['ttft']):.2f} s ({min(row['ttft']):.2f}-{max(row['ttft']):.2f})"
            f" | {med(row['total']):.2f} s ({min(row['total']):.2f}-{max(row['total']):.2f})"
            f" | {med(row['prompt']):.0f} ({min(row['prompt']):.0f}-{max(row['prompt']):.0f})"
            f" | {med(row['gen']):.1f} ({min(row['gen']):.1f}-{max(row['gen']):.1f}) |"
        )
    print()
    for name, text in info.items():
        print(f"- {name}: {text.strip()}")


if __name__ == "__main__":
    main()
