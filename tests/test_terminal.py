"""Stored text cannot drive the user's terminal (issue 15, item 5): titles,
abstracts, file names and cells holding escape sequences, BEL or NUL are shown
without them by search, ask and chat; --json keeps the exact text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_cli

from assistant.terminal import for_terminal

CLEAR = "\x1b[2J"
TITLE_SET = "\x1b]0;pwned\x07"
LINK = "\x1b]8;;http://127.0.0.1/\x1b\\click\x1b]8;;\x1b\\"
CONTROLS = ("\x1b", "\x07", "\x00", "\x9b", "\x9d")

ABSTRACT = (
    "Glacier crevasse detection from radar echoes is hard because echoes overlap. "
    f"We show a detector{CLEAR} that separates overlapping echoes{TITLE_SET} with a "
    "learned filter bank and reaches high recall on three survey seasons of data. "
    f"Code and data are released {LINK} for others to use."
)


def test_for_terminal_removes_sequences_and_controls() -> None:
    text = f"a{CLEAR}b{TITLE_SET}c{LINK}d\x07e\x00f\x9b31mg\tline\nnext \u00e9"
    assert for_terminal(text) == "abcclickdefg\tline\nnext \u00e9"
    assert for_terminal("one\nline\ttab", one_line=True) == "one line tab"
    assert for_terminal("\x1bc reset, \x1b[31mred\x1b[0m") == " reset, red"


def _clean(output: str) -> None:
    for control in CONTROLS:
        assert control not in output, repr(control)


@pytest.fixture
def evil_home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    folder = tmp_path / f"papers{CLEAR}\x07"
    folder.mkdir()
    record = {
        "id": "2401.00001",
        "title": f"Crevasse{CLEAR} radar{TITLE_SET}",
        "abstract": ABSTRACT,
    }
    (folder / f"evil{CLEAR}.jsonl").write_text(json.dumps(record) + "\n", encoding="utf-8")
    # A NUL in the first 8 KiB makes the file "binary" (skipped); past that, it is a cell.
    filler = "".join(
        f"Filler paper {i} on ocean waves,{'Ocean wave spectra are measured by buoys. ' * 8}\n"
        for i in range(30)
    )
    nul_title = "Sea ice\x00 thickness from radar altimetry"
    abstract = "Sea ice thickness is estimated from radar altimetry freeboard. " * 4
    (folder / "cells.csv").write_text(
        f"title,abstract\n{filler}{nul_title},{abstract}\n", encoding="utf-8"
    )
    done = run_cli("ingest", "--quiet", str(folder), ASSISTANT_HOME=str(home))
    assert done.returncode == 0, done.stderr
    _clean(done.stdout + done.stderr)
    return home


def test_search_and_ask_show_no_control_sequences(evil_home: Path) -> None:
    search = run_cli("search", "crevasse radar echoes", ASSISTANT_HOME=str(evil_home))
    assert search.returncode == 0, search.stderr
    _clean(search.stdout + search.stderr)
    assert "Crevasse radar" in search.stdout

    nul = run_cli("search", "sea ice thickness altimetry", ASSISTANT_HOME=str(evil_home))
    _clean(nul.stdout)
    assert "Sea ice thickness" in nul.stdout

    ask = run_cli(
        "ask",
        "How are overlapping radar echoes separated?",
        "--backend",
        "none",
        ASSISTANT_HOME=str(evil_home),
    )
    assert ask.returncode == 0, ask.stderr
    _clean(ask.stdout + ask.stderr)
    assert "Sources:" in ask.stdout

    bibtex = run_cli(
        "search", "crevasse radar echoes", "--format", "bibtex", ASSISTANT_HOME=str(evil_home)
    )
    _clean(bibtex.stdout)


def test_json_keeps_the_exact_text(evil_home: Path) -> None:
    done = run_cli("search", "crevasse radar echoes", "--json", ASSISTANT_HOME=str(evil_home))
    results = json.loads(done.stdout)["results"]
    assert results[0]["title"] == f"Crevasse{CLEAR} radar{TITLE_SET}"
    assert results[0]["source_files"] == [f"evil{CLEAR}.jsonl"]


def test_chat_shows_no_control_sequences(evil_home: Path) -> None:
    done = run_cli(
        "chat",
        "--backend",
        "none",
        input="How are overlapping radar echoes separated?\n/sources\n",
        ASSISTANT_HOME=str(evil_home),
    )
    assert done.returncode == 0, done.stderr
    _clean(done.stdout + done.stderr)
    assert "Sources:" in done.stdout
