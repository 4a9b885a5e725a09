"""Ingest and search with a real persistent Chroma and the real MiniLM model."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.domain import Paper
from assistant.embedding.embedder import MiniLMEmbedder
from assistant.errors import StoreError
from assistant.index.chunking import ChunkSpec, chunk_papers, split_sentences
from assistant.index.store import Fingerprint, Store
from assistant.pipeline import Pipeline
from assistant.readers import load_abstracts
from assistant.settings import load_settings
from tests.conftest import DATA


def _pipeline() -> Pipeline:
    return Pipeline(load_settings())


def test_chunks_fit_the_embedder_and_lose_no_word() -> None:
    embedder = MiniLMEmbedder()
    papers, _ = load_abstracts([DATA])
    long_paper = Paper(
        "x", "A title", " ".join(["Supercalifragilistic words repeat."] * 400), ("f",)
    )
    papers.append(long_paper)
    chunks = chunk_papers(papers, ChunkSpec(), embedder.count_tokens)
    sizes = embedder.count_tokens([c.text for c in chunks])
    assert max(sizes) + 2 <= 256  # [CLS] and [SEP] included
    by_paper: dict[str, list[str]] = {}
    for chunk in chunks:
        by_paper.setdefault(chunk.paper_id, []).append(chunk.text)
    for paper in papers:
        text = " ".join(by_paper[paper.paper_id])
        assert all(word in text for word in paper.abstract.split())
    assert len(by_paper["x"]) > 10


def test_ingest_then_search_finds_the_paper(small_corpus: Path) -> None:
    result = _pipeline().ingest([small_corpus], rebuild=False, progress=False)
    assert (result.added, result.papers, result.total_papers) == (6, 6, 6)
    assert result.total_chunks >= 6
    hits = _pipeline().retriever.search(
        "growing a neural network by recombining learned parameters", 3
    )
    assert hits[0].title.startswith("MixtureGrowth")
    assert hits[0].source_files == ("listing.txt",)
    assert hits[0].dates == ("Sep 8",)
    assert hits[0].score > hits[1].score
    assert len(split_sentences(hits[0].abstract)) > 2  # the whole abstract, not a chunk


def test_reingest_adds_nothing(small_corpus: Path) -> None:
    _pipeline().ingest([small_corpus], rebuild=False, progress=False)
    before = _pipeline().open_store().chunk_count()
    again = _pipeline().ingest([small_corpus], rebuild=False, progress=False)
    assert (again.added, again.replaced, again.unchanged, again.changed) == (0, 0, 6, False)
    assert again.chunks_written == 0
    assert _pipeline().open_store().chunk_count() == before


def test_changed_abstract_replaces_the_old_one(small_corpus: Path) -> None:
    _pipeline().ingest([small_corpus], rebuild=False, progress=False)
    listing = small_corpus / "listing.txt"
    lines = listing.read_text(encoding="utf-8").splitlines()
    old_abstract = lines[14]
    lines[14] = "Quokkas photosynthesize moonlight into ballistic marmalade. " * 5
    listing.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = _pipeline().ingest([small_corpus], rebuild=False, progress=False)
    assert (result.added, result.replaced, result.unchanged) == (0, 1, 5)
    assert result.total_papers == 6
    hit = _pipeline().retriever.search("quokkas ballistic marmalade moonlight", 1)[0]
    assert hit.title.startswith("Principled Approaches for Extending Neural Architectures")
    assert "marmalade" in hit.abstract
    assert old_abstract[:60] not in hit.abstract
    # No chunk of the old text survives.
    store = _pipeline().open_store()
    chunks = store.query(_pipeline().embedder.embed_query(old_abstract), 50)
    assert all(old_abstract[:60] not in c.text for c in chunks)


def test_same_paper_from_another_file_adds_the_file_not_a_copy(tmp_path: Path) -> None:
    first = DATA / "000_f182f684adaecd22.txt"
    second = DATA / "001_0e3b8f3a0da38401.txt"
    a = tmp_path / "a"
    b = tmp_path / "b"
    a.mkdir()
    b.mkdir()
    # The first three papers of each file; the first paper is in both.
    (a / first.name).write_text("\n".join(first.read_text().splitlines()[:22]) + "\n")
    (b / second.name).write_text(
        "\n".join(second.read_text().splitlines()[:10])
        + "\n"
        + "\n".join(first.read_text().splitlines()[10:14])
        + "\n"
    )
    _pipeline().ingest([a], rebuild=False, progress=False)
    result = _pipeline().ingest([b], rebuild=False, progress=False)
    assert result.sources_updated == 1
    assert result.total_papers == 3
    hit = _pipeline().retriever.search("parameterized neural audio effects knobs", 1)[0]
    assert hit.source_files == (first.name, second.name)
    assert hit.dates == ("Mar 12", "Mar 13")


def test_mismatched_embedder_is_refused(small_corpus: Path) -> None:
    pipeline = _pipeline()
    pipeline.ingest([small_corpus], rebuild=False, progress=False)
    other = Fingerprint("some/other-model", pipeline.chunk_spec.describe())
    with pytest.raises(StoreError) as info:
        Store.open(pipeline.settings.store_dir, pipeline.settings.collection, other)
    assert "built with other settings" in info.value.message
    assert "some/other-model" in info.value.message
    assert info.value.hint == "Rebuild it with: assistant ingest --rebuild"
    assert info.value.exit_code == 3


def test_rebuild_starts_afresh(small_corpus: Path) -> None:
    _pipeline().ingest([small_corpus], rebuild=False, progress=False)
    result = _pipeline().ingest([small_corpus], rebuild=True, progress=False)
    assert (result.added, result.unchanged) == (6, 0)


def test_missing_index_is_a_clear_error() -> None:
    with pytest.raises(StoreError) as info:
        _pipeline().open_store()
    assert info.value.message.startswith("No index found at")


def test_query_vectors_match_document_vectors() -> None:
    embedder = MiniLMEmbedder()
    text = "Layer normalization for recurrent networks"
    query = embedder.embed_query(text)
    doc = embedder.embed_documents([text])[0]
    assert len(query) == 384
    assert abs(sum(q * d for q, d in zip(query, doc, strict=True)) - 1.0) < 1e-5


def test_crash_between_delete_and_write_leaves_no_stale_lexical_row(small_corpus: Path) -> None:
    pipeline = _pipeline()
    pipeline.ingest([small_corpus], rebuild=False, progress=False)
    listing = small_corpus / "listing.txt"
    lines = listing.read_text(encoding="utf-8").splitlines()
    title = lines[12]
    lines[14] = "Quokkas photosynthesize moonlight into ballistic marmalade. " * 5
    listing.write_text("\n".join(lines) + "\n", encoding="utf-8")
    # What an ingest killed right after deleting the old chunks leaves behind.
    from assistant.readers.identifier import title_id

    pipeline.open_store().delete_papers([title_id(title)])
    result = _pipeline().ingest([small_corpus], rebuild=False, progress=False)
    assert (result.added, result.unchanged) == (1, 5)
    lexical = _pipeline().open_lexical()
    assert lexical.search("marmalade quokkas", 5)[0][0] == title_id(title)
    assert lexical.count() == 6


def test_streamed_steps_merge_a_paper_seen_again_in_a_later_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import assistant.index.ingest

    # Two papers per step: the repeat of the first paper arrives steps later,
    # after it is stored, and must only add its file, not a second copy.
    monkeypatch.setattr(assistant.index.ingest, "_PAPERS_PER_STEP", 2)
    lines = (DATA / "000_f182f684adaecd22.txt").read_text(encoding="utf-8").splitlines()
    pairs = [line for line in lines[10:] if line.strip()][:10]  # five papers
    folder = tmp_path / "two"
    folder.mkdir()
    (folder / "a.txt").write_text("\n".join(pairs) + "\n", encoding="utf-8")
    (folder / "b.txt").write_text("\n".join(pairs[:2] + pairs[:2]) + "\n", encoding="utf-8")
    result = _pipeline().ingest([folder], rebuild=False, progress=False)
    assert (result.entries, result.papers, result.added) == (7, 5, 5)
    assert result.sources_updated == 1
    assert result.total_papers == 5
    first_title = pairs[0]
    hit = _pipeline().retriever.search(first_title, 1)[0]
    assert hit.title == first_title
    assert hit.source_files == ("a.txt", "b.txt")
