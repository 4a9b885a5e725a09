"""Ingest: read abstracts, chunk, embed in batches, write to the store.

Idempotent: a paper whose content is unchanged is not embedded again; a paper
whose abstract changed replaces its old chunks; a paper seen in one more file
only has its list of source files updated.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from assistant.domain import LoadReport, Paper, Problem
from assistant.embedding.embedder import Embedder
from assistant.index.chunking import ChunkSpec, chunk_papers
from assistant.index.lexical import LexicalIndex
from assistant.index.records import chunk_metadata
from assistant.index.store import Store, StoredPaper, chunk_id
from assistant.readers import expand_paths, format_of, iter_papers
from assistant.retrieval.filters import facet_rows

# Papers per embed-and-write step: big enough for efficient batches, small
# enough that a crash loses little work and memory stays flat.
_PAPERS_PER_STEP = 256


@dataclass
class IngestResult:
    files: int = 0
    entries: int = 0
    papers: int = 0
    added: int = 0
    replaced: int = 0
    unchanged: int = 0
    sources_updated: int = 0
    # Papers of a library read whole (Zotero) that are no longer in it.
    removed: int = 0
    removed_from: tuple[str, ...] = ()
    chunks_written: int = 0
    seconds: float = 0.0
    total_papers: int = 0
    total_chunks: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.replaced or self.sources_updated or self.removed)


def _merge_sources(stored: StoredPaper, paper: Paper) -> StoredPaper | None:
    """The stored record with the new files added, or None if nothing is new."""
    files = tuple(dict.fromkeys(stored.source_files + paper.source_files))
    dates = tuple(dict.fromkeys(stored.dates + paper.dates))
    if files == stored.source_files and dates == stored.dates:
        return None
    return StoredPaper(stored.paper_id, stored.content_hash, files, dates, stored.chunks)


def _write(store: Store, embedder: Embedder, papers: Sequence[Paper], spec: ChunkSpec) -> int:
    chunks = chunk_papers(papers, spec, embedder.count_tokens)
    by_id = {p.paper_id: p for p in papers}
    counts: dict[str, int] = {}
    for c in chunks:
        counts[c.paper_id] = counts.get(c.paper_id, 0) + 1
    # Each paper's first chunk carries its content hash, which is how a later
    # ingest knows the paper is stored: write it last, so that a crash never
    # leaves a hash on a paper whose other chunks are missing.
    chunks.sort(key=lambda c: c.index == 0)
    vectors = embedder.embed_documents([c.text for c in chunks])
    store.add_chunks(
        [chunk_id(c.paper_id, c.index) for c in chunks],
        vectors,
        [c.text for c in chunks],
        [chunk_metadata(by_id[c.paper_id], c, counts[c.paper_id]) for c in chunks],
    )
    return len(chunks)


def ingest(
    paths: Iterable[Path],
    store: Store,
    embedder: Embedder,
    spec: ChunkSpec,
    lexical: LexicalIndex,
    *,
    progress: bool = True,
    limit: int | None = None,
    categories: Sequence[str] = (),
) -> IngestResult:
    """Bring the vector store and the lexical index up to date with `paths`.

    `limit` and `categories` select entries as in `corpus.iter_papers`.
    """
    from tqdm import tqdm

    started = time.perf_counter()
    paths = list(paths)
    report = LoadReport()
    result = IngestResult()
    seen: set[str] = set()
    estimate = estimate_entries(paths)
    bar = tqdm(
        # None: no total known (a database), so a count without a bar.
        total=(min(estimate, limit) if limit else estimate) or None,
        unit="paper",
        desc="Ingesting",
        file=sys.stderr,
        disable=not progress,
        dynamic_ncols=True,
    )
    try:
        # Streamed: a step of papers is read, embedded and written before the
        # next is read, so memory stays flat however large the input is.
        papers = iter_papers(paths, report, limit=limit, categories=categories)
        for step in _steps(papers, _PAPERS_PER_STEP):
            seen.update(step)
            _ingest_step(list(step.values()), store, embedder, spec, lexical, result)
            bar.update(len(step))
        bar.total = bar.n
        bar.refresh()
    finally:
        bar.close()
    _remove_gone(report, store, lexical, result)
    result.files = report.files
    result.entries = report.entries
    result.papers = len(seen)
    result.problems = list(report.problems)
    result.total_papers = store.paper_count()
    result.total_chunks = store.chunk_count()
    result.seconds = time.perf_counter() - started
    return result


def _remove_gone(
    report: LoadReport, store: Store, lexical: LexicalIndex, result: IngestResult
) -> None:
    """Remove the stored papers of each library read whole that it no longer holds
    (an item trashed or deleted in Zotero, or whose abstract was cleared)."""
    for name, read in report.whole.items():
        gone = [pid for pid in store.papers_from(name) if pid not in read]
        if gone:
            store.delete_papers(gone)
            lexical.delete(gone)
            result.removed += len(gone)
            result.removed_from += (name,)


def _steps(papers: Iterable[Paper], size: int) -> Iterator[dict[str, Paper]]:
    """Groups of `size` distinct papers; a paper seen twice in a group is merged."""
    step: dict[str, Paper] = {}
    for paper in papers:
        seen = step.get(paper.paper_id)
        step[paper.paper_id] = seen.merged_with(paper) if seen else paper
        if len(step) >= size:
            yield step
            step = {}
    if step:
        yield step


def _ingest_step(
    step: Sequence[Paper],
    store: Store,
    embedder: Embedder,
    spec: ChunkSpec,
    lexical: LexicalIndex,
    result: IngestResult,
) -> None:
    """Bring one group of papers up to date. A paper already stored by an
    earlier group (the same paper in a later file) only gains its sources."""
    stored = store.stored_papers([p.paper_id for p in step])
    fresh: list[Paper] = []
    stale: list[str] = []
    source_updates: dict[str, StoredPaper] = {}
    for paper in step:
        old = stored.get(paper.paper_id)
        if old is None:
            fresh.append(paper)
            result.added += 1
        elif old.content_hash != paper.content_hash:
            merged = _merge_sources(old, paper)
            files = merged.source_files if merged else old.source_files
            dates = merged.dates if merged else old.dates
            fresh.append(
                replace(
                    paper,
                    source_files=files,
                    dates=tuple(dict.fromkeys(paper.dates + dates)),
                )
            )
            stale.append(paper.paper_id)
            result.replaced += 1
        else:
            result.unchanged += 1
            merged = _merge_sources(old, paper)
            if merged is not None:
                source_updates[paper.paper_id] = merged
    if stale:
        store.delete_papers(stale)
    if fresh:
        result.chunks_written += _write(store, embedder, fresh, spec)
    # The lexical row follows the vectors; a paper whose row is missing
    # (an earlier ingest stopped between the two) gets it now.
    # Every paper whose chunks were just written gets its row rewritten too:
    # after a crash between deleting old chunks and writing new ones, the
    # paper looks new, and its old row must not survive.
    have = lexical.present([p.paper_id for p in step])
    written = {p.paper_id for p in fresh}
    lexical.upsert(
        (p.paper_id, p.title, p.abstract)
        for p in fresh + [p for p in step if p.paper_id not in have and p.paper_id not in written]
    )
    if source_updates:
        store.update_sources(source_updates)
        result.sources_updated += len(source_updates)
    # Filters on BM25 read these; rewritten for every paper seen, so that an
    # index made before them gains them and new source files are included.
    lexical.upsert_facets(
        (
            p.paper_id,
            facet_rows(
                p.year,
                p.authors,
                p.categories,
                _all_sources(stored.get(p.paper_id), p),
                p.collections,
                p.tags,
            ),
        )
        for p in step
    )


def _all_sources(stored: StoredPaper | None, paper: Paper) -> tuple[str, ...]:
    return tuple(dict.fromkeys((stored.source_files if stored else ()) + paper.source_files))


def estimate_entries(paths: Iterable[Path]) -> int:
    """A quick count of the entries in `paths`, for the progress bar's ETA.

    Counts lines (records, or title and abstract lines) without parsing, at
    disk speed; the bar's total is corrected when reading ends.
    """
    paths = list(paths)
    total = 0
    for path in expand_paths(paths, LoadReport()):
        fmt = format_of(path)
        entries = fmt.entries if fmt else "lines"
        if entries == "unknown":
            continue
        try:
            with path.open("rb") as handle:
                if entries == "at signs":
                    total += sum(line.lstrip().startswith(b"@") for line in handle)
                elif entries == "line pairs":
                    total += sum(1 for line in handle if line.strip()) // 2
                else:
                    total += sum(
                        block.count(b"\n") for block in iter(lambda: handle.read(1 << 20), b"")
                    )
        except OSError:
            continue  # reported when the file is read for real
    return total
