"""BibTeX, CSV/TSV and arXiv-snapshot input: readers, stable ids, --limit and --category."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from assistant.cli.app import app
from assistant.domain import LoadReport, Paper
from assistant.index.chunking import Chunk
from assistant.index.records import chunk_metadata
from assistant.readers import in_categories, iter_papers, load_abstracts
from assistant.settings import load_settings
from tests.conftest import run_cli

FORMATS = Path(__file__).parent / "fixtures" / "formats"


def _line_of(path: Path, text: str, occurrence: int = 1) -> int:
    """1-based number of the `occurrence`th line of `path` that starts with `text`."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found = [n for n, line in enumerate(lines, start=1) if line.startswith(text)]
    return found[occurrence - 1]


def _by_id(papers: list[Paper]) -> dict[str, Paper]:
    return {p.paper_id: p for p in papers}


# BibTeX ---------------------------------------------------------------------------


def test_bibtex_entries_become_papers_with_readable_text_and_metadata() -> None:
    path = FORMATS / "papers.bib"
    papers, report = load_abstracts([path])
    by_id = _by_id(papers)
    assert list(by_id) == [
        "doi:10.1234/jmlr.2020.77",
        "arxiv:2101.00001",
        "arxiv:2203.04567",
        "bib:notes2019",
    ]

    goedel = by_id["doi:10.1234/jmlr.2020.77"]
    assert goedel.title == "Sparse Attention for G\u00f6del-Style Proof Search \u2014 a Study"
    assert goedel.abstract == (
        "We study sparse attention for proof search and keep 10\u201320% of the tokens. "
        "On \u03b1-stable benchmarks the sparse model matches dense attention."
    )
    # Braces protect "van der Berg"; "and others" is BibTeX's et al., not a person.
    assert goedel.authors == ("J\u00f6rg M\u00fcller", "Ann van der Berg", "John Smith")
    assert goedel.venue == "Journal of Machine Learning Research"  # an @string macro
    assert (goedel.year, goedel.doi, goedel.bibtex_key) == (
        2020,
        "10.1234/jmlr.2020.77",
        "mueller2020goedel",
    )
    assert goedel.external_id == "10.1234/jmlr.2020.77"

    wavelet = by_id["arxiv:2101.00001"]
    # Mixed-case field names; the version is metadata, not part of the id.
    assert wavelet.title == "Wavelet Token Mixing for Vision Transformers"
    assert (wavelet.version, wavelet.external_id, wavelet.categories) == (
        "v2",
        "2101.00001",
        ("cs.CV",),
    )
    assert wavelet.venue == "Proceedings of the 38th International Conference on Machine Learning"
    assert wavelet.authors == ("Min-Ji Lee", "Soo Park")

    # Google Scholar's "arXiv preprint arXiv:..." journal names the arXiv id.
    assert by_id["arxiv:2203.04567"].version is None
    notes = by_id["bib:notes2019"]
    assert (notes.year, notes.venue, notes.doi, notes.bibtex_key) == (2019, None, None, "notes2019")

    assert [str(p) for p in report.problems] == [
        f"{path}:{_line_of(path, '@book{nobody2018')}: entry `nobody2018` has no abstract; skipped"
    ]
    assert report.entries == 4


def test_malformed_bibtex_is_reported_with_file_line_and_key_and_the_rest_loads() -> None:
    path = FORMATS / "broken.bib"
    papers, report = load_abstracts([path])
    assert [p.title for p in papers] == ["A Good Entry", "Loads After the Damage"]

    def at(start: str, occurrence: int = 1) -> str:
        return f"{path}:{_line_of(path, start, occurrence)}: "

    assert [str(p) for p in report.problems] == [
        at("@article{noabstract2020") + "entry `noabstract2020` has no abstract; skipped",
        at("@article{unclosed2020")
        + "cannot parse entry `unclosed2020`: malformed BibTeX (check its braces and commas);"
        " skipped",
        at("@article{good2020", 2) + "entry `good2020` repeats an earlier citation key; skipped",
        at("@article{twotitles2021")
        + "entry `twotitles2021` has field(s) title more than once; skipped",
    ]


