"""The lexical (BM25) index beside the Chroma store: SQLite FTS5, one row per paper.

FTS5 is in the standard library's sqlite3, persists in one file, updates
incrementally inside transactions, and ranks with BM25, so ingest keeps it in
step with the vector store paper by paper.

An FTS5 column cannot be indexed, so finding a paper by id in the FTS table
scans it: upserting a batch into a large index then cost a scan per paper
(68 s per 256 papers at 835k chunks). A plain table maps paper id to FTS rowid
with a primary key, and every lookup by id goes through it.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from assistant.errors import StoreError
from assistant.index.sqlite import open_sqlite, remove_sqlite_file
from assistant.retrieval.filters import FACET_TABLE, Filters

# Words that carry no topic; dropping them keeps OR queries selective and fast.
STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is
    it its itself just me more most my myself no nor not of off on once only or other our
    ours ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we
    were what when where which while who whom why will with would you your yours yourself
    yourselves also using use used via based show shows paper papers study studies propose
    proposed approach method methods""".split()  # noqa: SIM905
)
_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)
# Title matches count more than abstract matches.
TITLE_WEIGHT = 1.5
REBUILD = "Rebuild it with: assistant ingest --rebuild"
ROWIDS = "paper_rowids"


def lexical_file(store_dir: Path, collection: str) -> Path:
    """The BM25 index of `collection`, beside the vectors of a local store."""
    return store_dir / f"lexical-{collection}.sqlite3"


def query_terms(text: str) -> list[str]:
    seen: dict[str, None] = {}
    for token in _TOKEN.findall(text.lower()):
        if token not in STOPWORDS and (len(token) > 1 or token.isdigit()):
            seen.setdefault(token, None)
    return list(seen)


