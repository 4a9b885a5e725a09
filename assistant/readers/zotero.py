"""Reading a Zotero database (zotero.sqlite): every regular item with an abstract.

The one module that reads Zotero's database (`readers.zotero_datadir` finds it: the
data directory, and the profile settings that can move it).

Versions understood: the database of Zotero 6 to 9 (userdata schema 111 to 129,
resource/schema/userdata.sql of zotero/zotero at f2a42be), and Zotero 10's, which only
adds the write-ahead log. The columns read here have not changed in that range:
`items`, `itemTypes`, `fields`, `itemData`, `itemDataValues`, `creators`,
`creatorTypes`, `itemCreators`, `collections`, `collectionItems`, `deletedItems`,
`tags`, `itemTags`, `libraries`, and `deletedCollections` (since 111; without it no
collection counts as trashed). Item types and fields are looked up by name: their ids
differ between databases (Zotero numbers the ones it adds as it adds them).

Nothing is ever written to the database (see `_opened`). A paper's id is
`zotero:<libraryID>/<item key>`, stable across edits, so an edited item replaces the
stored paper on the next ingest.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from assistant.domain import LoadReport, Paper, Problem
from assistant.index.sqlite import open_sqlite
from assistant.readers.identifier import normalize_doi
from assistant.readers.text import clean, parse_year

# The file in a data directory; a folder walk takes no other `.sqlite` file.
DATABASE = "zotero.sqlite"
_TABLES = (
    "items",
    "itemTypes",
    "fields",
    "itemData",
    "itemDataValues",
    "creators",
    "creatorTypes",
    "itemCreators",
    "collections",
    "collectionItems",
    "deletedItems",
    "tags",
    "itemTags",
    "libraries",
)
# Children of other items, not papers.
_NOT_PAPERS = ("note", "attachment", "annotation")
# Where the venue is, by item type: the journal, the proceedings, the book, the
# conference, the preprint server; the first one given is used.
_VENUE = ("publicationTitle", "proceedingsTitle", "bookTitle", "conferenceName", "repository")
_FIELDS = ("title", "abstractNote", "date", "DOI", "url", "extra", "citationKey", *_VENUE)
# Zotero stores a date as "YYYY-MM-DD" (unknown parts 00), a space, and the text as typed.
_MULTIPART = re.compile(r"(\d{4})-(\d{2})-(\d{2}) (.*)", re.DOTALL)
# Item types without a DOI field keep it in Extra, one "DOI: ..." line.
_EXTRA_DOI = re.compile(r"^\s*DOI:\s*(\S+)", re.IGNORECASE | re.MULTILINE)
# Times a database that changed while it was read is read again.
_ATTEMPTS = 3


class _NotZotero(Exception):
    pass


@dataclass
class _Library:
    """What is read from the database, before it becomes papers."""

    # item id -> (library id, key), regular items outside the trash and feeds only
    items: dict[int, tuple[int, str]] = field(default_factory=dict)
    fields: dict[int, dict[str, str]] = field(default_factory=dict)
    # item id -> (name, creator type), in Zotero's order
    creators: dict[int, list[tuple[str, str]]] = field(default_factory=dict)
    tags: dict[int, list[str]] = field(default_factory=dict)
    # collection id -> (name, parent id), trashed collections left out
    collections: dict[int, tuple[str, int | None]] = field(default_factory=dict)
    memberships: dict[int, list[int]] = field(default_factory=dict)


def _sidecar(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


def _stamp(path: Path) -> tuple[tuple[int, int] | None, ...]:
    """Size and time of the database and its journal or log: changed means written."""
    stamps: list[tuple[int, int] | None] = []
    for file in (path, _sidecar(path, "-wal"), _sidecar(path, "-journal")):
        try:
            stat = file.stat()
            stamps.append((stat.st_size, stat.st_mtime_ns))
        except FileNotFoundError:
            stamps.append(None)
    return tuple(stamps)


@contextmanager
def _opened(path: Path) -> Iterator[sqlite3.Connection]:
    """A connection that cannot change `path`, even while Zotero runs.

    Zotero keeps its database under `PRAGMA locking_mode=EXCLUSIVE` while it runs,
    so an ordinary reader is refused ("database is locked"). Two ways in:

    - Without a write-ahead log beside it (Zotero 6 to 9 use a rollback journal),
      the file is opened read-only and *immutable*: SQLite takes no lock at all and
      ignores the journal, reading the committed pages in the file. A commit being
      written at that moment could be read half-done; `_read` compares the files'
      sizes and times before and after, and reads again after a change.
    - With a non-empty `zotero.sqlite-wal` (Zotero 10 writes ahead), the latest
      commits are only in the log, which immutable mode would ignore. The database
      and its log are copied to a temporary folder and the copy is opened: SQLite
      applies the log to the copy, never to Zotero's files. `_read` copies again if
      either changed during the copy.
    """
    wal = _sidecar(path, "-wal")
    if not (wal.is_file() and wal.stat().st_size > 0):
        conn = open_sqlite(path, "ro", immutable=True)
        try:
            yield conn
        finally:
            conn.close()
        return
    with tempfile.TemporaryDirectory(prefix="assistant-zotero-") as folder:
        copy = Path(folder) / DATABASE
        shutil.copyfile(path, copy)
        shutil.copyfile(wal, _sidecar(copy, "-wal"))
        # Read-write only so that SQLite can apply the log to the copy.
        conn = open_sqlite(copy, "rw")
        try:
            conn.execute("PRAGMA query_only = 1")
            yield conn
        finally:
            conn.close()


def _read(path: Path, report: LoadReport) -> _Library:
    """Everything needed from the database, read when it was not being written."""
    for attempt in range(1, _ATTEMPTS + 1):
        before = _stamp(path)
        try:
            with _opened(path) as conn:
                library = _query(conn)
        except sqlite3.DatabaseError:
            if attempt < _ATTEMPTS and _stamp(path) != before:
                continue  # half-written: Zotero was saving
            raise
        if _stamp(path) == before:
            return library
    report.problems.append(
        Problem(
            str(path),
            None,
            "Zotero kept writing to the database while it was read; what was read is used "
            "(ingest again when Zotero is idle for a consistent copy)",
        )
    )
    return library


def _query(conn: sqlite3.Connection) -> _Library:
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    missing = [t for t in _TABLES if t not in tables]
    if missing:
        raise _NotZotero(missing[0])
    library = _Library()
    marks = ", ".join("?" * len(_NOT_PAPERS))
    rows = conn.execute(
        "SELECT items.itemID, items.libraryID, items.key FROM items "
        "JOIN itemTypes USING (itemTypeID) JOIN libraries USING (libraryID) "
        f"WHERE itemTypes.typeName NOT IN ({marks}) AND libraries.type != 'feed' "
        "AND items.itemID NOT IN (SELECT itemID FROM deletedItems) "
        "ORDER BY items.libraryID, items.itemID",
        _NOT_PAPERS,
    )
    library.items = {item: (lib, str(key)) for item, lib, key in rows}
    marks = ", ".join("?" * len(_FIELDS))
    rows = conn.execute(
        "SELECT itemData.itemID, fields.fieldName, itemDataValues.value FROM itemData "
        "JOIN fields USING (fieldID) JOIN itemDataValues USING (valueID) "
        f"WHERE fields.fieldName IN ({marks})",
        _FIELDS,
    )
    for item, name, value in rows:
        if item in library.items and value is not None:
            library.fields.setdefault(item, {})[name] = str(value)
    rows = conn.execute(
        "SELECT itemCreators.itemID, creators.firstName, creators.lastName, "
        "creators.fieldMode, creatorTypes.creatorType FROM itemCreators "
        "JOIN creators USING (creatorID) LEFT JOIN creatorTypes USING (creatorTypeID) "
        "ORDER BY itemCreators.itemID, itemCreators.orderIndex"
    )
    for item, first, last, mode, kind in rows:
        # fieldMode 1: one field (an institution), kept in lastName.
        name = clean(str(last or "") if mode == 1 else f"{first or ''} {last or ''}")
        if item in library.items and name:
            library.creators.setdefault(item, []).append((name, str(kind or "")))
    rows = conn.execute(
        "SELECT itemTags.itemID, tags.name FROM itemTags JOIN tags USING (tagID) ORDER BY tags.name"
    )
    for item, name in rows:
        if item in library.items:
            library.tags.setdefault(item, []).append(str(name))
    trashed = "deletedCollections" in tables
    rows = conn.execute(
        "SELECT collectionID, collectionName, parentCollectionID FROM collections"
        + (" WHERE collectionID NOT IN (SELECT collectionID FROM deletedCollections)" * trashed)
    )
    library.collections = {cid: (str(name), parent) for cid, name, parent in rows}
    for cid, item in conn.execute("SELECT collectionID, itemID FROM collectionItems"):
        if item in library.items:
            library.memberships.setdefault(item, []).append(cid)
    return library


def _path(library: _Library, collection: int) -> list[str] | None:
    """The names from the top collection down to `collection`; None if it or a
    parent is in the trash (trashing a collection trashes what is inside)."""
    names: list[str] = []
    seen: set[int] = set()
    current: int | None = collection
    while current is not None and current not in seen:
        seen.add(current)
        found = library.collections.get(current)
        if found is None:
            return None
        names.append(found[0])
        current = found[1]
    return names[::-1]


def _collections(library: _Library, item: int) -> tuple[str, ...]:
    """Names of the collections holding `item` and of their parents, top first."""
    paths = [_path(library, c) for c in library.memberships.get(item, ())]
    return tuple(dict.fromkeys(name for p in sorted(q for q in paths if q) for name in p))


def _date(value: str) -> tuple[int | None, str | None]:
    """The year, and the date as far as known ("2020-01-15", "2020-01", "2020")."""
    match = _MULTIPART.fullmatch(value)
    if not match:
        return parse_year(value), None
    year, month, day, typed = match.groups()
    if year == "0000":
        return parse_year(typed), None
    known = [year]
    if month != "00":
        known += [month] if day == "00" else [month, day]
    return int(year), "-".join(known)


def _authors(creators: list[tuple[str, str]]) -> tuple[str, ...]:
    """The authors, in order; without any, every creator (an edited book's editors)."""
    authors = [name for name, kind in creators if kind == "author"]
    return tuple(authors or [name for name, _ in creators])


def _paper(library: _Library, item: int, name: str) -> Paper | str:
    """The item as a Paper, or what it lacks ("an abstract", "a title")."""
    fields = library.fields.get(item, {})
    abstract = clean(fields.get("abstractNote", ""))
    if not abstract:
        return "an abstract"
    title = clean(fields.get("title", ""))
    if not title:
        return "a title"
    library_id, key = library.items[item]
    year, date = _date(fields.get("date", ""))
    extra_doi = _EXTRA_DOI.search(fields.get("extra", ""))
    doi = normalize_doi(fields.get("DOI", "")) or (
        normalize_doi(extra_doi.group(1)) if extra_doi else None
    )
    venue = next((clean(fields[f]) for f in _VENUE if clean(fields.get(f, ""))), None)
    return Paper(
        f"zotero:{library_id}/{key}",
        title,
        abstract,
        (name,),
        (date,) if date else (),
        external_id=key,
        authors=_authors(library.creators.get(item, [])),
        year=year,
        venue=venue,
        doi=doi,
        bibtex_key=clean(fields.get("citationKey", "")) or None,
        url=clean(fields.get("url", "")) or None,
        collections=_collections(library, item),
        tags=tuple(dict.fromkeys(library.tags.get(item, ()))),
    )


def _count(n: int, what: str) -> str:
    return f"{n:,} item{'s' if n != 1 else ''} {what}"


def parse_zotero(path: Path, report: LoadReport) -> Iterator[Paper]:
    """Papers from a Zotero database; items without an abstract are counted and reported."""
    try:
        library = _read(path, report)
    except _NotZotero as exc:
        report.problems.append(
            Problem(
                str(path),
                None,
                f"not a Zotero database (it has no `{exc}` table); skipped. Zotero's is "
                f"{DATABASE} in its data directory: assistant ingest --zotero",
            )
        )
        return
    except sqlite3.DatabaseError as exc:
        report.problems.append(Problem(str(path), None, f"cannot read it as SQLite ({exc})"))
        return
    lacking = {"an abstract": 0, "a title": 0}
    read: set[str] = set()
    for item in library.items:
        paper = _paper(library, item, path.name)
        if isinstance(paper, str):
            lacking[paper] += 1
            continue
        report.entries += 1
        read.add(paper.paper_id)
        yield paper
    # Only once every item was read (not when the reading stopped early, at
    # --limit): what the index holds from this file beyond these is gone from Zotero.
    report.whole.setdefault(path.name, set()).update(read)
    for what, n in lacking.items():
        if n:
            report.problems.append(Problem(str(path), None, _count(n, f"without {what} skipped")))
