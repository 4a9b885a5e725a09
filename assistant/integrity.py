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

import math
import sqlite3
import struct
from dataclasses import dataclass
from pathlib import Path

CHROMA_DB = "chroma.sqlite3"
_SQLITE_MAGIC = b"SQLite format 3\x00"
# version, offsetLevel0, max_elements, cur_element_count, size_data_per_element,
# label_offset, offsetData, maxlevel, enterpoint_node, maxM, maxM0, M, mult,
# ef_construction: hnswlib's persisted header, little-endian, packed.
_HEADER = struct.Struct("<iQQQQQQiIQQQdQ")
_KNOWN_VERSION = 1
# Deeper than this no real index goes (the level of an element is ~ ln(n)/ln(M)).
_MAX_LEVEL = 64
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


@dataclass(frozen=True)
class Header:
    max_elements: int
    count: int
    size_per_element: int
    label_offset: int
    data_offset: int
    max_level: int
    entry_point: int
    max_links: int
    max_links0: int

    @property
    def dimension(self) -> int:
        return (self.label_offset - self.data_offset) // 4

    @property
    def upper_list_bytes(self) -> int:
        """Bytes of one upper-layer link list: a count and `max_links` ids."""
        return 4 + 4 * self.max_links


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


def read_header(path: Path) -> Header | str | None:
    """The parsed header, a problem description, or None for an unknown format."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return f"{path.name} is missing"
    if len(raw) != _HEADER.size:
        return f"{path.name} is {len(raw)} bytes long, not {_HEADER.size}"
    (version, level0, max_el, count, per_el, label_off, data_off, max_level, entry, max_m, max_m0,
     m, mult, ef_construction) = _HEADER.unpack(raw)  # fmt: skip
    if version != _KNOWN_VERSION:
        return None  # hnswlib itself refuses a version it does not know
    wrong = (
        level0 != 0
        or count > max_el
        or m < 2
        or max_m != m
        or max_m0 != 2 * m
        or data_off != 4 + 4 * max_m0
        or label_off <= data_off
        or (label_off - data_off) % 4
        or per_el != label_off + 8
        or not math.isclose(mult, 1 / math.log(m), rel_tol=1e-9)
        or ef_construction < m
        or (count == 0 and max_level != -1)
        or (count > 0 and not (0 <= max_level < _MAX_LEVEL and entry < count))
    )
    if wrong:
        return f"{path.name} holds impossible values"
    return Header(max_el, count, per_el, label_off, data_off, max_level, entry, max_m, max_m0)


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return None


def _link_list_problem(path: Path, header: Header, deep: bool) -> str | None:
    """Walk the upper-layer link lists: one size word per element, then its lists."""
    import numpy as np

    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return f"{path.name} is missing"
    if len(raw) % 4:
        return f"{path.name} is cut short"
    words = np.frombuffer(raw, dtype="<u4")
    # Most elements live on level 0 only, a zero size word each: jump between the
    # non-zero words instead of stepping through every element.
    nonzero = np.flatnonzero(words)
    position = element = 0
    top = 0
    entry_level = 0
    per_level = header.upper_list_bytes
    while element < header.count:
        i = int(np.searchsorted(nonzero, position))
        next_list = int(nonzero[i]) if i < len(nonzero) else len(words)
        zeros = next_list - position
        if element + zeros >= header.count:
            position += header.count - element
            element = header.count
            break
        element += zeros
        if next_list == len(words):
            return f"{path.name} is cut short"
        size = int(words[next_list])
        if size % per_level or size // per_level > header.max_level:
            return f"{path.name} is garbled (element {element})"
        level = size // per_level
        if element == header.entry_point:
            entry_level = level
        top = max(top, level)
        position = next_list + 1 + size // 4
        if position > len(words):
            return f"{path.name} is cut short"
        if deep:
            lists = words[next_list + 1 : position].reshape(level, per_level // 4)
            counts = lists[:, 0] & 0xFFFF
            if (counts > header.max_links).any():
                return f"{path.name} is garbled (element {element})"
            for row, n in zip(lists, counts, strict=True):
                if (row[1 : 1 + n] >= header.count).any():
                    return f"{path.name} links to elements that do not exist"
        element += 1
    if position > len(words):
        return f"{path.name} is cut short"
    if header.count and (top != header.max_level or entry_level != header.max_level):
        return f"{path.name} does not match header.bin (levels)"
    return None


def _level0_problem(path: Path, header: Header, deep: bool) -> str | None:
    """Every element's level-0 links; with `deep`, also its vector and label.

    A link to an element that does not exist makes hnswlib read past its
    memory (a crash, or garbage results), so this part runs before every load:
    about 0.3 microseconds per vector.
    """
    import numpy as np

    raw = np.fromfile(path, dtype=np.uint8, count=header.count * header.size_per_element)
    rows = raw.reshape(header.count, header.size_per_element)
    counts = rows[:, 0:2].copy().view("<u2")[:, 0]
    if (counts > header.max_links0).any():
        return f"{path.name} is garbled (link counts)"
    links = rows[:, 4 : header.data_offset].copy().view("<u4")
    used = np.arange(header.max_links0)[None, :] < counts[:, None]
    if (links[used] >= header.count).any():
        return f"{path.name} links to elements that do not exist"
    if not deep:
        return None
    labels = rows[:, header.label_offset : header.label_offset + 8].copy().view("<u8")[:, 0]
    if len(np.unique(labels)) != header.count:
        return f"{path.name} has repeated labels"
    vectors = rows[:, header.data_offset : header.label_offset].copy().view("<f4")
    with np.errstate(all="ignore"):
        norms = np.linalg.norm(vectors.astype(np.float64), axis=1)
    # Cosine collections store unit vectors; garbage bytes almost never are.
    if not np.all(np.abs(norms - 1.0) < 1e-3):
        return f"{path.name} holds damaged vectors"
    return None


def _deep_extras_problem(folder: Path, header: Header) -> str | None:
    """The files a search can do without, but a whole index has (deep check only)."""
    import pickletools

    import numpy as np

    lengths = np.fromfile(folder / "length.bin", dtype="<f4", count=header.count)
    # The vectors' norms before normalising: finite and positive.
    if not np.all(np.isfinite(lengths) & (lengths > 0)):
        return "length.bin holds impossible values"
    if header.count:
        try:
            # Walks the opcodes without building (or running) anything.
            for _ in pickletools.genops((folder / "index_metadata.pickle").read_bytes()):
                pass
        except Exception:  # pickletools raises ValueError and others on garbage
            return "index_metadata.pickle is garbled"
    return None


def hnsw_problem(folder: Path, *, deep: bool = False) -> str | None:
    """What is wrong with a persisted HNSW segment folder, or None."""
    header = read_header(folder / "header.bin")
    if header is None:
        # hnswlib refuses it itself; only `doctor` calls that damage.
        return "header.bin has an unknown format version" if deep else None
    if isinstance(header, str):
        return header
    data = _size(folder / "data_level0.bin")
    if data is None:
        return "data_level0.bin is missing"
    if data < header.count * header.size_per_element:
        return "data_level0.bin is cut short"
    lengths = _size(folder / "length.bin")
    if lengths is None or lengths < header.count * 4:
        return "length.bin is missing or cut short"
    problem = _link_list_problem(folder / "link_lists.bin", header, deep)
    if problem:
        return problem
    if header.count:
        # Chroma's id <-> label map; a pickle always ends with its STOP opcode.
        mapping = folder / "index_metadata.pickle"
        try:
            with mapping.open("rb") as f:
                f.seek(-1, 2)
                if f.read(1) != b".":
                    return f"{mapping.name} is cut short"
        except FileNotFoundError:
            return f"{mapping.name} is missing"
        except OSError:
            return f"{mapping.name} is empty"
    problem = _level0_problem(folder / "data_level0.bin", header, deep)
    if problem or not deep:
        return problem
    return _deep_extras_problem(folder, header)


def _open_ro(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30.0)


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
