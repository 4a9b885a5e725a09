"""The Python API's calls that no CLI command makes on its own (the MCP server's
`get_paper` and `list_sources`), on the real bundled index."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import DATA

from assistant import Assistant
from assistant.bibliography import bibliography
from assistant.errors import ExitCode, StoreError, UsageError


def test_paper_is_the_stored_record_of_a_search_hit(bundled_home: Path) -> None:
    assistant = Assistant()
    hit = assistant.search("wavelet token mixing", k=1)[0]
    paper = assistant.paper(hit.paper_id)
    assert paper.paper_id == hit.paper_id
    assert (paper.title, paper.abstract, paper.authors) == (hit.title, hit.abstract, hit.authors)
    assert (paper.year, paper.source_files, paper.dates) == (hit.year, hit.source_files, hit.dates)
    record = paper.as_json()
    assert record["title"] == hit.title and record["abstract"] == hit.abstract
    # A stored paper and the hit it came from make the same BibTeX entry.
    assert bibliography([paper]) == bibliography([hit])
    assert bibliography([paper]).startswith("@misc{")


def test_an_unknown_paper_id_names_the_fix(bundled_home: Path) -> None:
    with pytest.raises(UsageError) as caught:
        Assistant().paper("arxiv:0000.00000")
    assert caught.value.message == "No paper with id 'arxiv:0000.00000' in the index."
    assert caught.value.hint is not None and "search" in caught.value.hint
    assert caught.value.exit_code == ExitCode.USAGE


def test_contents_lists_each_source_file_with_its_papers(bundled_home: Path) -> None:
    assistant = Assistant()
    contents = assistant.contents()
    store = assistant.pipeline.store
    assert contents.papers == store.paper_count() > 0
    assert contents.chunks == store.chunk_count() >= contents.papers
    assert contents.collection == assistant.settings.collection
    assert contents.location == str(assistant.settings.store_dir)
    files = dict(contents.source_files)
    assert set(files) == {p.name for p in DATA.glob("*.txt")}
    # A paper read from several files counts in each.
    assert sum(files.values()) >= contents.papers
    counts = [count for _, count in contents.source_files]
    assert counts == sorted(counts, reverse=True)
    assert contents.as_json()["source_files"][0] == {
        "name": contents.source_files[0][0],
        "papers": counts[0],
    }


def test_without_an_index_contents_says_how_to_build_one(isolated_home: Path) -> None:
    with pytest.raises(StoreError) as caught:
        Assistant().contents()
    assert caught.value.message.startswith("No index found at ")
    assert caught.value.hint is not None and "assistant ingest" in caught.value.hint
