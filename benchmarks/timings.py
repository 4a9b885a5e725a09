"""Wall-clock timings of the core commands on the bundled corpus, in one run.

Usage: python benchmarks/timings.py [--runs 3]
Uses a fresh scratch ASSISTANT_HOME; each command is a new process, as a user runs it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

QUESTION = "Which papers propose alternatives to batch normalization for NLP models?"


def timed(args: list[str], env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "assistant", *args],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return time.perf_counter() - start, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    env = {**os.environ, "ASSISTANT_HOME": tempfile.mkdtemp(prefix="assistant-timing-")}
    env["OLLAMA_HOST"] = "http://127.0.0.1:9"  # closed: measure the embedded model

    ingest_s, _ = timed(["ingest", "--quiet"], env)
    reingest_s, _ = timed(["ingest", "--quiet"], env)
    search = [timed(["search", QUESTION], env)[0] for _ in range(args.runs)]
    asks = []
    for _ in range(args.runs):
        wall, out = timed(["ask", QUESTION, "--backend", "llamacpp", "--json"], env)
        timings = json.loads(out)["timings"]
        asks.append((wall, timings["first_token_s"], timings["total_s"]))

    med = statistics.median
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print("| measurement | value |")
    print("|---|---|")
    print(f"| first full ingest of data/ (620 papers), process wall | {ingest_s:.1f} s |")
    print(f"| second ingest (nothing new), process wall | {reingest_s:.1f} s |")
    print(f"| cold `search`, process wall, median of {args.runs} | {med(search):.2f} s |")
    print(
        f"| cold `ask --backend llamacpp`, process wall, median | {med(a[0] for a in asks):.2f} s |"
    )
    print(
        f"| `ask` time to first token (in-process, from question to first token), median | "
        f"{med(a[1] for a in asks):.2f} s |"
    )
    print(f"| `ask` total (in-process), median | {med(a[2] for a in asks):.2f} s |")


if __name__ == "__main__":
    main()