class LexicalIndex:
    """BM25 over titles and abstracts, keyed by paper id.

    `LexicalIndex(path)` creates the file if needed and is how ingest opens it;
    `for_reading` opens an existing one and changes nothing, so a missing or
    emptied file is reported instead of silently recreated empty.
    """

    def __init__(self, path: Path, *, create: bool = True) -> None:
        self.path = path
        try:
            if create:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._db = open_sqlite(path, "rwc", shared=True)
                # Readers (search, ask) keep reading while an ingest writes.
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute(
                    "CREATE VIRTUAL TABLE IF NOT EXISTS papers USING fts5("
                    "paper_id UNINDEXED, title, abstract, "
                    "tokenize = 'porter unicode61 remove_diacritics 2')"
                )
                self._ensure_rowids()
                self._db.commit()
            else:
                # mode=rw: never create a missing file.
                self._db = open_sqlite(path, "rw", shared=True)
                self._db.execute("SELECT 1 FROM papers LIMIT 1").fetchall()
            self._mapped = bool(
                self._db.execute(
                    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (ROWIDS,)
                ).fetchall()
            )
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"The lexical index {path} is damaged: {exc}", hint=REBUILD) from exc

    def _ensure_rowids(self) -> None:
        """Create the id -> rowid table, filled from the FTS rows of an older index."""
        exists = self._db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (ROWIDS,)
        ).fetchall()
        if not exists:
            self._db.execute(
                f"CREATE TABLE {ROWIDS} (paper_id TEXT PRIMARY KEY, fts_rowid INTEGER NOT NULL)"
            )
            self._db.execute(f"INSERT INTO {ROWIDS} SELECT paper_id, rowid FROM papers")

    def _rowids(self, paper_ids: Sequence[str]) -> list[int]:
        """FTS rowids of those of `paper_ids` that are indexed."""
        found: list[int] = []
        for start in range(0, len(paper_ids), 500):
            batch = list(paper_ids[start : start + 500])
            marks = ",".join("?" * len(batch))
            if self._mapped:
                sql = f"SELECT fts_rowid FROM {ROWIDS} WHERE paper_id IN ({marks})"
            else:  # an index opened read-only before the table existed
                sql = f"SELECT rowid FROM papers WHERE paper_id IN ({marks})"
            found.extend(int(row[0]) for row in self._db.execute(sql, batch))
        return found

    @classmethod
    def for_reading(cls, path: Path) -> LexicalIndex:
        """Open an existing index.

        Raises:
            StoreError: the file is missing or damaged.
        """
        if not path.is_file():
            raise StoreError(
                f"The lexical (BM25) index {path} is missing.",
                hint="Run the ingest again (it fills in what is missing), or " + REBUILD.lower(),
            )
        return cls(path, create=False)

    @classmethod
    def emptied(cls, path: Path) -> LexicalIndex:
        """An empty index for a rebuild: its rows deleted, or the file made anew if damaged."""
        try:
            index = cls(path)
            try:
                index.clear()
                return index
            except sqlite3.DatabaseError:
                index.close()
        except StoreError:
            pass
        remove_sqlite_file(path)
        return cls(path)

    def _rows(self, sql: str, params: Sequence[object] = ()) -> list[Any]:
        try:
            return self._db.execute(sql, params).fetchall()
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"The lexical index {self.path} cannot be searched: {exc}", hint=REBUILD
            ) from exc

    def is_empty(self) -> bool:
        return not self._rows("SELECT 1 FROM papers LIMIT 1")

    def require_rows(self, chunks: int, ingest_running: Callable[[], bool]) -> None:
        """Refuse an empty BM25 index beside a filled vector index (outside an ingest).

        Raises:
            StoreError: the lexical file lost its rows (or was replaced by an empty one).
        """
        if chunks and self.is_empty() and not ingest_running():
            raise StoreError(
                f"The lexical (BM25) index {self.path} is empty, but the vector index holds "
                f"{chunks} chunks.",
                hint=REBUILD,
            )

    def close(self) -> None:
        self._db.close()

    def clear(self) -> None:
        with self._db:
            self._db.execute("DELETE FROM papers")
            self._db.execute(f"DELETE FROM {ROWIDS}")

    def _delete_rows(self, paper_ids: Sequence[str]) -> None:
        rowids = self._rowids(paper_ids)
        self._db.executemany("DELETE FROM papers WHERE rowid = ?", [(r,) for r in rowids])
        self._db.executemany(f"DELETE FROM {ROWIDS} WHERE paper_id = ?", [(p,) for p in paper_ids])

    def upsert(self, papers: Iterable[tuple[str, str, str]]) -> None:
        """(paper_id, title, abstract) rows; an existing paper is replaced."""
        rows = list({r[0]: r for r in papers}.values())
        with self._db:
            self._delete_rows([r[0] for r in rows])
            for row in rows:
                cursor = self._db.execute(
                    "INSERT INTO papers (paper_id, title, abstract) VALUES (?, ?, ?)", row
                )
                self._db.execute(
                    f"INSERT INTO {ROWIDS} (paper_id, fts_rowid) VALUES (?, ?)",
                    (row[0], cursor.lastrowid),
                )

    def delete(self, paper_ids: Sequence[str]) -> None:
        """Remove papers, with their filter rows."""
        with self._db:
            self._delete_rows(paper_ids)
            if self.has_facets():
                self._db.executemany(
                    f"DELETE FROM {FACET_TABLE} WHERE paper_id = ?", [(p,) for p in paper_ids]
                )

    def present(self, paper_ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        table = ROWIDS if self._mapped else "papers"
        for start in range(0, len(paper_ids), 500):
            batch = list(paper_ids[start : start + 500])
            marks = ",".join("?" * len(batch))
            found.update(
                str(row[0])
                for row in self._rows(
                    f"SELECT paper_id FROM {table} WHERE paper_id IN ({marks})", batch
                )
            )
        return found

    @staticmethod
    def _phrase(term: str) -> str:
        return '"' + term.replace('"', '""') + '"'

    def document_frequency(self, term: str) -> int:
        """How many papers contain `term` (stemmed as the index stems)."""
        if not _TOKEN.search(term):
            return 0
        rows = self._rows("SELECT COUNT(*) FROM papers WHERE papers MATCH ?", (self._phrase(term),))
        return int(rows[0][0])

    def terms_in(self, paper_id: str, terms: Sequence[str]) -> set[str]:
        """Which of `terms` occur in the paper's title or abstract."""
        try:
            rowids = self._rowids([paper_id])
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"The lexical index {self.path} cannot be searched: {exc}", hint=REBUILD
            ) from exc
        if not rowids:
            return set()
        return {
            term
            for term in terms
            if self._rows(
                "SELECT 1 FROM papers WHERE papers MATCH ? AND rowid = ?",
                (self._phrase(term), rowids[0]),
            )
        }

    def count(self) -> int:
        return int(self._rows("SELECT COUNT(*) FROM papers")[0][0])

    def search(
        self, text: str, n: int, title_weight: float = TITLE_WEIGHT
    ) -> list[tuple[str, float]]:
        """Best papers for `text` with their BM25 scores (higher is better)."""
        terms = query_terms(text)
        if not terms:
            return []
        match = " OR ".join(self._phrase(t) for t in terms)
        rows = self._rows(
            "SELECT paper_id, -bm25(papers, 0.0, ?, 1.0) AS score FROM papers "
            "WHERE papers MATCH ? ORDER BY bm25(papers, 0.0, ?, 1.0) LIMIT ?",
            (title_weight, match, title_weight, n),
        )
        return [(str(pid), float(score)) for pid, score in rows]

    # Filters ---------------------------------------------------------------
    # A side table of what filters match on (year, author words, categories,
    # source files), one row per (paper, kind, value); `filters.Filters.sql`
    # reads it. Made on first write, so an index built before it still opens.

    def _ensure_facets(self) -> None:
        self._db.execute(
            f"CREATE TABLE IF NOT EXISTS {FACET_TABLE} (paper_id TEXT NOT NULL, "
            "kind TEXT NOT NULL, value NOT NULL)"
        )
        self._db.execute(
            f"CREATE INDEX IF NOT EXISTS {FACET_TABLE}_by_value ON {FACET_TABLE} (kind, value)"
        )
        self._db.execute(
            f"CREATE INDEX IF NOT EXISTS {FACET_TABLE}_by_paper ON {FACET_TABLE} (paper_id)"
        )

    def has_facets(self) -> bool:
        """Whether the facet table exists (an index built before filters has none)."""
        rows = self._rows(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (FACET_TABLE,)
        )
        return bool(rows)

    def upsert_facets(self, papers: Iterable[tuple[str, Sequence[tuple[str, str | int]]]]) -> None:
        """(paper_id, [(kind, value), ...]) per paper; a paper's earlier rows are replaced."""
        rows = list(papers)
        with self._db:
            self._ensure_facets()
            self._db.executemany(
                f"DELETE FROM {FACET_TABLE} WHERE paper_id = ?", [(pid,) for pid, _ in rows]
            )
            self._db.executemany(
                f"INSERT INTO {FACET_TABLE} (paper_id, kind, value) VALUES (?, ?, ?)",
                [(pid, kind, value) for pid, facets in rows for kind, value in facets],
            )

    def search_filtered(
        self, text: str, n: int, filters: Filters, title_weight: float = TITLE_WEIGHT
    ) -> list[tuple[str, float]]:
        """As `search`, but only papers that pass `filters`."""
        terms = query_terms(text)
        if not terms or not self.has_facets():
            return []
        condition, params = filters.sql("paper_id")
        match = " OR ".join(self._phrase(t) for t in terms)
        rows = self._rows(
            "SELECT paper_id, -bm25(papers, 0.0, ?, 1.0) AS score FROM papers "
            f"WHERE papers MATCH ? AND {condition} ORDER BY bm25(papers, 0.0, ?, 1.0) LIMIT ?",
            (title_weight, match, *params, title_weight, n),
        )
        return [(str(pid), float(score)) for pid, score in rows]