def test_bibtex_with_invalid_utf8_is_reported_and_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "latin1.bib"
    path.write_bytes(
        b"@article{a,\n  title = {Caf\xe9 Networks},\n  abstract = {Networks of caf\xe9s.},\n}\n"
    )
    papers, report = load_abstracts([path])
    assert [p.paper_id for p in papers] == ["bib:a"]
    assert papers[0].title == "Caf\ufffd Networks"
    assert [str(p) for p in report.problems] == [
        f"{path}:2: invalid UTF-8; undecodable bytes replaced"
    ]


# CSV and TSV ------------------------------------------------------------------------


def test_csv_with_aliased_headers_bom_and_a_quoted_multiline_abstract() -> None:
    papers, report = load_abstracts([FORMATS / "papers.csv"])
    assert report.problems == []
    graph, quoted, preprint = papers
    # "Title", "Summary" and "DOI": header names match whatever their case.
    assert graph.paper_id == "doi:10.5555/gk.2019"
    assert graph.abstract.startswith("Graph kernels, computed with random features")
    assert graph.authors == ("Lovelace, Ada", "Turing, Alan")
    assert (graph.year, graph.venue, graph.categories) == (2019, "KDD", ("cs.LG", "stat.ML"))

    assert quoted.title == 'Quoted "Attention" Title'
    assert quoted.abstract == "An abstract that spans two lines inside its quotes."
    assert quoted.authors == ("Grace Hopper", "Alan Kay")
    assert quoted.paper_id.startswith("t:")  # neither DOI nor id: known by its title
    assert (quoted.doi, quoted.venue) == (None, None)

    # arXiv's own DOI names the arXiv id, the same id the arXiv snapshot gives.
    assert preprint.paper_id == "arxiv:2305.01234"
    assert preprint.doi == "10.48550/arxiv.2305.01234"


def test_tsv_row_ids_are_scoped_by_file_and_quotes_inside_fields_survive() -> None:
    papers, report = load_abstracts([FORMATS / "papers.tsv"])
    assert report.problems == []
    assert [(p.paper_id, p.external_id, p.categories) for p in papers] == [
        ("papers:p1", "p1", ("cs.LG",)),
        ("papers:p2", "p2", ("math.OC",)),
    ]
    assert papers[0].abstract == 'A TSV row: the abstract may contain "quotes" and commas, safely.'


def test_bad_csv_rows_are_reported_with_their_own_line_and_the_rest_loads() -> None:
    path = FORMATS / "broken.csv"
    papers, report = load_abstracts([path])
    assert [(p.title, p.year) for p in papers] == [("Good Row", 2020), ("Another Good Row", None)]
    # The first row spans lines 2-3, so the next row starts on line 4.
    assert [str(p) for p in report.problems] == [
        f"{path}:4: row without a title; skipped",
        f"{path}:5: row without an abstract; skipped",
        f"{path}:6: row has 4 fields, header has 3; skipped",
    ]


def test_csv_without_title_or_abstract_column_is_reported_once() -> None:
    path = FORMATS / "noheader.csv"
    papers, report = load_abstracts([path])
    assert papers == []
    assert [str(p) for p in report.problems] == [
        f"{path}:1: header has no title column (title) and no abstract column "
        "(abstract or summary); file skipped"
    ]


