"""Bad input: every problem is named with its file (and line), the rest still loads,
what was stored before stays, and odd questions get a clear answer or usage error.

Reader tests run in-process on the real readers; the ingest tests run the real
`python -m assistant ingest` in child processes, few of them, since each loads MiniLM.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import time
import tracemalloc
import zipfile
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from assistant.cli.app import app
from assistant.domain import LoadReport, Paper
from assistant.embedding.embedder import MiniLMEmbedder
from assistant.index.chunking import ChunkSpec, chunk_papers
from assistant.readers import load_abstracts
from assistant.readers.jsonl import parse_jsonl
from assistant.readers.text import MAX_LINE_CHARS
from tests.conftest import DATA, run_cli

LONG = "An abstract long enough to read as one, about nothing in particular at all. " * 4
GOOD_LISTING = f"Subscribe\n\nA good title\n\n{LONG}\n"
FIFTY_MB = 50 * 1024 * 1024


def _good(folder: Path) -> Path:
    path = folder / "good.txt"
    path.write_text(GOOD_LISTING, encoding="utf-8")
    return path


def _load(*paths: Path) -> tuple[list[tuple[str, str]], list[str]]:
    papers, report = load_abstracts(paths)
    return [(p.title, p.abstract) for p in papers], [str(p) for p in report.problems]


def _zip_bytes(folder: Path) -> bytes:
    archive = folder / "archive.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("inner.txt", GOOD_LISTING)
    return archive.read_bytes()


# Whole files that cannot be read as text ----------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.txt", b"", "empty file; nothing to read"),
        ("empty.jsonl", b"", "empty file; nothing to read"),
        (
            "figure.txt",
            b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)),
            "binary file (NUL bytes); skipped",
        ),
        ("dump.jsonl", bytes(range(256)) * 8, "binary file (NUL bytes); skipped"),
        (
            "arxiv.jsonl",
            gzip.compress(b'{"title": "T", "abstract": "A"}\n'),
            "gzip-compressed file; decompress it first (gunzip); skipped",
        ),
        ("zipped.txt", None, "zip archive; unpack it first; skipped"),
        ("paper.txt", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "PDF file, not text; skipped"),
        ("utf16.txt", GOOD_LISTING.encode("utf-16"), "UTF-16 text; save it as UTF-8; skipped"),
    ],
)
def test_a_file_that_is_not_text_is_named_and_the_rest_loads(
    tmp_path: Path, name: str, content: bytes | None, message: str
) -> None:
    bad = tmp_path / name
    bad.write_bytes(_zip_bytes(tmp_path) if content is None else content)
    pairs, problems = _load(bad, _good(tmp_path))
    assert problems == [f"{bad}: {message}"]
    assert pairs == [("A good title", LONG.strip())]


def test_invalid_utf8_is_replaced_and_reported_with_its_line(tmp_path: Path) -> None:
    listing = tmp_path / "latin1.txt"
    listing.write_bytes(("Subscribe\n\nCaf\u00e9 networks\n\n" + LONG).encode("latin-1"))
    records = tmp_path / "latin1.jsonl"
    records.write_bytes(
        json.dumps({"title": "Fine", "abstract": "Fine."}).encode()
        + b"\n"
        + b'{"title": "Na\xefve Bayes", "abstract": "Counts words."}\n'
    )
    pairs, problems = _load(listing, records)
    assert pairs == [
        ("Caf\ufffd networks", LONG.strip()),
        ("Fine", "Fine."),
        ("Na\ufffdve Bayes", "Counts words."),
    ]
    assert problems == [
        f"{listing}:3: invalid UTF-8; undecodable bytes replaced",
        f"{records}:2: invalid UTF-8; undecodable bytes replaced",
    ]


# One enormous line -----------------------------------------------------------------


def _write_huge_line(handle: Any, size: int) -> None:
    """`size` bytes of words and no newline, written in pieces so the test holds none whole."""
    piece = b"word " * (1 << 18)
    for _ in range(size // len(piece)):
        handle.write(piece)


def test_a_50_mb_line_is_reported_and_skipped_without_being_held(tmp_path: Path) -> None:
    listing = tmp_path / "huge.txt"
    with listing.open("wb") as f:
        f.write(f"Subscribe\nFirst title\n{LONG}\n".encode())
        _write_huge_line(f, FIFTY_MB)
        f.write(f"\nSecond title\n{LONG}\n".encode())
    records = tmp_path / "huge.jsonl"
    with records.open("wb") as f:
        opening = b'{"title": "Runaway", "abstract": "'
        f.write(opening)
        _write_huge_line(f, FIFTY_MB)
        f.write(b'"}\n{"title": "After it", "abstract": "Still read."}\n')
    record_chars = len(opening) + FIFTY_MB + 2

    tracemalloc.start()
    try:
        pairs, problems = _load(listing, records)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert pairs == [
        ("First title", LONG.strip()),
        ("Second title", LONG.strip()),
        ("After it", "Still read."),
    ]
    assert problems == [
        f"{listing}:4: line of 52,428,800 characters, over the 1,000,000-character limit; skipped",
        f"{records}:1: line of {record_chars:,} characters, over the 1,000,000-character limit; "
        "skipped",
    ]
    # The line is 50 MB; reading it must cost about one limit's worth, not the line.
    assert peak < 10 * 1024 * 1024, f"peak {peak:,} bytes"


def test_the_line_limit_is_exact(tmp_path: Path) -> None:
    head = "Subscribe\nAt the limit\n"
    at_limit = tmp_path / "at.txt"
    at_limit.write_text(head + "a" * MAX_LINE_CHARS + "\n", encoding="utf-8")
    over = tmp_path / "over.txt"
    over.write_text(head + "a" * (MAX_LINE_CHARS + 1), encoding="utf-8")
    papers, report = load_abstracts([at_limit, over])
    assert [(p.title, len(p.abstract)) for p in papers] == [("At the limit", MAX_LINE_CHARS)]
    assert [str(p) for p in report.problems] == [
        f"{over}:3: line of 1,000,001 characters, over the 1,000,000-character limit; skipped",
        f"{over}:2: title without an abstract; skipped",
    ]


# JSON records the reader could get wrong -----------------------------------------


def test_json_that_python_cannot_read_or_that_is_not_text_is_named(tmp_path: Path) -> None:
    path = tmp_path / "odd.jsonl"
    lines = [
        "[" * 100_000,
        "1" * 5_000,
        json.dumps({"title": ["A", "list"], "abstract": "Some text."}),
        json.dumps({"title": "An object abstract", "abstract": {"en": "text"}}),
        json.dumps({"_id": "7", "title": "BEIR", "text": 42}),
        '{"title": "Half a \\ud83d pair", "abstract": "Still usable."}',
        json.dumps({"title": "Whole pair \U0001f600", "abstract": "Fine."}),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = LoadReport()
    papers = list(parse_jsonl(path, report))
    assert [(p.title, p.abstract) for p in papers] == [
        ("Half a \ufffd pair", "Still usable."),
        ("Whole pair \U0001f600", "Fine."),
    ]
    # The replaced surrogate can be hashed and stored.
    assert all(len(p.content_hash) == 40 for p in papers)
    assert [str(p) for p in report.problems] == [
        f"{path}:1: invalid JSON: nested too deeply",
        f"{path}:2: invalid JSON: a number too long",
        f"{path}:3: `title` is not a string; skipped",
        f"{path}:4: `abstract` is not a string; skipped",
        f"{path}:5: `text` is not a string; skipped",
        f"{path}:6: unpaired surrogate escape (\\uD800-\\uDFFF); replaced",
    ]


# A 100,000-character abstract -------------------------------------------------------


def _sentences(rng: random.Random, chars: int, end: str = ".") -> str:
    """Exactly `chars` characters of made-up sentences, single-spaced."""
    vocab = [
        "".join(rng.choice("abcdefghiklmnoprstuvw") for _ in range(rng.randint(2, 11)))
        for _ in range(3000)
    ]
    out: list[str] = []
    size = 0
    while size <= chars:
        sentence = " ".join(rng.choice(vocab) for _ in range(rng.randint(4, 40))).capitalize()
        out.append(sentence + end)
        size += len(sentence) + len(end) + 1
    text = " ".join(out)[:chars]
    return text[:-1] + "x" if text.endswith(" ") else text


def _abstracts() -> dict[str, str]:
    rng = random.Random(100_000)
    return {
        "sentences": _sentences(rng, 100_000),
        "no sentence ends": _sentences(rng, 100_000, end=""),
        "chinese": "".join(chr(rng.randint(0x4E00, 0x9FFF)) for _ in range(100_000)),
        # Punctuation is a token of its own: an even cut by characters overflows.
        "dense symbols": "".join(rng.choice("a\u00e9\u2192\u22111,.-") for _ in range(100_000)),
    }


def _is_subsequence(needle: str, haystack: str) -> bool:
    it = iter(haystack)
    return all(ch in it for ch in needle)


@pytest.fixture(scope="module")
def tokens() -> MiniLMEmbedder:
    return MiniLMEmbedder()


@pytest.mark.parametrize("kind", list(_abstracts()))
@pytest.mark.parametrize("title", ["A short title", ".-" * 150])
def test_a_100000_character_abstract_is_chunked_whole(
    tokens: MiniLMEmbedder, kind: str, title: str
) -> None:
    abstract = _abstracts()[kind]
    assert len(abstract) == 100_000
    spec = ChunkSpec()
    chunks = chunk_papers([Paper("p", title, abstract, ("f",))], spec, tokens.count_tokens)
    sizes = tokens.count_tokens([c.text for c in chunks])
    # Nothing is cut off by the model's 256-token limit ([CLS] and [SEP] included)...
    assert max(sizes) + 2 <= spec.max_tokens
    assert [c.index for c in chunks] == list(range(len(chunks)))
    # Every chunk starts with (the start of) the title, within the title's budget.
    prefix = chunks[0].text
    for chunk in chunks:
        while not chunk.text.startswith(prefix):
            prefix = prefix[:-1]
    assert len(chunks) > 100 and title.startswith(prefix.rstrip()[:-1])
    assert tokens.count_tokens([prefix])[0] <= 49
    # ...and every character of the abstract is in a chunk, in order.
    bodies = "".join(c.text[len(prefix) :] for c in chunks)
    assert _is_subsequence("".join(abstract.split()), "".join(bodies.split()))


# The real ingest: one run over every bad file, the index before it intact ----------

# Write-only even for root: procfs checks a sysctl's mode bits for every user.
_WRITE_ONLY = Path("/proc/sys/vm/drop_caches")


def _unreadable(path: Path) -> Path:
    """A file whose reading fails with a real PermissionError, whoever runs the tests."""
    if os.geteuid() != 0:
        path.write_text(json.dumps({"title": "Secret", "abstract": "Unread."}) + "\n")
        path.chmod(0)
    elif _WRITE_ONLY.exists():
        # Root reads any ordinary file whatever its mode, so point at one it cannot.
        path.symlink_to(_WRITE_ONLY)
    else:
        pytest.skip(f"running as root and {_WRITE_ONLY} is missing: no file is unreadable")
    with pytest.raises(PermissionError):
        path.open("rb")
    return path


def _warnings(stderr: str) -> list[str]:
    assert "Traceback" not in stderr, stderr
    return [line for line in stderr.splitlines() if line.startswith("Warning: ")]


def _search(query: str, k: int = 10) -> list[dict[str, Any]]:
    found = run_cli("search", query, "--json", "-k", str(k))
    assert found.returncode == 0, found.stderr
    results: list[dict[str, Any]] = json.loads(found.stdout)["results"]
    return results


def test_ingest_names_every_bad_input_ingests_the_rest_and_keeps_the_index(
    tmp_path: Path, isolated_home: Path
) -> None:
    first = tmp_path / "first"
    first.mkdir()
    lines = (DATA / "002_31e192c6d4481839.txt").read_text(encoding="utf-8").splitlines()
    (first / "good.txt").write_text("\n".join(lines[:6]) + "\n", encoding="utf-8")
    before = run_cli("ingest", "--quiet", str(first))
    assert before.returncode == 0, before.stderr
    index_line = before.stdout.splitlines()[-1]
    assert index_line.startswith("Index: 2 papers, ")
    chunks_before = int(index_line.split()[3])

    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "empty.txt").write_bytes(b"")
    (bad / "figure.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (bad / "latin1.txt").write_bytes(f"Caf\u00e9 networks\n{LONG}\n".encode("latin-1"))
    with (bad / "huge.txt").open("wb") as f:
        _write_huge_line(f, FIFTY_MB)
    # Words over 100 characters are one token each to MiniLM, so these 100,000
    # characters embed in a few chunks; ordinary text, 400 chunks, is chunked above.
    rng = random.Random(7)
    tail = " The quokka lemma closes it."
    words = ["".join(rng.choice("abcdefghiklmnop") for _ in range(110)) for _ in range(900)]
    long_abstract = " ".join(words)[: 100_000 - len(tail)].rstrip() + tail
    long_abstract = "x" * (100_000 - len(long_abstract)) + long_abstract
    assert len(long_abstract) == 100_000
    records = [
        '{"title": "Broken", "abstract": ',
        json.dumps(["not", "an", "object"]),
        json.dumps({"title": "", "abstract": "No title."}),
        json.dumps({"title": "No abstract", "abstract": " "}),
        json.dumps({"id": "x1", "title": "A very long abstract", "abstract": long_abstract}),
    ]
    (bad / "records.jsonl").write_text("\n".join(records) + "\n", encoding="utf-8")
    locked = _unreadable(bad / "locked.jsonl")
    missing = tmp_path / "no-such-folder"

    result = run_cli("ingest", "--quiet", str(bad), str(missing))
    assert result.returncode == 0, result.stderr
    warnings = _warnings(result.stderr)
    assert warnings[:5] == [
        f"Warning: {bad / 'empty.txt'}: empty file; nothing to read",
        f"Warning: {bad / 'figure.txt'}: binary file (NUL bytes); skipped",
        f"Warning: {bad / 'huge.txt'}:1: line of 52,428,800 characters, "
        "over the 1,000,000-character limit; skipped",
        f"Warning: {bad / 'latin1.txt'}:1: invalid UTF-8; undecodable bytes replaced",
        f"Warning: {locked}: cannot read: Permission denied",
    ]
    assert warnings[5].startswith(f"Warning: {bad / 'records.jsonl'}:1: invalid JSON: ")
    assert warnings[6:] == [
        f"Warning: {bad / 'records.jsonl'}:2: not a JSON object; skipped",
        f"Warning: {bad / 'records.jsonl'}:3: record without a title; skipped",
        f"Warning: {bad / 'records.jsonl'}:4: record without an abstract; skipped",
        f"Warning: {missing}: no such file or directory",
    ]
    # Every chunk of the long abstract was written, none cut to fit.
    from assistant.pipeline import Pipeline
    from assistant.settings import load_settings

    pipeline = Pipeline(load_settings())
    added = [
        Paper("a", "Caf\ufffd networks", LONG.strip(), ("latin1.txt",)),
        Paper("b", "A very long abstract", long_abstract, ("records.jsonl",)),
    ]
    chunks = len(chunk_papers(added, pipeline.chunk_spec, pipeline.embedder.count_tokens))
    read, added_line, index = result.stdout.splitlines()
    assert read.startswith("Read 2 entries (2 distinct papers) from 6 file(s) in ")
    assert added_line == (
        f"Added 2, replaced 0, unchanged 0, sources updated 0; wrote {chunks} chunks."
    )
    assert index == f"Index: 4 papers, {chunks_before + chunks} chunks at {isolated_home / 'store'}"

    # Nothing readable at all: exit 3, and the index is as it was.
    nothing = run_cli("ingest", "--quiet", str(bad / "empty.txt"), str(missing))
    assert nothing.returncode == 3
    assert nothing.stdout == ""
    assert nothing.stderr.splitlines()[-2] == (
        "Error: No abstracts could be read from the given paths."
    )

    again = run_cli("ingest", "--quiet", str(first))
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[1:] == [
        "Nothing new: all 2 papers are already in the index.",
        index,
    ]
    results = _search("AutoReP automatic ReLU replacement for private inference")
    assert results[0]["title"] == (
        "AutoReP: Automatic ReLU Replacement for Fast Private Network Inference"
    )
    assert results[0]["source_files"] == ["good.txt"]
    assert _search("quokka lemma", k=1)[0]["title"] == "A very long abstract"


def test_a_folder_of_3000_files_ingests_quickly(tmp_path: Path, isolated_home: Path) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    lines = (DATA / "003_099459961173535e.txt").read_text(encoding="utf-8").splitlines()
    one_paper = "\n".join(lines[12:15]) + "\n"
    title = lines[12].strip()
    # The same listing saved 2,000 times, 990 files that are not abstracts, 10 empty ones.
    for i in range(2000):
        (folder / f"copy-{i:04d}.txt").write_text(one_paper, encoding="utf-8")
    for i in range(990):
        (folder / f"figure-{i:03d}.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00")
    for i in range(10):
        (folder / f"empty-{i}.jsonl").write_bytes(b"")

    result = run_cli("ingest", "--quiet", str(folder), timeout=120)
    assert result.returncode == 0, result.stderr
    assert _warnings(result.stderr) == [
        f"Warning: {folder / f'empty-{i}.jsonl'}: empty file; nothing to read" for i in range(10)
    ]
    assert result.stdout.startswith("Read 2000 entries (1 distinct papers) from 2010 file(s) in ")
    assert "Added 1, replaced 0, unchanged 0, sources updated 0;" in result.stdout

    found = run_cli("search", title, "-k", "1")
    assert found.returncode == 0, found.stderr
    # Five file names, then a count, not 2,000 names on one line.
    assert found.stdout.strip().endswith(
        f"{title}  [copy-0000.txt, copy-0001.txt, copy-0002.txt, copy-0003.txt, "
        "copy-0004.txt and 1,995 more]"
    )
    as_json = run_cli("search", title, "-k", "1", "--json")
    files = json.loads(as_json.stdout)["results"][0]["source_files"]
    assert files == [f"copy-{i:04d}.txt" for i in range(2000)]


# Questions ------------------------------------------------------------------------
# Empty, whitespace-only, over-long and NUL/BEL questions are in tests/test_cli.py.

runner = CliRunner()

QUESTIONS = {
    "chinese": "哪篇论文提出了层归一化\uff1f",  # a full-width question mark
    "arabic": "ما هي الورقة التي تقترح تطبيع الطبقات؟",
    "german": "Welche Arbeit führt die Layer-Normalisierung ein, und wozu dient sie größeren?",
}


@pytest.mark.parametrize("language", list(QUESTIONS))
def test_questions_in_other_languages_are_searched_and_answered(
    bundled_home: Path, language: str
) -> None:
    question = QUESTIONS[language]
    searched = runner.invoke(app, ["search", question, "--json", "-k", "3"])
    assert searched.exit_code == 0, searched.output
    data = json.loads(searched.stdout)
    assert data["query"] == question
    assert len(data["results"]) == 3

    asked = runner.invoke(app, ["ask", question, "--backend", "none", "--json"])
    assert asked.exit_code == 0, asked.output
    answer = json.loads(asked.stdout)
    assert answer["question"] == question
    # MiniLM reads English: declining is right, as long as it is a justified decline.
    assert answer["answered"] or answer["abstention"] == "retrieval"


def test_terminal_escape_sequences_are_removed_from_the_question(bundled_home: Path) -> None:
    result = runner.invoke(
        app, ["search", "\x07\x1b[1;31mLayer Normalization\x1b[0m\x9b", "--json", "-k", "1"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["query"] == "Layer Normalization"
    assert data["results"][0]["title"] == "Layer Normalization"


def test_odd_questions_in_a_real_process_under_the_c_locale(bundled_home: Path) -> None:
    c_locale = {"LANG": "C", "LC_ALL": "C"}
    for args in (
        ["search", QUESTIONS["chinese"], "-k", "2"],
        ["ask", QUESTIONS["german"], "-b", "none"],
    ):
        result = run_cli(*args, **c_locale)
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
        assert result.stdout.strip()

    for question in ("", " \t\u3000\u00a0 "):
        empty = run_cli("ask", question, "-b", "none", **c_locale)
        assert empty.returncode == 2
        assert empty.stdout == ""
        assert empty.stderr.splitlines() == [
            "Error: The question is empty.",
            'Hint: Ask something, e.g. assistant ask "..."',
        ]

    # Over 4,000 characters is refused, as a usage error naming the limit...
    too_long = run_cli("search", "layer normalization " * 5_000)
    assert too_long.returncode == 2
    assert too_long.stderr.splitlines()[0] == (
        "Error: The question is 99,999 characters long; the limit is 4,000."
    )
    # ...while 4,000 is searched: the embedder reads its first 256 tokens, BM25 all of it.
    at_limit = ("layer normalization " * 200)[:4000]
    result = run_cli("search", at_limit, "--json", "-k", "1")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["results"][0]["title"] == "Layer Normalization"


def test_list_fields_are_read_where_the_format_allows_lists(tmp_path: Path) -> None:
    path = tmp_path / "lists.jsonl"
    records = [
        {"id": "2401.00001", "title": "Listed", "abstract": "A.", "categories": ["cs.LG", "cs.AI"]},
        {"id": 2401.00002, "title": "Numbered id", "abstract": "B.", "doi": ["10.1234/x"]},
        {"id": ["a", "b"], "title": "List id", "abstract": "C."},
        {"id": "2401.00004", "title": "Object categories", "abstract": "D.", "categories": {}},
        {"id": "2401.00005", "title": "Dated twice", "abstract": "E.", "update_date": ["x"]},
        {"id": "2401.00006", "title": "Numeric authors", "abstract": "F.", "authors": 7},
        {"_id": True, "title": "Boolean BEIR id", "text": "G."},
        {"_id": 12, "title": "Numeric BEIR id", "text": "H."},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    report = LoadReport()
    papers = {p.title: p for p in parse_jsonl(path, report)}
    assert sorted(papers) == ["Listed", "Numbered id", "Numeric BEIR id"]
    assert papers["Listed"].categories == ("cs.LG", "cs.AI")
    assert papers["Numbered id"].paper_id == "arxiv:2401.00002"
    assert papers["Numbered id"].doi == "10.1234/x"
    assert papers["Numeric BEIR id"].paper_id == "lists:12"
    assert [str(p) for p in report.problems] == [
        f"{path}:3: `id` is not a string or a number; skipped",
        f"{path}:4: `categories` is not a string or a list of strings; skipped",
        f"{path}:5: `update_date` is not a string; skipped",
        f"{path}:6: `authors` is not a string or a list; skipped",
        f"{path}:7: `_id` is not a string or a number; skipped",
    ]


def test_a_listed_category_is_found_by_the_category_filter(tmp_path: Path) -> None:
    path = tmp_path / "lists.jsonl"
    record = {"id": "2401.00001", "title": "Sparse attention", "abstract": "Linear attention."}
    path.write_text(json.dumps({**record, "categories": ["cs.LG", "cs.AI"]}) + "\n", "utf-8")
    assert run_cli("ingest", "-q", str(path)).returncode == 0
    done = run_cli("search", "attention", "--category", "cs.LG", "--json")
    assert done.returncode == 0, done.stderr
    assert [r["categories"] for r in json.loads(done.stdout)["results"]] == [["cs.LG", "cs.AI"]]


@pytest.mark.parametrize("depth", [250, 5000])
def test_deeply_nested_braces_skip_that_bibtex_entry_only(tmp_path: Path, depth: int) -> None:
    path = tmp_path / "deep.bib"
    path.write_text(
        "@article{deep, title={Deep}, abstract={" + "{" * depth + "x" + "}" * depth + "}}\n"
        '@article{ok, title={Fine paper}, abstract={A {\\"o}kay {{DNA}} abstract.}}\n',
        encoding="utf-8",
    )
    done = run_cli("ingest", "-q", str(path))
    assert done.returncode == 0, done.stderr
    assert f"{path}:1: entry `deep` nests braces over 50 deep in abstract; skipped" in done.stderr
    assert "Index: 1 papers," in done.stdout


def test_an_abstract_over_the_limit_in_a_csv_cell_is_skipped_quickly(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    words = ("graph network protein energy cell " * 240_000).strip()  # 8.2 million characters
    path.write_text(f'title,abstract\nHuge,"{words}."\nSmall,A small abstract.\n', "utf-8")
    started = time.monotonic()
    done = run_cli("ingest", "-q", str(path))
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started < 60
    assert (
        f"Warning: {path}: 'Huge': the abstract is {len(words) + 1:,} characters, over the "
        "1,000,000-character limit (a full text, or a quote left open?); skipped"
    ) in done.stderr
    assert "Index: 1 papers," in done.stdout
