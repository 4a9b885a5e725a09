"""Filters (--year, --author, --category, --source) and BibTeX output.

One real ingest per module: the bundled abstracts (no years, authors or
categories) plus tests/fixtures/filters (arXiv records and a .bib with known
years, authors, categories and venues), in one home.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from bibtexparser.entrypoint import parse_string
from bibtexparser.model import ParsingFailedBlock

from assistant.bibliography import bibliography, escape
from assistant.domain import LoadReport, PaperHit
from assistant.errors import UsageError
from assistant.index.store import chunk_id
from assistant.pipeline import Pipeline
from assistant.readers.bibtex import parse_bibtex
from assistant.retrieval.filters import Filters, stale_warning
from assistant.settings import load_settings
from tests.conftest import DATA, OFFLINE_ENV, ROOT, run_cli

FIXTURES = ROOT / "tests" / "fixtures" / "filters"
SOFT = "arxiv:1503.01111"  # 2015, Okonkwo & Hinton, stat.ML cs.LG
GLACIER = "arxiv:2301.02222"  # 2023, Hintermann & Wrobel, cs.CV
SPEECH = "arxiv:2402.03333"  # 2024, Wrobel & Raman, cs.CL eess.AS
MOMENTUM = "arxiv:2105.04444"  # 2021, Raman & Núñez, math.OC
ICE = "doi:10.5555/cci.2022_17"  # 2022, Wrobel & Okonkwo, refs.bib
CROP = "bib:nunez2019sparse"  # 2019, Núñez, refs.bib
FIXTURE_IDS = {SOFT, GLACIER, SPEECH, MOMENTUM, ICE, CROP}
# Enough to see every paper a filter lets through.
ALL = 5000


@pytest.fixture(scope="module")
def filters_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("filters-home")
    env = {**os.environ, **OFFLINE_ENV, "ASSISTANT_HOME": str(home)}
    subprocess.run(
        [sys.executable, "-m", "assistant", "ingest", "--quiet", str(DATA), str(FIXTURES)],
        env=env,
        check=True,
        capture_output=True,
    )
    return home


@pytest.fixture(scope="module")
def pipeline(filters_index: Path) -> Pipeline:
    return Pipeline(load_settings(home=filters_index))


@pytest.fixture
def filters_home(filters_index: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ASSISTANT_HOME", str(filters_index))
    return filters_index


def found(pipeline: Pipeline, query: str, **flags: object) -> set[str]:
    filters = Filters.parse(**flags)  # type: ignore[arg-type]
    return {h.paper_id for h in pipeline.retriever.search(query, ALL, filters=filters)}


# Parsing -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023", (2023, 2023)),
        ("2023..2024", (2023, 2024)),
        ("2023..", (2023, None)),
        ("..2024", (None, 2024)),
        (" 2020 .. 2021 ", (2020, 2021)),
    ],
)
def test_year_syntax(text: str, expected: tuple[int | None, int | None]) -> None:
    filters = Filters.parse(year=text)
    assert (filters.year_from, filters.year_to) == expected


@pytest.mark.parametrize("text", ["20x3", "..", "", "2023-2024", "23", "2023..2024..2025"])
def test_bad_year_is_a_usage_error(text: str) -> None:
    with pytest.raises(UsageError, match="Invalid --year"):
        Filters.parse(year=text)


def test_backwards_year_range_names_the_fix() -> None:
    with pytest.raises(UsageError) as caught:
        Filters.parse(year="2024..2020")
    assert caught.value.hint == "Write the earlier year first: --year 2020..2024."


def test_where_and_describe() -> None:
    filters = Filters.parse(
        year="2020..",
        authors=["Hinton", "Tomasz  WROBEL"],
        categories=["cs.LG"],
        sources=["some/dir/refs.bib"],
    )
    assert filters.where() == {
        "$and": [
            {"year": {"$gte": 2020}},
            {
                "$or": [
                    {"author_keys": {"$contains": "hinton"}},
                    {
                        "$and": [
                            {"author_keys": {"$contains": "tomasz"}},
                            {"author_keys": {"$contains": "wrobel"}},
                        ]
                    },
                ]
            },
            {"category_keys": {"$contains": "cs.lg"}},
            {"source_files": {"$contains": "refs.bib"}},
        ]
    }
    assert filters.describe() == (
        '--year 2020.. --author hinton --author "tomasz wrobel" --category cs.lg --source refs.bib'
    )
    assert not Filters() and Filters().where() is None and Filters().sql() == ("1", [])


def test_collection_and_tag_names_match_whole_ignoring_case() -> None:
    filters = Filters.parse(
        collections=["Reading  List", "reading list", "Ökologie"], tags=["To-Read"]
    )
    assert filters.where() == {
        "$and": [
            {
                "$or": [
                    {"collection_keys": {"$contains": "reading list"}},
                    {"collection_keys": {"$contains": "ökologie"}},
                ]
            },
            {"tag_keys": {"$contains": "to-read"}},
        ]
    }
    condition, params = filters.sql()
    assert params == [
        *("collection_keys", "reading list", "collection_keys", "ökologie"),
        *("tag_keys", "to-read"),
    ]
    assert condition.count(" OR ") == 1 and condition.count(") AND (") == 1
    assert filters.describe() == '--collection "reading list" --collection ökologie --tag to-read'
    with pytest.raises(UsageError, match=r"Invalid --tag ' ': it is empty\."):
        Filters.parse(tags=[" "])


def test_bad_filter_syntax_exits_2_before_opening_the_index(tmp_path: Path) -> None:
    # No index in this home: the usage error must come first.
    result = run_cli("search", "glaciers", "--year", "20x3", ASSISTANT_HOME=str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "Error: Invalid --year '20x3'.",
        "Hint: Use --year 2023, 2023..2024, 2023.. or ..2024.",
    ]
    assert result.stdout == ""
    result = run_cli("ask", "why?", "--author", "!!", ASSISTANT_HOME=str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.startswith("Error: Invalid --author '!!': it has no letters.\n")
    bad = run_cli("search", "x", "--category", "cs..LG", ASSISTANT_HOME=str(tmp_path))
    assert bad.returncode == 2
    assert bad.stderr.splitlines()[0] == "Error: Invalid --category 'cs..LG'."


# Filters change results ------------------------------------------------------------


def test_without_filters_everything_is_searched(pipeline: Pipeline) -> None:
    hits = found(pipeline, "glacier crevasse segmentation")
    assert hits >= FIXTURE_IDS
    assert any(not pid.startswith(("arxiv:", "doi:", "bib:")) for pid in hits)


def test_year_range(pipeline: Pipeline) -> None:
    assert found(pipeline, "glacier", year="2023..2024") == {GLACIER, SPEECH}
    assert found(pipeline, "glacier", year="2022") == {ICE}
    assert found(pipeline, "glacier", year="..2019") == {SOFT, CROP}
    # The bundled listings carry no year: a year filter leaves them out.
    assert found(pipeline, "glacier", year="2021..") == {MOMENTUM, ICE, GLACIER, SPEECH}


def test_author_matches_name_words_ignoring_case_and_accents(pipeline: Pipeline) -> None:
    # Words, not substrings: Hintermann is not Hinton.
    assert found(pipeline, "ensembles", authors=["HINTON"]) == {SOFT}
    assert found(pipeline, "ice", authors=["Tomasz Wrobel"]) == {GLACIER, SPEECH, ICE}
    assert found(pipeline, "crop", authors=["nunez"]) == {MOMENTUM, CROP}
    assert found(pipeline, "crop", authors=["Núñez", "hintermann"]) == {MOMENTUM, CROP, GLACIER}
    # Every word must be a name word of the paper's authors.
    assert found(pipeline, "crop", authors=["jose raman"]) == {MOMENTUM}


def test_category_and_prefix(pipeline: Pipeline) -> None:
    assert found(pipeline, "images", categories=["cs"]) == {SOFT, GLACIER, SPEECH}
    assert found(pipeline, "images", categories=["cs.CL"]) == {SPEECH}
    assert found(pipeline, "images", categories=["stat", "math.*"]) == {SOFT, MOMENTUM}
    assert found(pipeline, "images", categories=["eess.as"]) == {SPEECH}


def test_source_file(pipeline: Pipeline) -> None:
    assert found(pipeline, "neural networks", sources=["refs.bib"]) == {ICE, CROP}
    assert found(pipeline, "neural networks", sources=[str(FIXTURES / "refs.bib")]) == {ICE, CROP}
    bundled = found(pipeline, "neural networks", sources=["000_f182f684adaecd22.txt"])
    assert bundled and not bundled & FIXTURE_IDS


def test_combinations(pipeline: Pipeline) -> None:
    assert found(pipeline, "ice", authors=["wrobel"], year="2023..") == {GLACIER, SPEECH}
    assert found(pipeline, "ice", authors=["wrobel"], sources=["refs.bib"]) == {ICE}
    assert found(pipeline, "ice", authors=["okonkwo"], categories=["cs"]) == {SOFT}
    assert found(pipeline, "ice", authors=["okonkwo"], categories=["cs.CV"]) == set()


def test_bm25_never_returns_a_paper_outside_the_filters(pipeline: Pipeline) -> None:
    query = "glacier crevasse"
    lexical = pipeline.retriever.lexical
    assert lexical is not None
    # Unfiltered, the glacier paper is the best lexical match by far.
    assert lexical.search(query, 5)[0][0] == GLACIER
    filters = Filters.parse(year="..2022")
    assert lexical.search_filtered(query, ALL, filters) == []  # no other paper says "crevasse"
    ranked, dense, lexical_scores, _ = pipeline.retriever.rank(query, ALL, filters=filters)
    assert GLACIER not in {pid for pid, _ in ranked} | set(dense) | set(lexical_scores)
    # A filter that lets it through keeps its BM25 signal.
    kept = pipeline.retriever.search(query, 3, filters=Filters.parse(authors=["wrobel"]))
    assert kept[0].paper_id == GLACIER and kept[0].lexical is not None


def test_only_lexical_candidates_pass_the_filter(pipeline: Pipeline) -> None:
    lexical = pipeline.retriever.lexical
    assert lexical is not None
    filters = Filters.parse(categories=["cs"], year="2020..")
    hits = lexical.search_filtered("glacier speech transcription images", ALL, filters)
    assert {pid for pid, _ in hits} == {GLACIER, SPEECH}


# The command line ---------------------------------------------------------------------


def test_search_with_filters_cli(filters_home: Path) -> None:
    result = run_cli("search", "glacier ice", "--author", "wrobel", "--year", "2022..2023")
    assert result.returncode == 0, result.stderr
    titles = sorted(line.split("  ")[1] for line in result.stdout.splitlines())
    assert titles == [
        "Glacier Crevasse Segmentation with Sparse Vision Transformers",
        "Ice Sheet Melt Forecasting with Graph Neural Networks",
    ]


def test_no_match_is_a_clear_exit_0(filters_home: Path) -> None:
    result = run_cli("search", "glacier", "--author", "nobody", "--category", "cs")
    assert result.returncode == 0
    assert result.stdout == "No papers match the filters --author nobody --category cs.\n"
    asked = run_cli("ask", "How are crevasses found?", "--backend", "none", "--year", "1990")
    assert asked.returncode == 0
    assert asked.stdout.splitlines() == [
        "The abstracts do not say.",
        "No papers match the filters --year 1990.",
    ]


def test_ask_sources_show_stored_metadata(filters_home: Path) -> None:
    result = run_cli(
        "ask",
        "How are glacier crevasses segmented in aerial photographs?",
        "--backend",
        "none",
        "--year",
        "2022..",
        "--source",
        "arxiv.jsonl",
        "--source",
        "refs.bib",
    )
    assert result.returncode == 0, result.stderr
    sources = result.stdout.split("\nSources:\n", 1)[1].splitlines()
    assert sources[0] == (
        "  [1] Glacier Crevasse Segmentation with Sparse Vision Transformers. "
        "Lena Hintermann, Tomasz Wrobel, 2023, arXiv:2301.02222 (arxiv.jsonl)"
    )
    assert (
        "Ice Sheet Melt Forecasting with Graph Neural Networks. Tomasz Wrobel, Marta Okonkwo, "
        "2022, Proceedings of the Conference on Climate Informatics, doi:10.5555/cci.2022_17 "
        "(refs.bib)"
    ) in result.stdout


def test_json_sources_carry_the_stored_metadata(filters_home: Path) -> None:
    result = run_cli(
        "ask",
        "How are glacier crevasses segmented in aerial photographs?",
        "--backend",
        "none",
        "--year",
        "2022..",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    by_title = {s["title"]: s for s in json.loads(result.stdout)["retrieved"]}
    arxiv = by_title["Glacier Crevasse Segmentation with Sparse Vision Transformers"]
    assert (arxiv["year"], arxiv["external_id"], arxiv["categories"], arxiv["doi"]) == (
        2023,
        "2301.02222",
        ["cs.CV"],
        None,
    )
    bib = by_title["Ice Sheet Melt Forecasting with Graph Neural Networks"]
    assert (bib["year"], bib["venue"], bib["doi"], bib["bibtex_key"]) == (
        2022,
        "Proceedings of the Conference on Climate Informatics",
        "10.5555/cci.2022_17",
        "wrobel2022ice",
    )


def test_chat_applies_filters_to_every_question(filters_home: Path) -> None:
    questions = "/filters\nHow are glacier crevasses segmented?\nWhat about speech recognition?\n"
    result = run_cli(
        "chat", "--backend", "none", "--author", "okonkwo", "--year", "..2022", input=questions
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Filters: --year ..2022 --author okonkwo\n")
    assert "Every question is searched with the filters --year ..2022 --author okonkwo." in (
        result.stderr
    )
    assert "Glacier Crevasse" not in result.stdout and "Alpine Dialects" not in result.stdout


# BibTeX ---------------------------------------------------------------------------------


def _parsed(text: str) -> dict[str, dict[str, str]]:
    library = parse_string(text)
    assert not [b for b in library.blocks if isinstance(b, ParsingFailedBlock)]
    return {e.key: {f.key: str(f.value) for f in e.fields} for e in library.entries}


def test_search_bibtex_round_trips(filters_home: Path, tmp_path: Path) -> None:
    result = run_cli("search", "ice crops", "--source", "refs.bib", "--format", "bibtex")
    assert result.returncode == 0, result.stderr
    entries = _parsed(result.stdout)
    assert set(entries) == {"wrobel2022ice", "nunez2019sparse"}
    ice = entries["wrobel2022ice"]
    assert ice["title"] == "Ice Sheet Melt Forecasting with Graph Neural Networks"
    assert ice["author"] == "Tomasz Wrobel and Marta Okonkwo"
    assert (ice["year"], ice["doi"]) == ("2022", "10.5555/cci.2022_17")
    assert ice["booktitle"] == "Proceedings of the Conference on Climate Informatics"
    assert entries["nunez2019sparse"]["journal"] == "Journal of Agricultural Data Science"
    # Read back by the ingest's own reader, the entries give the same papers.
    out = tmp_path / "out.bib"
    out.write_text(result.stdout, encoding="utf-8")
    papers = {p.bibtex_key: p for p in parse_bibtex(out, LoadReport())}
    crop = papers["nunez2019sparse"]
    title = "Sparse Regression & Feature Selection for 100% Interpretable Crop Yield Models"
    assert crop.title == title
    assert crop.authors == ("José Núñez",) and crop.year == 2019
    assert "by 18% against" in papers["wrobel2022ice"].abstract


def test_ask_bibtex_prints_only_the_cited_papers(filters_home: Path) -> None:
    result = run_cli(
        "ask",
        "How are glacier crevasses segmented in aerial photographs?",
        "--backend",
        "none",
        "--author",
        "hintermann",
        "--format",
        "bibtex",
    )
    assert result.returncode == 0, result.stderr
    entries = _parsed(result.stdout)
    assert list(entries) == ["hintermann2023glacier"]
    glacier = entries["hintermann2023glacier"]
    assert (glacier["eprint"], glacier["archivePrefix"], glacier["primaryClass"]) == (
        "2301.02222",
        "arXiv",
        "cs.CV",
    )
    assert "Extractive answer" in result.stderr  # the answer itself goes to stderr


def test_json_and_bibtex_do_not_combine(tmp_path: Path) -> None:
    result = run_cli("search", "x", "--json", "--format", "bibtex", ASSISTANT_HOME=str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.startswith("Error: --json and --format bibtex cannot be combined.")


def _hit(**fields: object) -> PaperHit:
    base: dict[str, object] = {
        "paper_id": "t:1",
        "title": "T",
        "score": 1.0,
        "abstract": "Some abstract.",
        "source_files": ("f",),
        "dates": (),
        "external_id": None,
        "authors": (),
        "best_chunk": "",
    }
    return PaperHit(**{**base, **fields})  # type: ignore[arg-type]


def test_special_characters_survive_the_round_trip(tmp_path: Path) -> None:
    nasty = r"Costs {50%} & $5 #1 a_b ~x back\slash {nested {braces}}"
    stray = "A stray } brace { and ^ caret"
    hits = [
        _hit(title=nasty, abstract=nasty, authors=("Ann Smith and Sons", "Ö. Ünal"), year=2020),
        _hit(paper_id="t:2", title="The Same Key", authors=("Ann Smith and Sons",), year=2020),
        _hit(paper_id="t:3", title="The Same Key", authors=("Ann Smith and Sons",), year=2020),
        _hit(paper_id="t:4", title=stray, abstract=stray, bibtex_key="odd key,{x}"),
    ]
    text = bibliography(hits)
    entries = _parsed(text)
    assert list(entries) == ["sons2020costs", "sons2020same", "sons2020samea", "oddkeyx"]
    assert entries["oddkeyx"]["title"] == (
        r"A stray \textbraceright{} brace \textbraceleft{} and \textasciicircum{} caret"
    )
    out = tmp_path / "nasty.bib"
    out.write_text(text, encoding="utf-8")
    report = LoadReport()
    papers = list(parse_bibtex(out, report))
    assert report.problems == []
    assert papers[0].title == nasty and papers[0].abstract == nasty
    assert papers[0].authors == ("Ann Smith and Sons", "Ö. Ünal")
    assert escape("a_b") == r"a\_b"


# Indexes built before filters ----------------------------------------------------------


@pytest.fixture
def old_style_home(filters_index: Path, tmp_path: Path) -> Iterator[Path]:
    """A copy of the index with one paper written as an ingest before filters wrote it."""
    home = tmp_path / "old-home"
    shutil.copytree(filters_index, home)
    old = Pipeline(load_settings(home=home))
    old.store.add_chunks(
        [chunk_id("arxiv:0704.00001", 0)],
        np.full((1, 384), 0.05, dtype=np.float32),
        ["Old glacier paper."],
        [
            {
                "paper_id": "arxiv:0704.00001",
                "chunk_index": 0,
                "n_chunks": 1,
                "title": "An Old Glacier Paper",
                "content_hash": "x",
                "source_files": ["old.jsonl"],
                "authors": "Old Author",
                "categories": ["cs.LG"],
                "year": 2007,
                "abstract": "Old glacier paper.",
            }
        ],
    )
    yield home


def test_old_index_warns_and_hints_rebuild(old_style_home: Path) -> None:
    pipeline = Pipeline(load_settings(home=old_style_home))
    assert stale_warning(pipeline.store, Filters.parse(year="2007")) is None  # year was stored
    warning = stale_warning(pipeline.store, Filters.parse(authors=["author"]))
    assert warning is not None and warning.startswith("1 of ")
    result = run_cli("search", "glacier", "--author", "old", ASSISTANT_HOME=str(old_style_home))
    assert result.returncode == 0
    assert result.stdout == "No papers match the filters --author old.\n"
    assert "never match them. Rebuild the index to include them: assistant ingest --rebuild" in (
        result.stderr
    )
