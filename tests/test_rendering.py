"""Output through a pipe, and with --json, is exactly what it was before the
terminal rendering (issue 17): golden files, byte for byte. On a terminal (a
pseudo-terminal of a set width), answers and results are drawn with Rich.

Scores and timings are the exception: ONNX Runtime picks its kernels by CPU,
so the last digit of a similarity can differ between machines, and seconds
differ between runs. They are masked (`#.###`) on both sides; every other byte
is compared. Record anew with
UPDATE_GOLDEN=1 only when a change of output is meant.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from conftest import cli_env, run_cli
from pseudo_terminal import COLOUR, plain, run_in_terminal
from rich.cells import cell_len

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


# -- on a terminal: drawn with Rich ---------------------------------------------


def _terminal(*args: str, columns: int = 60, **env: str) -> str:
    code, output = run_in_terminal(
        list(args), cli_env(TERM="xterm-256color", **env), columns=columns
    )
    assert code == 0, output
    return output


def _fits(text: str, columns: int) -> None:
    for line in text.splitlines():
        assert cell_len(line.rstrip()) <= columns, line


def test_an_answer_wraps_between_words_and_its_citations_stand_out(bundled_home: Path) -> None:
    answer = json.loads(run_cli(*CASES["ask.json"]).stdout)
    raw = _terminal("ask", QUESTION, "--backend", "none")
    shown = plain(raw)
    _fits(shown, 60)
    text, _, sources = shown.partition("\nSources\n")
    body = text.split("\n", 1)[1]  # after "Backend: none (extractive)"
    # The same words in the same order: a word split by a line break would not be.
    assert body.split() == answer["answer"].split()
    assert len(body.splitlines()) > len(answer["answer"].splitlines())  # it did wrap
    # A list item's continuation lines sit under its text.
    assert re.search(r"^- .*\n  \S", body, re.MULTILINE)
    # Citations in bold colour; the plain text around them is not.
    assert re.search(r"\x1b\[[0-9;]*m\[1\]", raw)
    assert COLOUR.search(raw)
    # Sources: a list of number, title, file, and the quotes.
    first = answer["sources"][0]
    assert sources.startswith(f"[1] {first['title']}")
    assert first["source_files"][0] in sources
    assert "“" + first["evidence"][0].split()[0] in sources


def test_search_is_a_table_that_never_splits_a_word(bundled_home: Path) -> None:
    hits = json.loads(run_cli(*CASES["search.json"]).stdout)["results"]
    shown = plain(_terminal(*CASES["search.txt"], columns=60))
    _fits(shown, 60)
    header, rule, *rows = shown.splitlines()
    assert header.split() == ["#", "Score", "Paper", "File"]
    assert set(rule.strip()) == {"─"}
    words = set(shown.split())
    for hit in hits:
        assert set(hit["title"].split()) <= words, hit["title"]
        assert hit["source_files"][0] in words
    assert [r.split()[0] for r in rows if r[:4].strip()] == ["1", "2", "3"]


def test_no_color_keeps_the_layout_without_colours(bundled_home: Path) -> None:
    raw = _terminal("ask", QUESTION, "--backend", "none", NO_COLOR="1")
    assert not COLOUR.search(raw), repr(raw[:300])
    _fits(plain(raw), 60)
    assert "\nSources\n[1] " in plain(raw)


def test_document_text_is_never_read_as_rich_markup(capsys: pytest.CaptureFixture[str]) -> None:
    from assistant.cli import styled
    from assistant.domain import PaperHit

    title = "[bold red]Loud[/bold red] :smile: \x1b[2Jtitle"
    # The author is shown on the line under the title, as the table draws it.
    author = ("[link=http://x]here[/link]",)
    hit = PaperHit("p1", title, 0.5, "abstract", ("a[b]c.txt",), (), None, author, "chunk")
    styled.search_table([hit])
    shown = capsys.readouterr().out
    assert "[bold red]Loud[/bold red] :smile: title" in " ".join(shown.split())
    assert "[link=http://x]here[/link]" in shown and "a[b]c.txt" in shown
    assert "\x1b[2J" not in shown


def test_a_streamed_answer_cut_anywhere_wraps_whole_words(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from assistant.cli.styled import WrappedStream

    text = (
        "Layer normalization computes statistics over one example [1, 2]. "
        "It needs no batch [3]. [unsupported]\n- A bulleted point that runs on [2]."
    )
    for size in (1, 3, 7):
        stream = WrappedStream(width=24)
        for start in range(0, len(text), size):
            stream.write(text[start : start + size])
        stream.end_line()
        shown = capsys.readouterr().out
        _fits(shown, 24)
        assert shown.split() == text.split()
        assert any("[1, 2]." in line for line in shown.splitlines())
        bullet = shown.split("- A", 1)[1]
        assert all(line.startswith("  ") for line in bullet.splitlines()[1:])
