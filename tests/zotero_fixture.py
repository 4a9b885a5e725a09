"""A Zotero database made in a test, in Zotero's own layout, filled as Zotero fills it.

The tables have Zotero's layout (tests/fixtures/zotero/schema.sql: the columns,
keys and constraints of its userdata.sql, schema 129), numbered as a new Zotero 7
database numbers item types, fields and creator types (tests/fixtures/zotero/global.sql).
Rows are written the way Zotero writes them: a field value is stored once in
`itemDataValues` and shared; a name once in `creators` (unique by last name, first
name and field mode); a date as "YYYY-MM-DD" plus the text typed; a note,
attachment or annotation is an item of its own type with a row in `itemNotes`,
`itemAttachments` or `itemAnnotations` naming its parent; the trash is
`deletedItems` and `deletedCollections`.
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from tests.conftest import ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "zotero"
USER_LIBRARY = 1
# Zotero's item and collection keys: eight characters from this alphabet.
_KEY_CHARS = "23456789ABCDEFGHIJKLMNPQRSTUVWXYZ"


def multipart(year: int, month: int, day: int, typed: str) -> str:
    """A date as Zotero stores it: "2020-01-15 January 15, 2020" (00 for unknown parts)."""
    return f"{year:04d}-{month:02d}-{day:02d} {typed}"


class ZoteroDatabase:
    """A zotero.sqlite with a user library; each method is one thing a user does in Zotero."""

    def __init__(self, path: Path, *, seed: int = 7) -> None:
        self.path = path
        self._random = random.Random(seed)
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("PRAGMA foreign_keys = true")  # as Zotero runs
        self.conn.executescript((FIXTURES / "schema.sql").read_text(encoding="utf-8"))
        self.conn.executescript((FIXTURES / "global.sql").read_text(encoding="utf-8"))
        self.conn.execute(
            "INSERT INTO fieldsCombined SELECT fieldID, fieldName, NULL, fieldFormatID, 0 "
            "FROM fields"
        )
        self.conn.executemany(
            "INSERT INTO version VALUES (?, ?)",
            [("system", 32), ("userdata", 129), ("triggers", 18), ("globalSchema", 41)],
        )
        self.conn.execute(
            "INSERT INTO libraries (libraryID, type, editable, filesEditable) "
            "VALUES (?, 'user', 1, 1)",
            (USER_LIBRARY,),
        )

    def close(self) -> None:
        self.conn.close()

    def _key(self) -> str:
        return "".join(self._random.choice(_KEY_CHARS) for _ in range(8))

    def _id(self, sql: str, *params: object) -> int:
        row = self.conn.execute(sql, params).fetchone()
        assert row is not None, (sql, params)
        return int(row[0])

    def group_library(self, group_id: int, name: str) -> int:
        library = self._id("SELECT MAX(libraryID) + 1 FROM libraries")
        self.conn.execute(
            "INSERT INTO libraries (libraryID, type, editable, filesEditable) "
            "VALUES (?, 'group', 1, 1)",
            (library,),
        )
        self.conn.execute("INSERT INTO groups VALUES (?, ?, ?, '', 0)", (group_id, library, name))
        return library

    def feed_library(self, name: str) -> int:
        library = self._id("SELECT MAX(libraryID) + 1 FROM libraries")
        self.conn.execute(
            "INSERT INTO libraries (libraryID, type, editable, filesEditable) "
            "VALUES (?, 'feed', 0, 0)",
            (library,),
        )
        self.conn.execute(
            "INSERT INTO feeds (libraryID, name, url) VALUES (?, ?, ?)",
            (library, name, f"https://example.org/{library}.rss"),
        )
        return library

    def collection(self, name: str, parent: int | None = None, library: int = USER_LIBRARY) -> int:
        cur = self.conn.execute(
            "INSERT INTO collections (collectionName, parentCollectionID, libraryID, key) "
            "VALUES (?, ?, ?, ?)",
            (name, parent, library, self._key()),
        )
        assert cur.lastrowid is not None
        return cur.lastrowid

    def _item(self, type_name: str, library: int) -> tuple[int, str]:
        key = self._key()
        cur = self.conn.execute(
            "INSERT INTO items (itemTypeID, libraryID, key) "
            "SELECT itemTypeID, ?, ? FROM itemTypes WHERE typeName = ?",
            (library, key, type_name),
        )
        assert cur.lastrowid is not None and cur.rowcount == 1, type_name
        return cur.lastrowid, key

    def set_field(self, item: int, name: str, value: str) -> None:
        """What editing a field in Zotero's item pane writes."""
        self.conn.execute("INSERT OR IGNORE INTO itemDataValues (value) VALUES (?)", (value,))
        value_id = self._id("SELECT valueID FROM itemDataValues WHERE value = ?", value)
        field_id = self._id("SELECT fieldID FROM fields WHERE fieldName = ?", name)
        self.conn.execute(
            "REPLACE INTO itemData (itemID, fieldID, valueID) VALUES (?, ?, ?)",
            (item, field_id, value_id),
        )
        self.conn.execute(
            "UPDATE items SET dateModified = CURRENT_TIMESTAMP, "
            "clientDateModified = CURRENT_TIMESTAMP WHERE itemID = ?",
            (item,),
        )

    def _creator(self, name: str | tuple[str, str]) -> int:
        # A string is a one-field name (an institution), kept in lastName.
        first, last, mode = ("", name, 1) if isinstance(name, str) else (name[0], name[1], 0)
        self.conn.execute(
            "INSERT OR IGNORE INTO creators (firstName, lastName, fieldMode) VALUES (?, ?, ?)",
            (first, last, mode),
        )
        return self._id(
            "SELECT creatorID FROM creators WHERE firstName = ? AND lastName = ? AND fieldMode = ?",
            first,
            last,
            mode,
        )

    def item(
        self,
        type_name: str,
        fields: dict[str, str],
        *,
        creators: Sequence[tuple[str | tuple[str, str], str]] = (),
        collections: tuple[int, ...] = (),
        tags: tuple[str, ...] = (),
        library: int = USER_LIBRARY,
    ) -> tuple[int, str]:
        """A regular item: (itemID, key). `creators`: (name, creator type) in order."""
        item, key = self._item(type_name, library)
        for name, value in fields.items():
            self.set_field(item, name, value)
        for order, (name, kind) in enumerate(creators):
            self.conn.execute(
                "INSERT INTO itemCreators (itemID, creatorID, creatorTypeID, orderIndex) "
                "SELECT ?, ?, creatorTypeID, ? FROM creatorTypes WHERE creatorType = ?",
                (item, self._creator(name), order, kind),
            )
        for collection in collections:
            self.conn.execute(
                "INSERT INTO collectionItems (collectionID, itemID, orderIndex) "
                "VALUES (?, ?, (SELECT COUNT(*) FROM collectionItems WHERE collectionID = ?))",
                (collection, item, collection),
            )
        for tag in tags:
            self.conn.execute("INSERT OR IGNORE INTO tags (name) VALUES (?)", (tag,))
            self.conn.execute(
                "INSERT INTO itemTags (itemID, tagID, type) "
                "SELECT ?, tagID, 0 FROM tags WHERE name = ?",
                (item, tag),
            )
        return item, key

    def note(self, parent: int, text: str) -> int:
        """A child note; Zotero keeps its HTML, and its first line as its title."""
        library = self._id("SELECT libraryID FROM items WHERE itemID = ?", parent)
        item, _ = self._item("note", library)
        html = f'<div data-schema-version="9"><p>{text}</p></div>'
        self.conn.execute(
            "INSERT INTO itemNotes (itemID, parentItemID, note, title) VALUES (?, ?, ?, ?)",
            (item, parent, html, text.splitlines()[0]),
        )
        return item

    def attachment(self, parent: int, title: str) -> int:
        library = self._id("SELECT libraryID FROM items WHERE itemID = ?", parent)
        item, key = self._item("attachment", library)
        self.set_field(item, "title", title)
        self.conn.execute(
            "INSERT INTO itemAttachments (itemID, parentItemID, linkMode, contentType, path) "
            "VALUES (?, ?, 0, 'application/pdf', ?)",
            (item, parent, f"storage:{key}.pdf"),
        )
        return item

    def annotation(self, attachment: int, text: str) -> int:
        library = self._id("SELECT libraryID FROM items WHERE itemID = ?", attachment)
        item, _ = self._item("annotation", library)
        self.conn.execute(
            "INSERT INTO itemAnnotations (itemID, parentItemID, type, text, color, sortIndex, "
            "position, isExternal) VALUES (?, ?, 1, ?, '#ffd400', '00000|000000|00000', "
            '\'{"pageIndex":0,"rects":[[0,0,1,1]]}\', 0)',
            (item, attachment, text),
        )
        return item

    def trash(self, item: int) -> None:
        self.conn.execute("INSERT INTO deletedItems (itemID) VALUES (?)", (item,))

    def trash_collection(self, collection: int) -> None:
        self.conn.execute("INSERT INTO deletedCollections (collectionID) VALUES (?)", (collection,))