def test_oversized_csv_field_is_reported_and_later_rows_load(tmp_path: Path) -> None:
    path = tmp_path / "huge.csv"
    huge = "word " * (17 * 1024 * 1024 // 5)
    path.write_text(f'title,abstract\nHuge,"{huge}"\nSmall,A normal abstract.\n')
    papers, report = load_abstracts([path])
    assert [p.title for p in papers] == ["Small"]
    assert len(report.problems) == 1
    assert str(report.problems[0]).startswith(f"{path}:2: malformed row: field larger than")


def test_unsupported_suffix_names_every_format(tmp_path: Path) -> None:
    path = tmp_path / "papers.xml"
    path.write_text("<papers/>")
    _, report = load_abstracts([path])
    assert [str(p) for p in report.problems] == [
        f"{path}: unsupported file type (use .txt, .jsonl, .json, .bib, .csv, .tsv or .sqlite)"
    ]


# arXiv snapshot ---------------------------------------------------------------------


def test_arxiv_ids_stay_versionless_with_the_latest_version_and_first_year() -> None:
    papers, report = load_abstracts([FORMATS / "arxiv.jsonl"])
    assert report.problems == []
    by_id = _by_id(papers)
    wavelet = by_id["arxiv:2101.00001"]
    assert (wavelet.version, wavelet.year, wavelet.doi) == ("v2", 2021, "10.1234/wtm.2021")
    assert wavelet.dates == ("2021-03-02",)
    # Versions out of order: the highest is the latest; the year is v1's, not update_date's.
    old = by_id["arxiv:math/0701001"]
    assert (old.version, old.year, old.external_id) == ("v3", 2007, "math/0701001")


def test_the_snapshot_under_its_own_json_name_reads_as_json_lines(tmp_path: Path) -> None:
    lines = (FORMATS / "arxiv.jsonl").read_bytes()
    path = tmp_path / "arxiv-metadata-oai-snapshot.json"
    path.write_bytes(lines)
    papers, report = load_abstracts([path])
    expected, _ = load_abstracts([FORMATS / "arxiv.jsonl"])
    assert report.problems == []
    assert [(p.paper_id, p.title, p.abstract, p.year) for p in papers] == [
        (p.paper_id, p.title, p.abstract, p.year) for p in expected
    ]
    assert all(p.source_files == (path.name,) for p in papers)


def test_a_json_array_of_records_reads_whole_and_names_bad_records(tmp_path: Path) -> None:
    records = [
        {"id": "2101.00001v2", "title": "Wavelets", "abstract": "We transform."},
        {"id": "2101.00002", "title": "No abstract here"},
        ["not", "an", "object"],
        {"_id": "7", "title": "BEIR style", "text": "A claim about cells."},
    ]
    path = tmp_path / "papers.json"
    path.write_text("\n  " + json.dumps(records, indent=2))
    papers, report = load_abstracts([path])
    assert [(p.paper_id, p.title) for p in papers] == [
        ("arxiv:2101.00001", "Wavelets"),
        ("papers:7", "BEIR style"),
    ]
    assert [str(p) for p in report.problems] == [
        f"{path}: record 2: no abstract field (expected `abstract`, or BEIR `text`); skipped",
        f"{path}: record 3: not a JSON object; skipped",
    ]


def test_malformed_json_files_are_named_and_skipped(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('[\n{"title": "T", "abstract": "A."},\n{"title": \n')
    scalar = tmp_path / "scalar.json"
    scalar.write_text("[1, 2")
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps({"id": "2101.00009", "title": "Kept", "abstract": "Still read."}))
    papers, report = load_abstracts([broken, scalar, good])
    assert [p.title for p in papers] == ["Kept"]
    problems = [str(p) for p in report.problems]
    assert len(problems) == 2
    assert problems[0].startswith(f"{broken}:4: invalid JSON: ")
    assert problems[1].startswith(f"{scalar}:1: invalid JSON: ")


def test_a_versioned_id_without_versions_list_gives_version_and_year(tmp_path: Path) -> None:
    path = tmp_path / "snap.jsonl"
    record = {"id": "2105.00005v3", "title": "T", "abstract": "A.", "update_date": "2024-01-01"}
    path.write_text(json.dumps(record) + "\n")
    (paper,), _ = load_abstracts([path])
    assert (paper.paper_id, paper.version, paper.year) == ("arxiv:2105.00005", "v3", 2021)


def test_a_new_version_keeps_the_id_but_changes_the_content_hash() -> None:
    v1 = Paper("arxiv:1", "T", "A.", ("f",), version="v1", year=2021)
    v2 = Paper("arxiv:1", "T", "A.", ("g",), version="v2", year=2021)
    assert v1.content_hash != v2.content_hash
    # The BibTeX key only names the entry; files are provenance.
    assert Paper("x", "T", "A.", ("f",), bibtex_key="k").content_hash == (
        Paper("x", "T", "A.", ("g",)).content_hash
    )


def test_papers_without_the_new_fields_keep_their_stored_hashes() -> None:
    # Indexes built before these fields existed hold this hash; a change would
    # re-embed every listing and BEIR paper on the next ingest.
    paper = Paper("x", "Title", "Abstract.", ("f",), authors=("A",), categories=("cs.LG",))
    blob = "\x1f".join(["Title", "Abstract.", "A", "|", "cs.LG"])
    assert paper.content_hash == hashlib.sha1(blob.encode("utf-8")).hexdigest()


def test_chunk_metadata_holds_known_fields_only_and_never_none() -> None:
    bib = Paper(
        "doi:10.1/x",
        "T",
        "A.",
        ("f.bib",),
        year=2020,
        venue="JMLR",
        doi="10.1/x",
        bibtex_key="k",
        version="v2",
    )
    meta = chunk_metadata(bib, Chunk(bib.paper_id, 0, "T. A."), 1)
    assert {k: meta[k] for k in ("year", "venue", "doi", "bibtex_key", "version")} == {
        "year": 2020,
        "venue": "JMLR",
        "doi": "10.1/x",
        "bibtex_key": "k",
        "version": "v2",
    }
    plain = Paper("t:1", "T", "A.", ("f.txt",))
    meta = chunk_metadata(plain, Chunk(plain.paper_id, 0, "T. A."), 1)
    assert not {"year", "venue", "doi", "bibtex_key", "version"} & set(meta)
    assert all(v is not None for v in meta.values())


# --limit and --category ---------------------------------------------------------------


def test_category_filter_takes_exact_names_prefixes_and_any_case() -> None:
    path = FORMATS / "arxiv.jsonl"
    papers, report = load_abstracts([path], categories=["CS.lg", "math"])
    assert [p.external_id for p in papers] == [
        "2101.00001",
        "2102.00002",
        "math/0701001",
        "2104.00004",
    ]
    assert (report.entries, report.filtered) == (4, 1)
    papers, _ = load_abstracts([path], categories=["cs.*"])
    assert [p.external_id for p in papers] == ["2101.00001", "2103.00003", "2104.00004"]
    # A prefix is a whole part of the name: cs.L is no category of cs.LG.
    assert not in_categories(Paper("x", "T", "A", ("f",), categories=("cs.LG",)), ["cs.L"])
    assert not in_categories(Paper("x", "T", "A", ("f",)), ["cs"])


def test_limit_counts_accepted_entries_and_reads_no_further(tmp_path: Path) -> None:
    first = tmp_path / "a.jsonl"
    second = tmp_path / "b.jsonl"
    records = [
        {"id": f"2101.0000{i}", "title": f"T{i}", "abstract": "A.", "categories": cat}
        for i, cat in enumerate(["cs.LG", "math.PR", "cs.LG"])
    ]
    first.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    # Only reached if reading went past the limit: it would be reported.
    second.write_text(json.dumps(records[0] | {"id": "2102.00001"}) + "\n{broken\n")

    report = LoadReport()
    papers = list(iter_papers([first, second], report, limit=3))
    assert [p.title for p in papers] == ["T0", "T1", "T2"]
    assert (report.files, report.problems) == (1, [])

    report = LoadReport()
    papers = list(iter_papers([first, second], report, limit=3, categories=["cs.LG"]))
    assert [p.external_id for p in papers] == ["2101.00000", "2101.00002", "2102.00001"]
    assert report.files == 2
    assert report.problems == []  # stopped before the broken line

    report = LoadReport()
    assert len(list(iter_papers([first, second], report))) == 4
    assert [p.line for p in report.problems] == [2]


# The real CLI ---------------------------------------------------------------------------


def _stored() -> dict[str, dict[str, Any]]:
    """Every paper's first-chunk metadata, read straight from the Chroma store."""
    import chromadb

    settings = load_settings()
    client = chromadb.PersistentClient(path=str(settings.store_dir))
    got = client.get_collection(settings.collection).get(where={"chunk_index": 0})
    return {str(m["paper_id"]): dict(m) for m in got["metadatas"] or []}


def test_ingest_options_limit_and_category_select_entries() -> None:
    result = run_cli(
        "ingest",
        "--quiet",
        str(FORMATS / "arxiv.jsonl"),
        "--category",
        "cs.LG",
        "--category",
        "math",
        "--limit",
        "3",
    )
    assert result.returncode == 0, result.stderr
    assert "Read 3 entries (3 distinct papers) from 1 file(s)" in result.stdout
    stored = _stored()
    assert sorted(stored) == ["arxiv:2101.00001", "arxiv:2102.00002", "arxiv:math/0701001"]
    assert stored["arxiv:math/0701001"]["version"] == "v3"
    assert stored["arxiv:math/0701001"]["year"] == 2007
    assert stored["arxiv:2101.00001"]["categories"] == ["cs.CV", "cs.LG"]


def test_limit_must_be_positive_and_an_unmatched_category_is_explained() -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["ingest", str(FORMATS / "arxiv.jsonl"), "--limit", "0"])
    assert result.exit_code == 2
    assert "--limit" in result.stderr

    result = runner.invoke(
        app, ["ingest", "-q", str(FORMATS / "arxiv.jsonl"), "--category", "q-bio"]
    )
    assert result.exit_code == 3
    assert "Error: No entries in the given paths are in --category q-bio." in result.stderr
    assert "Hint: Check the names (e.g. cs.LG); a prefix such as cs keeps all cs.*." in (
        result.stderr
    )


