"""The listing parser on the real seed files, the JSONL reader, bad records."""

from __future__ import annotations

import json
import re
from pathlib import Path

from hypothesis import example, given, settings
from hypothesis import strategies as st

from assistant.domain import LoadReport
from assistant.readers import load_abstracts
from assistant.readers.identifier import title_id
from assistant.readers.jsonl import parse_jsonl
from assistant.readers.listing import parse_listing
from tests.conftest import DATA, SHARED

SEEDS = sorted(DATA.glob("*.txt"))


def test_bundled_data_is_the_seed_listings_unchanged() -> None:
    seeds = sorted((SHARED / "seeds").glob("*.txt"))
    assert [p.name for p in SEEDS] == [p.name for p in seeds]
    for ours, theirs in zip(SEEDS, seeds, strict=True):
        assert ours.read_bytes() == theirs.read_bytes()


def test_seed_files_give_694_entries_and_620_distinct_papers() -> None:
    papers, report = load_abstracts([DATA])
    assert report.files == 5
    assert report.entries == 694
    assert len(papers) == 620
    assert report.problems == []
    assert len({p.paper_id for p in papers}) == 620


def _parse(path: Path) -> tuple[list, LoadReport]:
    report = LoadReport()
    return list(parse_listing(path, report)), report


def test_blank_line_layout_with_header_and_date() -> None:
    papers, _ = _parse(DATA / "003_099459961173535e.txt")
    assert len(papers) == 48
    # "Daily Papers", "Subscribe", "byAK ..." and the date are header, not papers.
    assert papers[0].title.startswith("Principled Approaches for Extending Neural Architectures")
    lines = (DATA / "003_099459961173535e.txt").read_text(encoding="utf-8").splitlines()
    assert papers[0].abstract == lines[14].strip()
    assert papers[0].dates == ("Sep 8",)
    assert papers[-1].title.startswith("NeuralStagger")
    assert all("Subscribe" not in p.title and p.title != "Daily Papers" for p in papers)


def test_dense_layout_with_subscribe_glued_to_first_title() -> None:
    papers, _ = _parse(DATA / "002_31e192c6d4481839.txt")
    assert len(papers) == 282
    assert (
        papers[0].title == "AutoReP: Automatic ReLU Replacement for Fast Private Network Inference"
    )
    assert papers[0].abstract.startswith("The growth of the Machine-Learning-As-A-Service")
    assert papers[0].dates == ()


def test_utf8_titles_survive() -> None:
    papers, _ = load_abstracts([DATA])
    titles = {p.title for p in papers}
    assert "A Proof of Learning Rate Transfer under \u03bcP" in titles
    assert any(t.startswith("Pad\u00e9 Activation Units") for t in titles)


def test_paper_in_several_files_is_stored_once_with_every_file() -> None:
    papers, _ = load_abstracts([DATA])
    mgno = [p for p in papers if p.title.startswith("MgNO: Efficient Parameterization")]
    assert len(mgno) == 1
    assert len(mgno[0].source_files) == 5
    first = next(p for p in papers if p.title.startswith("Exploring Quality and Generalizability"))
    assert first.source_files == ("000_f182f684adaecd22.txt", "001_0e3b8f3a0da38401.txt")
    assert first.dates == ("Mar 12", "Mar 13")


def test_title_ids_are_stable_and_ignore_case_and_spacing() -> None:
    assert title_id("Layer  Normalization ") == title_id("layer normalization")
    assert title_id("Layer Normalization") != title_id("Batch Normalization")


