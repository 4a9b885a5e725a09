"""Output through a pipe, and with --json, is exactly what it was before the
terminal rendering (issue 17): golden files, byte for byte.

Scores and timings are the exception: ONNX Runtime picks its kernels by CPU,
so the last digit of a similarity can differ between machines, and seconds
differ between runs. They are masked (`#.###`) on both sides; every other byte
is compared. Record anew with
UPDATE_GOLDEN=1 only when a change of output is meant.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from conftest import run_cli

GOLDEN = Path(__file__).parent / "golden" / "piped"
QUESTION = "Which papers replace batch normalization?"
QUERY = "layer normalization for recurrent networks"

CASES = {
    "search.txt": ("search", QUERY, "-k", "3"),
    "search.json": ("search", QUERY, "-k", "3", "--json"),
    "search.bib": ("search", QUERY, "-k", "2", "--format", "bibtex"),
    "ask.txt": ("ask", QUESTION, "--backend", "none"),
    "ask.json": ("ask", QUESTION, "--backend", "none", "--json"),
    "ask.bib": ("ask", QUESTION, "--backend", "none", "--format", "bibtex"),
}

# A ranked line's score ("  1. 0.994  Title"), and JSON's scores and timings.
_LINE_SCORE = re.compile(r"^(\s*\d+\. )-?\d+\.\d+", re.MULTILINE)
_JSON_SCORE = re.compile(r'("(?:score|dense|lexical|\w+_s)": )-?\d+(?:\.\d+)?(?:e-?\d+)?')


def masked(text: str) -> str:
    return _JSON_SCORE.sub(r"\1#.###", _LINE_SCORE.sub(r"\1#.###", text))


@pytest.mark.parametrize("name", sorted(CASES))
def test_piped_output_matches_golden(bundled_home: Path, name: str) -> None:
    done = run_cli(*CASES[name])
    assert done.returncode == 0, done.stderr
    golden = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(masked(done.stdout), encoding="utf-8")
    assert masked(done.stdout) == golden.read_text(encoding="utf-8")
    # A pipe never gets escape sequences, whatever the terminal would.
    assert "\x1b" not in done.stdout
