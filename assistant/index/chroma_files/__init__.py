"""Checks that the store's files are whole, made before Chroma reads them.

Chroma trusts its files: a truncated or garbled HNSW segment makes it crash
(SIGSEGV), raise an internal error, or quietly search an index that lacks
vectors. So the HNSW files are checked against their own header and against
Chroma's SQLite file before every load. The quick checks read the 100-byte
header, a few sizes and the upper-layer link lists (a few milliseconds even for
large stores); `deep=True` (for `assistant doctor`) also reads every vector and
level-0 link and runs SQLite's `quick_check`.

Nothing here imports chromadb: `doctor` uses it too. The layouts read here are
those of chromadb 1.x (its hnswlib persistence format 1 and its SQLite schema);
a file in an unknown format is left to Chroma rather than called damaged.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from assistant.index.chroma_files.hnsw import Header, hnsw_problem, read_header
from assistant.index.sqlite import open_sqlite

CHROMA_DB = "chroma.sqlite3"
_SQLITE_MAGIC = b"SQLite format 3\x00"
_SQLITE_DAMAGED = {sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB}


@dataclass(frozen=True)
class Segments:
    """Where Chroma keeps one collection, from its SQLite file."""

    vector: str
    metadata: str | None
    # The log position the HNSW files hold; None: Chroma has not written them yet
    # (it keeps the first vectors in its log and replays them on every load).
    persisted_seq: int | None


@dataclass(frozen=True)
class Damage:
    """What is wrong, and the one segment folder it is confined to (None: the database)."""

    detail: str
    segment: Path | None = None


def is_damaged_sqlite(exc: sqlite3.Error) -> bool:
    """A malformed file, as opposed to a busy one or a schema we do not know."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code in _SQLITE_DAMAGED or "malformed" in str(exc) or "not a database" in str(exc)


def _as_int(value: object) -> int:
    # Older Chroma versions stored sequence ids as big-endian blobs.
    if isinstance(value, bytes):
        return int.from_bytes(value, "big")
    return int(str(value))


def read_segments(db: sqlite3.Connection, collection: str) -> Segments | None:
    """The collection's segments, or None if there is no such collection (or schema).

    Raises:
        sqlite3.DatabaseError: the file is damaged.
    """
    try:
        rows = db.execute(
            "SELECT s.id, s.scope FROM segments s JOIN collections c ON c.id = s.collection "
            "WHERE c.name = ?",
            (collection,),
        ).fetchall()
    except sqlite3.DatabaseError as exc:
        if is_damaged_sqlite(exc):
            raise
        return None  # not Chroma's schema as we know it: let Chroma judge
    scopes = {str(scope): str(sid) for sid, scope in rows}
    if "VECTOR" not in scopes:
        return None
    seq = db.execute(
        "SELECT seq_id FROM max_seq_id WHERE segment_id = ?", (scopes["VECTOR"],)
    ).fetchone()
    return Segments(
        scopes["VECTOR"], scopes.get("METADATA"), None if seq is None else _as_int(seq[0])
    )


def _open_ro(path: Path) -> sqlite3.Connection:
    return open_sqlite(path, "ro")


def sqlite_problem(path: Path) -> str | None:
    """SQLite's own structural check of a database file (reads all of it)."""
    try:
        db = _open_ro(path)
        try:
            rows = db.execute("PRAGMA quick_check").fetchall()
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        return f"{path.name}: {exc}"
    if rows != [("ok",)]:
        lines = [line for row in rows for line in str(row[0]).splitlines()]
        detail = next((line for line in lines if not line.startswith("***")), lines[0])
        return f"{path.name}: {detail}"
    return None


def store_damage(store_dir: Path, collection: str, *, deep: bool = False) -> Damage | None:
    """What is wrong with the store's files for `collection`, or None.

    Call it while holding `locking.store_access`, so no process is rewriting
    the files meanwhile.
    """
    db_path = store_dir / CHROMA_DB
    try:
        with db_path.open("rb") as f:
            magic = f.read(len(_SQLITE_MAGIC))
    except FileNotFoundError:
        return None  # no store yet: not damage
    if not magic:
        return Damage(f"{CHROMA_DB} is empty")
    if magic != _SQLITE_MAGIC:
        return Damage(f"{CHROMA_DB} is not an SQLite database")
    if deep:
        problem = sqlite_problem(db_path)
        if problem:
            return Damage(problem)
    try:
        db = _open_ro(db_path)
        try:
            return _segment_damage(db, store_dir, collection, deep)
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        if is_damaged_sqlite(exc):
            return Damage(f"{CHROMA_DB}: {exc}")
        return None


