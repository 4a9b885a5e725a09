"""The lexical (BM25) index beside the Chroma store: SQLite FTS5, one row per paper.

FTS5 is in the standard library's sqlite3, persists in one file, updates
incrementally inside transactions, and ranks with BM25, so ingest keeps it in
step with the vector store paper by paper.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path

from assistant.errors import StoreError

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


def query_terms(text: str) -> list[str]:
    seen: dict[str, None] = {}
    for token in _TOKEN.findall(text.lower()):
        if token not in STOPWORDS and (len(token) > 1 or token.isdigit()):
            seen.setdefault(token, None)
    return list(seen)


class LexicalIndex:
    """BM25 over titles and abstracts, keyed by paper id."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), timeout=30.0, check_same_thread=False)
            self._db.execute(
                "CREATE VIRTUAL TABLE IF NOT EXISTS papers USING fts5("
                "paper_id UNINDEXED, title, abstract, "
                "tokenize = 'porter unicode61 remove_diacritics 2')"
            )
            self._db.commit()
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"The lexical index {path} is damaged: {exc}",
                hint="Rebuild it with: assistant ingest --rebuild",
            ) from exc

    def close(self) -> None:
        self._db.close()

    def clear(self) -> None:
        with self._db:
            self._db.execute("DELETE FROM papers")

    def upsert(self, papers: Iterable[tuple[str, str, str]]) -> None:
        """(paper_id, title, abstract) rows; an existing paper is replaced."""
        rows = list(papers)
        with self._db:
            self._db.executemany("DELETE FROM papers WHERE paper_id = ?", [(r[0],) for r in rows])
            self._db.executemany(
                "INSERT INTO papers (paper_id, title, abstract) VALUES (?, ?, ?)", rows
            )

    def delete(self, paper_ids: Sequence[str]) -> None:
        with self._db:
            self._db.executemany("DELETE FROM papers WHERE paper_id = ?", [(p,) for p in paper_ids])

    def present(self, paper_ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(paper_ids), 500):
            batch = list(paper_ids[start : start + 500])
            marks = ",".join("?" * len(batch))
            found.update(
                row[0]
                for row in self._db.execute(
                    f"SELECT paper_id FROM papers WHERE paper_id IN ({marks})", batch
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
        row = self._db.execute(
            "SELECT COUNT(*) FROM papers WHERE papers MATCH ?", (self._phrase(term),)
        ).fetchone()
        return int(row[0])

    def terms_in(self, paper_id: str, terms: Sequence[str]) -> set[str]:
        """Which of `terms` occur in the paper's title or abstract."""
        row = self._db.execute(
            "SELECT rowid FROM papers WHERE paper_id = ?", (paper_id,)
        ).fetchone()
        if row is None:
            return set()
        return {
            term
            for term in terms
            if self._db.execute(
                "SELECT 1 FROM papers WHERE papers MATCH ? AND rowid = ?",
                (self._phrase(term), row[0]),
            ).fetchone()
        }

    def count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM papers").fetchone()[0])

    def search(
        self, text: str, n: int, title_weight: float = TITLE_WEIGHT
    ) -> list[tuple[str, float]]:
        """Best papers for `text` with their BM25 scores (higher is better)."""
        terms = query_terms(text)
        if not terms:
            return []
        match = " OR ".join(self._phrase(t) for t in terms)
        try:
            rows = self._db.execute(
                "SELECT paper_id, -bm25(papers, 0.0, ?, 1.0) AS score FROM papers "
                "WHERE papers MATCH ? ORDER BY bm25(papers, 0.0, ?, 1.0) LIMIT ?",
                (title_weight, match, title_weight, n),
            ).fetchall()
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"The lexical index {self.path} cannot be searched: {exc}",
                hint="Rebuild it with: assistant ingest --rebuild",
            ) from exc
        return [(str(pid), float(score)) for pid, score in rows]
