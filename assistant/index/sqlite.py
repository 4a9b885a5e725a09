"""Opening SQLite files, in one place.

A read-only or must-exist open needs SQLite's URI form (`file:...?mode=ro`), and
in a URI `#`, `?` and `%` are syntax: a home folder named `lab#2` would open
`lab` instead (an empty new file, reported as a damaged index). `Path.as_uri`
percent-encodes the path, so every file opens as itself.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Literal

# ro: read only; rw: read and write, the file must exist; rwc: created if missing.
Mode = Literal["ro", "rw", "rwc"]


def open_sqlite(
    path: Path, mode: Mode, *, shared: bool = False, immutable: bool = False
) -> sqlite3.Connection:
    """A connection to the SQLite file `path`, waiting up to 30 s for a lock.

    `shared`: usable from several threads (the caller serialises access).
    `immutable`: promise SQLite that nothing changes the file, so it takes no locks
    and reads no journal or WAL (for another program's file that it keeps locked).
    """
    uri = f"{path.resolve().as_uri()}?mode={mode}" + ("&immutable=1" if immutable else "")
    return sqlite3.connect(uri, uri=True, timeout=30.0, check_same_thread=not shared)


def remove_sqlite_file(path: Path) -> None:
    """Delete the SQLite file `path` with its journal, WAL and shared-memory files."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