_BIB = """@article{{lee2021wavelet,
  title = {{Wavelet Token Mixing}},
  eprint = {{2101.00001{version}}},
  archivePrefix = {{arXiv}},
  year = {{2021}},
  abstract = {{{abstract}}},
}}

@misc{{notes2019,
  title = {{{notes_title}}},
  year = {{2019}},
  abstract = {{Kernel methods explained from first principles.}},
}}
"""


def _snapshot_record(versions: list[str], abstract: str) -> str:
    return json.dumps(
        {
            "id": "2103.00003",
            "title": "Sparse Mixture of Experts for Translation",
            "abstract": abstract,
            "categories": "cs.CL",
            "versions": [
                {"version": v, "created": "Wed, 3 Mar 2021 10:00:00 GMT"} for v in versions
            ],
        }
    )


def test_reingesting_an_updated_entry_and_a_new_arxiv_version_replaces_them(
    tmp_path: Path,
) -> None:
    corpus = tmp_path / "papers"
    corpus.mkdir()
    bib, snapshot = corpus / "refs.bib", corpus / "arxiv.jsonl"
    bib.write_text(
        _BIB.format(
            version="v1",
            abstract="Wavelets mix tokens in vision transformers.",
            notes_title="Kernel Notes",
        )
    )
    snapshot.write_text(_snapshot_record(["v1"], "Experts route tokens for translation.") + "\n")
    first = run_cli("ingest", "--quiet", str(corpus))
    assert first.returncode == 0, first.stderr
    assert "Added 3, replaced 0, unchanged 0" in first.stdout

    bib.write_text(
        _BIB.format(
            version="v2",
            abstract="Wavelets mix tokens in vision transformers, now at half the cost.",
            notes_title="Kernel Notes, Second Edition",
        )
    )
    snapshot.write_text(
        _snapshot_record(["v1", "v2"], "Experts route tokens; v2 adds load balancing.") + "\n"
    )
    second = run_cli("ingest", "--quiet", str(corpus))
    assert second.returncode == 0, second.stderr
    assert "Added 0, replaced 3, unchanged 0" in second.stdout
    assert "Index: 3 papers" in second.stdout

    search = run_cli("search", "wavelet token mixing kernel notes experts", "-k", "10", "--json")
    assert search.returncode == 0, search.stderr
    hits = {h["paper_id"]: h for h in json.loads(search.stdout)["results"]}
    assert sorted(hits) == ["arxiv:2101.00001", "arxiv:2103.00003", "bib:notes2019"]
    assert hits["bib:notes2019"]["title"] == "Kernel Notes, Second Edition"

    stored = _stored()
    assert sorted(stored) == sorted(hits)
    assert stored["arxiv:2101.00001"]["version"] == "v2"
    assert stored["arxiv:2101.00001"]["bibtex_key"] == "lee2021wavelet"
    assert stored["arxiv:2101.00001"]["abstract"].endswith("now at half the cost.")
    assert stored["arxiv:2103.00003"]["version"] == "v2"
    assert stored["arxiv:2103.00003"]["abstract"] == "Experts route tokens; v2 adds load balancing."
