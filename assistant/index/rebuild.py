"""A rebuild is made beside the old index and swapped in only once it is complete.

`ingest --rebuild` writes a staging collection (`<name>.rebuilding`) and a
staging BM25 file; searches meanwhile read the old index. Only when the ingest
completed and read at least one paper is the staging index put in place:

1. a journal file is written (`rebuild-<name>.json` beside the BM25 index);
2. the old collection is renamed `<name>.replaced`, the staging one `<name>`;
3. the staging BM25 file replaces the old one;
4. the old collection is dropped and the journal removed.

A crash during 2-4 leaves the journal, and the next command finishes the swap
(`finish_swap`: each step is skipped if already done). A rebuild that fails,
reads nothing, or is killed before step 1 leaves the old index untouched; its
staging leftovers are removed by the next ingest (`discard_staging`).

The Chroma calls go through the client's public API (rename is
`collection.modify(name=...)`), so the same protocol serves a local store and a
Chroma server. With a server, the journal is this client's: a swap cut short
is finished by this client's next command, not by other clients'.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.index.sqlite import remove_sqlite_file

_STAGING = ".rebuilding"
_RETIRED = ".replaced"


@dataclass(frozen=True)
class RebuildFiles:
    """Where one collection's rebuild keeps its staging BM25 file and its journal."""

    name: str
    lexical: Path

    @property
    def staging_name(self) -> str:
        return self.name + _STAGING

    @property
    def retired_name(self) -> str:
        return self.name + _RETIRED

    @property
    def staging_lexical(self) -> Path:
        return self.lexical.with_name(self.lexical.stem + _STAGING + self.lexical.suffix)

    @property
    def journal(self) -> Path:
        return self.lexical.with_name(f"rebuild-{self.name}.json")


def _names(client: Any) -> set[str]:
    return {c.name for c in client.list_collections()}


def _rename(client: Any, old: str, new: str) -> None:
    client.get_collection(old, embedding_function=None).modify(name=new)


def _write_journal(path: Path, files: RebuildFiles) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        json.dump({"collection": files.name, "state": "swapping"}, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def swap_in(client: Any, files: RebuildFiles) -> bool:
    """Put the completed staging index in place of the old one.

    Returns whether an old collection was dropped (Chroma then leaves files
    behind that a local store should tidy).
    """
    _write_journal(files.journal, files)
    return finish_swap(client, files)


def finish_swap(client: Any, files: RebuildFiles) -> bool:
    """Complete a swap that a journal says was started; False if none was.

    Returns whether an old collection was dropped.
    """
    if not files.journal.exists():
        return False
    names = _names(client)
    if files.staging_name in names:
        if files.name in names and files.retired_name not in names:
            _rename(client, files.name, files.retired_name)
            names.add(files.retired_name)
        elif files.name in names:
            # A swap interrupted before the old one was retired, in a state it
            # cannot reach by itself: keep the index in use, drop the other.
            client.delete_collection(files.staging_name)
            names.discard(files.staging_name)
        if files.staging_name in names:
            _rename(client, files.staging_name, files.name)
    if files.staging_lexical.exists():
        remove_sqlite_file(files.lexical)
        os.replace(files.staging_lexical, files.lexical)
    dropped = files.retired_name in names
    if dropped:
        client.delete_collection(files.retired_name)
    files.journal.unlink(missing_ok=True)
    return dropped


def discard_staging(client: Any, files: RebuildFiles) -> bool:
    """Remove what an unfinished rebuild left (never the index in use).

    Only for a writer holding the ingest lock; returns whether a staging
    collection was dropped.
    """
    if files.journal.exists():
        return False  # a swap to finish, not leftovers
    # The BM25 file first: a staging collection without it is clearly unfinished.
    remove_sqlite_file(files.staging_lexical)
    if files.staging_name in _names(client):
        client.delete_collection(files.staging_name)
        return True
    return False
