"""This client's BM25 copy of the papers on a Chroma server.

Each paper's first chunk on the server carries its title, abstract and filter
metadata, so a client rebuilds its local BM25 index from them whenever its copy
is behind the server's revision token (see `index.server`).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from assistant.errors import StoreError

if TYPE_CHECKING:
    from assistant.index.lexical import LexicalIndex
    from assistant.index.server import ServerStore


def _revision_file(lexical_path: Path) -> Path:
    return lexical_path.with_name(lexical_path.name + ".revision")


def lexical_is_current(store: ServerStore, lexical_path: Path) -> bool:
    """Whether the local BM25 copy matches the server's papers."""
    from assistant.index.lexical import LexicalIndex

    marker = _revision_file(lexical_path)
    if not lexical_path.is_file() or not marker.is_file():
        return False
    if marker.read_text(encoding="ascii").strip() != store.revision():
        return False
    papers = store.paper_count()
    try:
        lexical = LexicalIndex.for_reading(lexical_path)
        try:
            return lexical.count() == papers
        finally:
            lexical.close()
    except StoreError:
        return False  # a damaged local copy is simply made again


def copy_lexical(store: ServerStore, lexical_path: Path) -> LexicalIndex:
    """Rebuild the local BM25 index from the titles and abstracts on the server."""
    from assistant.index.lexical import LexicalIndex

    revision = store.revision()
    if store.paper_count():
        print(
            f"Copying the BM25 index from the Chroma server at {store.url} ...",
            file=sys.stderr,
            flush=True,
        )
    from assistant.index.records import paper_from_record
    from assistant.retrieval.filters import facet_rows

    lexical = LexicalIndex.emptied(lexical_path)
    batch: list[tuple[str, str, str]] = []
    facets: list[tuple[str, list[tuple[str, str | int]]]] = []
    for meta in store.iter_paper_records():
        paper = paper_from_record(meta)
        batch.append((paper.paper_id, paper.title, paper.abstract))
        # The filter facets too, from the same stored record ingest wrote them
        # from, so filtered searches keep their BM25 half in server mode.
        facets.append(
            (
                paper.paper_id,
                facet_rows(
                    paper.year,
                    paper.authors,
                    paper.categories,
                    paper.source_files,
                    paper.collections,
                    paper.tags,
                ),
            )
        )
        if len(batch) >= 500:
            lexical.upsert(batch)
            lexical.upsert_facets(facets)
            batch, facets = [], []
    lexical.upsert(batch)
    lexical.upsert_facets(facets)
    record_revision(lexical_path, revision)
    return lexical


def record_revision(lexical_path: Path, revision: str) -> None:
    _revision_file(lexical_path).write_text(revision + "\n", encoding="ascii")


def refresh_lexical(store: ServerStore, lexical_path: Path) -> None:
    """Bring the local BM25 copy up to the server's revision, unless this home is busy.

    An ingest running from this same home holds the local lock and updates the
    copy itself; a search then ranks with what is there.
    """
    from assistant.index.locking import IngestLockedError, ingest_lock

    if lexical_is_current(store, lexical_path):
        return
    try:
        with ingest_lock(store.path):
            copy_lexical(store, lexical_path).close()
    except IngestLockedError:
        return