def _segment_damage(
    db: sqlite3.Connection, store_dir: Path, collection: str, deep: bool
) -> Damage | None:
    segments = read_segments(db, collection)
    if segments is None or segments.persisted_seq is None:
        return None
    folder = store_dir / segments.vector
    if not folder.is_dir():
        return Damage(f"the vector segment folder {segments.vector} is missing", folder)
    problem = hnsw_problem(folder, deep=deep)
    if problem:
        return Damage(f"{segments.vector}/{problem}", folder)
    header = read_header(folder / "header.bin")
    if not isinstance(header, Header) or segments.metadata is None:
        return None
    # Every stored chunk is in the HNSW files or still in Chroma's log.
    live = db.execute(
        "SELECT COUNT(*) FROM embeddings WHERE segment_id = ?", (segments.metadata,)
    ).fetchone()[0]
    pending = db.execute(
        "SELECT COUNT(*) FROM embeddings_queue WHERE seq_id > ?", (segments.persisted_seq,)
    ).fetchone()[0]
    if header.count + pending < live:
        return Damage(
            f"the vector segment holds {header.count} vectors, but {live} chunks are stored",
            folder,
        )
    return None


# -- what the rest of the index reads of Chroma's files ---------------------------


@dataclass(frozen=True)
class Summary:
    """A collection as Chroma's SQLite file records it (read without chromadb)."""

    metadata: dict[str, object]
    chunks: int
    papers: int


def has_store(store_dir: Path) -> bool:
    return (store_dir / CHROMA_DB).exists()


def read_summary(store_dir: Path, collection: str) -> Summary | None:
    """The collection's metadata and counts, or None if it does not exist.

    Raises:
        sqlite3.DatabaseError: the file is damaged.
    """
    con = _open_ro(store_dir / CHROMA_DB)
    try:
        segments = read_segments(con, collection)
        row = con.execute("SELECT id FROM collections WHERE name = ?", (collection,)).fetchone()
        if row is None or segments is None:
            return None
        meta: dict[str, object] = {
            key: s if s is not None else i
            for key, s, i in con.execute(
                "SELECT key, str_value, int_value FROM collection_metadata WHERE collection_id = ?",
                (row[0],),
            )
        }
        count, papers = con.execute(
            "SELECT COUNT(*), COALESCE(SUM(m.int_value = 0), 0) FROM embeddings e "
            "LEFT JOIN embedding_metadata m ON m.id = e.id AND m.key = 'chunk_index' "
            "WHERE e.segment_id = ?",
            (segments.metadata,),
        ).fetchone()
    finally:
        con.close()
    return Summary(meta, int(count), int(papers))


def file_state(store_dir: Path) -> tuple[int, ...]:
    """Changes whenever any process commits to Chroma's SQLite file (cheap: two stats)."""
    state: list[int] = []
    for name in (CHROMA_DB, CHROMA_DB + "-wal"):
        try:
            with (store_dir / name).open("rb") as f:
                head = f.read(28)
                info = os.fstat(f.fileno())
        except FileNotFoundError:
            state += [0, 0, 0, 0]
            continue
        # Bytes 24-27 of an SQLite file count its committed write transactions;
        # the mtime alone can miss two commits within one clock tick.
        counter = int.from_bytes(head[24:28], "big") if len(head) == 28 else 0
        state += [info.st_ino, info.st_size, info.st_mtime_ns, counter]
    return tuple(state)


def data_state(store_dir: Path) -> tuple[object, ...]:
    """Changes when the data changes: not when a reader merely touched the file.

    Chroma's log position, what its segments have applied, and its collections.
    """
    try:
        db = _open_ro(store_dir / CHROMA_DB)
        try:
            return (
                db.execute("SELECT MAX(seq_id) FROM embeddings_queue").fetchone()[0],
                tuple(db.execute("SELECT segment_id, seq_id FROM max_seq_id ORDER BY 1")),
                tuple(db.execute("SELECT id FROM collections ORDER BY 1")),
            )
        finally:
            db.close()
    except sqlite3.Error:
        return ("unknown", *file_state(store_dir))  # any change to the file counts


def remove_store_files(store_dir: Path) -> None:
    """Delete Chroma's database and every vector segment folder in `store_dir`."""
    for entry in store_dir.iterdir():
        if entry.name.startswith(CHROMA_DB):
            entry.unlink()
        elif entry.is_dir() and (entry / "header.bin").exists():
            shutil.rmtree(entry, ignore_errors=True)


def tidy_after_drop(store_dir: Path) -> None:
    """Remove what chromadb 1.x leaves behind when it drops a collection.

    Its rows in `embedding_metadata_array` (list-valued metadata) stay, keyed by
    embedding ids that SQLite hands out again: a later chunk given the same id
    shows the dropped chunk's lists (categories, authors, dates) as its own.
    Its HNSW segment folder stays too. Call under the store's access lock.
    """
    db = open_sqlite(store_dir / CHROMA_DB, "rw")
    try:
        with db:
            db.execute(
                "DELETE FROM embedding_metadata_array WHERE id NOT IN (SELECT id FROM embeddings)"
            )
            db.execute("DELETE FROM embedding_metadata WHERE id NOT IN (SELECT id FROM embeddings)")
        used = {str(row[0]) for row in db.execute("SELECT id FROM segments")}
    finally:
        db.close()
    for entry in store_dir.iterdir():
        if entry.is_dir() and entry.name not in used and (entry / "header.bin").exists():
            shutil.rmtree(entry, ignore_errors=True)
