"""The index in a local folder: Chroma's files and the BM25 index side by side."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

from assistant.index.base import REBUILD, fingerprint_mismatch, lexical_path, read_lexical
from assistant.index.sqlite import open_sqlite

if TYPE_CHECKING:
    from assistant.diagnosis import Check
    from assistant.index.lexical import LexicalIndex
    from assistant.index.store import Fingerprint, Store
    from assistant.settings import Settings


class LocalIndex:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @property
    def location(self) -> str:
        return str(self.settings.store_dir)

    def open_store(self, fingerprint: Fingerprint, *, create: bool, rebuild: bool) -> Store:
        from assistant.index.rebuild import RebuildFiles
        from assistant.index.store import Store

        name = self.settings.collection
        return Store.open(
            self.settings.store_dir,
            name,
            fingerprint,
            create=create,
            rebuild=RebuildFiles(name, lexical_path(self.settings)) if rebuild else None,
        )

    def reading_lexical(self, store: Store) -> LexicalIndex:
        return read_lexical(self.settings, store)

    def writing_lexical(self, store: Store, *, rebuild: bool) -> LexicalIndex:
        from assistant.index.lexical import LexicalIndex

        if rebuild:
            assert store.rebuild is not None
            return LexicalIndex.emptied(store.rebuild.staging_lexical)
        return LexicalIndex(lexical_path(self.settings))

    def ingested(self, store: Store, *, changed: bool, rebuild: bool) -> None:
        return None

    def health(self, expected: Fingerprint) -> Check:
        from assistant.diagnosis import Check
        from assistant.index.chroma_files import has_store
        from assistant.index.locking import store_access

        if not has_store(self.settings.store_dir):
            return Check(
                "index", False, f"no index at {self.settings.store_dir}", "Run: assistant ingest"
            )
        # Inside the access lock, so that no ingest rewrites the files while they are read.
        with store_access(self.settings.store_dir):
            return self._health(expected)

    def _health(self, expected: Fingerprint) -> Check:
        from assistant.diagnosis import Check
        from assistant.index.chroma_files import read_summary, sqlite_problem, store_damage
        from assistant.index.locking import ingest_running

        # Deep: SQLite's quick_check, and every vector and link of the HNSW files.
        damage = store_damage(self.settings.store_dir, self.settings.collection, deep=True)
        if damage is not None:
            return Check("index", False, f"the index is damaged ({damage.detail})", REBUILD)
        try:
            summary = read_summary(self.settings.store_dir, self.settings.collection)
        except sqlite3.DatabaseError as exc:
            return Check("index", False, f"the index is damaged ({exc})", REBUILD)
        if summary is None:
            return Check(
                "index",
                False,
                f"no collection {self.settings.collection!r}",
                "Run: assistant ingest",
            )
        meta, count, papers = summary.metadata, summary.chunks, summary.papers
        mismatch = fingerprint_mismatch(expected, meta)
        if mismatch:
            return mismatch
        lexical = lexical_path(self.settings)
        problem = sqlite_problem(lexical) if lexical.is_file() else f"{lexical.name} is missing"
        if problem is None:
            try:
                con = open_sqlite(lexical, "ro")
                try:
                    in_bm25 = con.execute("SELECT COUNT(*) FROM papers").fetchone()[0]
                finally:
                    con.close()
            except sqlite3.DatabaseError as exc:
                problem = str(exc)
        if problem is not None:
            return Check(
                "index",
                False,
                f"the lexical (BM25) index {lexical} is missing or damaged ({problem})",
                "Run: assistant ingest  (it fills in what is missing), "
                "or assistant ingest --rebuild",
            )
        detail = (
            f"{count} chunks and {in_bm25} papers in the BM25 index at {self.settings.store_dir}, "
            "settings match, files whole"
        )
        if in_bm25 != papers:
            if ingest_running(self.settings.store_dir):
                return Check("index", True, detail + " (an ingest is running)")
            return Check(
                "index",
                False,
                f"the BM25 index has {in_bm25} papers but the vector index {papers}",
                "An ingest was interrupted, or a file was replaced: run the same ingest again "
                "to complete it, or assistant ingest --rebuild",
            )
        return Check("index", True, detail)
