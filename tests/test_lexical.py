"""The BM25 index: upserts replace, lookups by id do not scan, old files migrate."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from assistant.index.lexical import ROWIDS, LexicalIndex


def rows(n: int, start: int = 0, word: str = "tide") -> list[tuple[str, str, str]]:
    return [
        (f"p{i}", f"Paper {i} on {word}", f"Abstract {i} about {word} turbines.")
        for i in range(start, start + n)
    ]


def vm_steps(index: LexicalIndex, action: object) -> int:
    """SQLite virtual-machine instructions `action` costs (a count, not a timing)."""
    steps = [0]

    def tick() -> int:
        steps[0] += 1
        return 0

    db = index._db
    db.set_progress_handler(tick, 1)
    try:
        action()  # type: ignore[operator]
    finally:
        db.set_progress_handler(None, 1)
    return steps[0]


def test_upsert_replaces_a_paper_and_search_sees_the_new_text(tmp_path: Path) -> None:
    index = LexicalIndex(tmp_path / "bm25.sqlite")
    index.upsert(rows(20))
    index.upsert([("p3", "Paper 3 revised", "Now about kelp forests.")])
    assert index.count() == 20
    assert [pid for pid, _ in index.search("kelp", 5)] == ["p3"]
    assert "p3" not in [pid for pid, _ in index.search("turbines", 50)]
    assert index.present(["p3", "p19", "p20"]) == {"p3", "p19"}
    assert index.terms_in("p3", ["kelp", "tide"]) == {"kelp"}
    index.delete(["p3", "p4"])
    assert index.count() == 18 and index.present(["p3", "p4", "p5"]) == {"p5"}
    # The same id twice in one batch is one paper.
    index.upsert([("p5", "A", "first"), ("p5", "B", "second")])
    assert index.count() == 18 and index.search("second", 5)[0][0] == "p5"


def test_upsert_cost_does_not_grow_with_the_index(tmp_path: Path) -> None:
    """Lookups by paper id go through a keyed table; before, each was a scan of
    the FTS table and a 256-paper step at 835k chunks took 68 s."""
    small = LexicalIndex(tmp_path / "small.sqlite")
    small.upsert(rows(1_000))
    large = LexicalIndex(tmp_path / "large.sqlite")
    for start in range(0, 20_000, 5_000):
        large.upsert(rows(5_000, start))
    batch = rows(100, start=500, word="kelp")  # replaces 100 existing papers
    cost_small = vm_steps(small, lambda: small.upsert(batch))
    cost_large = vm_steps(large, lambda: large.upsert(batch))
    # 20x the rows: a scan per paper would cost ~20x; keyed lookups stay near 1x.
    assert cost_large < 2 * cost_small, (cost_small, cost_large)
    probe = [f"p{i}" for i in range(0, 20_000, 97)]
    assert vm_steps(large, lambda: large.present(probe)) < 20 * len(probe) * 10


def test_an_index_made_before_the_rowid_table_is_migrated_when_opened_for_writing(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.execute(
        "CREATE VIRTUAL TABLE papers USING fts5(paper_id UNINDEXED, title, abstract, "
        "tokenize = 'porter unicode61 remove_diacritics 2')"
    )
    db.executemany("INSERT INTO papers VALUES (?, ?, ?)", rows(30))
    db.commit()
    db.close()

    reader = LexicalIndex.for_reading(path)  # read-only: works without the table
    assert reader.present(["p1", "p99"]) == {"p1"} and reader.terms_in("p2", ["tide"])
    reader.close()

    writer = LexicalIndex(path)
    mapped = writer._db.execute(f"SELECT COUNT(*) FROM {ROWIDS}").fetchone()[0]
    assert mapped == 30
    writer.upsert([("p1", "Paper 1", "kelp")])
    assert writer.count() == 30 and writer.search("kelp", 5)[0][0] == "p1"