def test_beir_and_arxiv_jsonl(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    records = [
        {"_id": "42", "title": "A BEIR title", "text": "A BEIR abstract text.", "metadata": {}},
        {
            "id": "2101.00001",
            "title": "An arXiv title",
            "abstract": "  An arXiv\n abstract. ",
            "authors": "Ada Lovelace, Alan Turing and Grace Hopper",
            "categories": "cs.LG stat.ML",
            "update_date": "2023-05-01",
        },
    ]
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    report = LoadReport()
    beir, arxiv = list(parse_jsonl(path, report))
    assert (beir.paper_id, beir.title, beir.abstract) == (
        "mixed:42",
        "A BEIR title",
        "A BEIR abstract text.",
    )
    assert beir.external_id == "42"
    assert arxiv.paper_id == "arxiv:2101.00001"
    assert arxiv.abstract == "An arXiv abstract."
    assert arxiv.authors == ("Ada Lovelace", "Alan Turing", "Grace Hopper")
    assert arxiv.categories == ("cs.LG", "stat.ML")
    assert arxiv.dates == ("2023-05-01",)
    assert report.problems == []


def test_scifact_corpus_loads_whole() -> None:
    papers, report = load_abstracts([SHARED / "bench/scifact/corpus.jsonl"])
    assert len(papers) == 5183
    assert report.problems == []


def test_bad_records_are_reported_with_file_and_line_and_the_rest_loads(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(
        "\n".join(
            [
                json.dumps({"_id": "1", "title": "Good one", "text": "Fine abstract."}),
                "{not json",
                json.dumps({"_id": "2", "title": "", "text": "No title here."}),
                json.dumps({"_id": "3", "title": "No abstract", "text": ""}),
                json.dumps(["a", "list"]),
                json.dumps({"_id": "4", "title": "Good two", "text": "Another abstract."}),
            ]
        ),
        encoding="utf-8",
    )
    papers, report = load_abstracts([path, tmp_path / "missing.jsonl"])
    assert [p.title for p in papers] == ["Good one", "Good two"]
    messages = [str(p) for p in report.problems]
    assert messages[0].startswith(f"{path}:2: invalid JSON")
    assert messages[1] == f"{path}:3: record without a title; skipped"
    assert messages[2] == f"{path}:4: record without an abstract; skipped"
    assert messages[3] == f"{path}:5: not a JSON object; skipped"
    assert messages[4] == f"{tmp_path / 'missing.jsonl'}: no such file or directory"


def test_listing_title_without_abstract_does_not_shift_the_others(tmp_path: Path) -> None:
    long = "This abstract is long enough to be an abstract. " * 6
    path = tmp_path / "listing.txt"
    path.write_text(
        "Subscribe\n\nFirst title\n\n" + long + "\n\nOrphan title\n\nThird title\n\n" + long + "\n",
        encoding="utf-8",
    )
    papers, report = _parse(path)
    assert [p.title for p in papers] == ["First title", "Third title"]
    assert [str(p) for p in report.problems] == [f"{path}:7: title without an abstract; skipped"]


# Property-based: any listing or JSON Lines file rendered from (title, abstract)
# pairs, with the junk real files hold between them, reads back to exactly those
# pairs, and every junk line (and no other) is reported.


def _norm(text: str) -> str:
    """What the readers make of a line: runs of whitespace to one space, stripped."""
    return " ".join(text.split())


_HEADERS = {
    "new",
    "Subscribe",
    "Daily Papers",
    "byAK and the research community",
    "Get trending papers in your email inbox!",
    "Get trending papers in your email inbox once a day!",
}
_DATE_LIKE = re.compile(r"^(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]* \d")


def _not_header(text: str) -> bool:
    clean = _norm(text)
    return not (clean in _HEADERS or clean.startswith("Subscribe") or _DATE_LIKE.match(clean))


# Any character but line ends, NUL (which marks a binary file), a byte-order mark
# (stripped from a file's start) and lone surrogates (not text).
_chars = st.characters(exclude_categories=("Cs",), exclude_characters="\n\r\x00\ufeff")


def _line(min_chars: int, max_chars: int) -> st.SearchStrategy[str]:
    """Raw lines whose cleaned length is within [min_chars, max_chars]."""
    return st.text(_chars, min_size=min_chars, max_size=max_chars).filter(
        lambda t: min_chars <= len(_norm(t)) <= max_chars and _not_header(t)
    )


_titles = _line(1, 300)
_abstracts = _line(200, 1500)
# Junk a listing holds: an abstract whose title was lost (longer than any title)
# and a title whose abstract was lost.
_orphan_abstracts = st.one_of(st.none(), _line(301, 700))
_orphan_titles = st.one_of(st.none(), _titles)
_entries = st.lists(st.tuples(_orphan_abstracts, _orphan_titles, _titles, _abstracts), max_size=6)


@settings(max_examples=150, deadline=None)
@given(
    entries=_entries,
    trailing=st.tuples(_orphan_abstracts, _orphan_titles),
    blank_lines=st.booleans(),
    glued=st.booleans(),
    date=st.sampled_from([None, "Sep 8", "March 13, 2024"]),
    bom=st.booleans(),
)
def test_listing_round_trip(
    tmp_path_factory,
    entries,
    trailing,
    blank_lines: bool,
    glued: bool,
    date: str | None,
    bom: bool,
) -> None:
    header = ["Get trending papers in your email inbox!", *([date] if date else []), "Subscribe"]
    body: list[tuple[str, str | None]] = []  # (line, the problem it must be reported as)
    for orphan_abstract, orphan_title, title, abstract in entries:
        if orphan_abstract is not None:
            body.append((orphan_abstract, "abstract without a title; skipped"))
        # A lost abstract is only visible before a title shorter than any abstract;
        # before a longer one, the two lines read as a pair by design.
        if orphan_title is not None and len(_norm(title)) < 200:
            body.append((orphan_title, "title without an abstract; skipped"))
        body += [(title, None), (abstract, None)]
    orphan_abstract, orphan_title = trailing
    if orphan_abstract is not None:
        body.append((orphan_abstract, "abstract without a title; skipped"))
    if orphan_title is not None:
        body.append((orphan_title, "title without an abstract; skipped"))
    if glued and body:
        header.pop()
        body[0] = ("Subscribe" + body[0][0].lstrip(), body[0][1])

    sep = "\n\n" if blank_lines else "\n"
    lines = header + [line for line, _ in body]
    path = tmp_path_factory.mktemp("prop") / "l.txt"
    text = ("\ufeff" if bom else "") + sep.join(lines) + "\n"
    path.write_text(text, encoding="utf-8", newline="")
    first_body_line = len(header) * (2 if blank_lines else 1) + 1
    expected_problems = [
        (first_body_line + i * (2 if blank_lines else 1), problem)
        for i, (_, problem) in enumerate(body)
        if problem
    ]

    papers, report = _parse(path)
    assert [(p.title, p.abstract) for p in papers] == [(_norm(t), _norm(a)) for *_, t, a in entries]
    assert all(p.dates == ((date,) if date else ()) for p in papers)
    assert [(p.line, p.message) for p in report.problems] == expected_problems


def _records() -> st.SearchStrategy[tuple[dict[str, object], tuple[str, str]]]:
    """A usable arXiv or BEIR record, with the (title, abstract) it must read as."""
    text = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
    ids = st.one_of(st.none(), text, st.integers(), st.just("2101.00001v2"))
    arxiv = st.fixed_dictionaries(
        {"id": ids, "title": _titles, "abstract": _line(1, 2000)},
        optional={
            "authors": st.one_of(text, st.lists(text, max_size=4)),
            "categories": text,
            "update_date": text,
            "versions": st.lists(
                st.fixed_dictionaries({"version": text, "created": text}), max_size=3
            ),
        },
    )
    beir = st.fixed_dictionaries(
        {"_id": ids, "title": _titles, "text": _line(1, 2000)},
        optional={"metadata": st.dictionaries(text, text, max_size=2)},
    )
    return st.one_of(arxiv, beir).map(
        lambda r: (r, (_norm(str(r["title"])), _norm(str(r.get("abstract", r.get("text"))))))
    )


def _not_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return True
    return False


_blank = st.text(alphabet=" \t\u3000\x0c", max_size=5)
# Lines a JSONL reader must report and skip; each is (bytes, reported?).
_junk = st.one_of(
    _titles.map(lambda t: '{"title": ' + json.dumps(t)),  # cut off mid-record
    st.text(_chars, min_size=1, max_size=80).filter(lambda t: t.strip() != "" and _not_json(t)),
    st.just("[" * 100_000),
    st.just("1" * 5_000),
    st.one_of(
        st.lists(st.integers(), max_size=3), st.integers(), st.text(max_size=20), st.none()
    ).map(json.dumps),
    _titles.map(lambda t: json.dumps({"title": t})),
    _abstracts.map(lambda a: json.dumps({"abstract": a})),
    st.tuples(_blank, _abstracts).map(lambda x: json.dumps({"title": x[0], "abstract": x[1]})),
    st.tuples(_titles, _blank).map(lambda x: json.dumps({"title": x[0], "abstract": x[1]})),
    _titles.map(lambda t: json.dumps({"_id": "1", "title": t})),
    st.tuples(_titles, _abstracts).map(lambda x: json.dumps({"title": [x[0]], "abstract": x[1]})),
    st.tuples(_titles, _abstracts).map(lambda x: json.dumps({"title": x[0], "text": {"a": x[1]}})),
).map(lambda line: line.encode("utf-8"))
_undecodable = st.just(b'{"title": "caf\xe9", "abstract": ')


@settings(max_examples=150, deadline=None)
@given(
    lines=st.lists(
        st.one_of(
            _records().map(lambda r: ("record", r)),
            st.one_of(_junk, _undecodable).map(lambda j: ("junk", j)),
            _blank.map(lambda b: ("blank", b.encode("utf-8"))),
        ),
        max_size=12,
    ),
    ascii_only=st.booleans(),
    crlf=st.booleans(),
)
def test_jsonl_round_trip(tmp_path_factory, lines, ascii_only: bool, crlf: bool) -> None:
    rendered: list[bytes] = []
    expected: list[tuple[str, str]] = []
    junk_lines: list[int] = []
    for number, (kind, value) in enumerate(lines, start=1):
        if kind == "record":
            record, pair = value
            rendered.append(json.dumps(record, ensure_ascii=ascii_only).encode("utf-8"))
            expected.append(pair)
        else:
            rendered.append(value)
            if kind == "junk":
                junk_lines.append(number)
    path = tmp_path_factory.mktemp("jsonl") / "r.jsonl"
    end = b"\r\n" if crlf else b"\n"
    path.write_bytes(end.join(rendered) + end)

    report = LoadReport()
    papers = list(parse_jsonl(path, report))
    assert [(p.title, p.abstract) for p in papers] == expected
    assert sorted({p.line for p in report.problems}) == junk_lines
    assert report.entries == len(expected)


# json.dumps writes a lone surrogate as a \\ud800 escape, which json.loads reads back.
_surrogates = st.text(st.characters(categories=["Cs"]), min_size=1, max_size=2).map(
    lambda s: f"a{s}b"
)


@settings(max_examples=150, deadline=None)
@given(
    data=st.one_of(
        st.binary(max_size=3000),
        st.text(max_size=3000).map(lambda t: t.encode("utf-8", "surrogatepass")),
        st.lists(
            st.dictionaries(
                st.sampled_from(["title", "abstract", "text", "_id", "id"]),
                st.one_of(st.text(), _surrogates, st.integers(), st.none(), st.lists(st.text())),
            ),
            max_size=5,
        ).map(lambda rs: "\n".join(map(json.dumps, rs)).encode()),
    )
)
def test_readers_never_crash_on_any_bytes(tmp_path_factory, data: bytes) -> None:
    folder = tmp_path_factory.mktemp("bytes")
    for name, reader in (("f.txt", parse_listing), ("f.jsonl", parse_jsonl)):
        path = folder / name
        path.write_bytes(data)
        report = LoadReport()
        papers = list(reader(path, report))
        assert report.entries == len(papers)
        for paper in papers:
            assert paper.title == " ".join(paper.title.split()) != ""
            assert paper.abstract == " ".join(paper.abstract.split()) != ""
            # Storable text: no lone surrogates, which would fail when hashed or written.
            paper.content_hash.encode("ascii")
            (paper.title + paper.abstract).encode("utf-8")


@settings(max_examples=80, deadline=None)
@given(text=st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=600))
@example(text="0\n0\r0")  # a lone CR ends a line, as in old Mac files
def test_listing_never_crashes_or_invents(tmp_path_factory, text: str) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "f.txt"
    path.write_text(text, encoding="utf-8", newline="")
    papers, _ = _parse(path)
    lines = {" ".join(line.split()) for line in text.replace("\r", "\n").split("\n")}
    for paper in papers:
        assert paper.abstract in lines
        assert paper.title in lines or ("Subscribe" + paper.title) in lines
