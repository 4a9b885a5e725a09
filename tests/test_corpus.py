"""The listing parser on the real seed files, the JSONL reader, bad records."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import example, given, settings
from hypothesis import strategies as st

from assistant.corpus import LoadReport, load_abstracts, parse_jsonl, parse_listing, title_id
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


# Property-based: any listing we render from pairs parses back to exactly those pairs.
_word = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-:\u00e9\u03bc",
    min_size=1,
    max_size=12,
)
_title = (
    st.lists(_word, min_size=1, max_size=12)
    .map(" ".join)
    .filter(lambda t: not t.startswith("Subscribe") and t not in {"new", "Daily Papers"})
)
_abstract = st.lists(_word, min_size=40, max_size=80).map(lambda ws: " ".join(ws) + ".")


@settings(max_examples=60, deadline=None)
@given(
    pairs=st.lists(st.tuples(_title, _abstract), min_size=1, max_size=8),
    blank_lines=st.booleans(),
    glued=st.booleans(),
)
def test_listing_round_trip(tmp_path_factory, pairs, blank_lines: bool, glued: bool) -> None:
    sep = "\n\n" if blank_lines else "\n"
    body = sep.join(f"{t}{sep}{a}" for t, a in pairs)
    header = "Get trending papers in your email inbox!\n"
    text = header + ("Subscribe" + body if glued else "Subscribe\n" + body) + "\n"
    path = tmp_path_factory.mktemp("prop") / "l.txt"
    path.write_text(text, encoding="utf-8")
    papers, report = _parse(path)
    assert [(p.title, p.abstract) for p in papers] == [(t.strip(), a.strip()) for t, a in pairs]
    assert report.problems == []


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
