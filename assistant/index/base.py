"""The index behind one interface, whichever variant holds the vectors.

An `Index` is where the chunks and their vectors live (a local Chroma folder, or
a Chroma server at `store_url`) together with this home's BM25 index. The
pipeline, ingest and `doctor` use only this interface; what differs between a
local store and a server (where the BM25 copy comes from, what an ingest must
record, how health is read) lives in the variant: `local.LocalIndex` and
`server.ServerIndex`; `assistant.index.open_index` picks one.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from assistant.diagnosis import Check
    from assistant.index.lexical import LexicalIndex
    from assistant.index.store import Fingerprint, Store
    from assistant.settings import Settings

REBUILD = "Run: assistant ingest --rebuild"


class Index(Protocol):
    """Vectors (Chroma) plus the BM25 index, opened for reading or for an ingest."""

    settings: Settings

    @property
    def location(self) -> str:
        """Where the vectors live, for messages: a folder or the server's URL."""

    def open_store(self, fingerprint: Fingerprint, *, create: bool, rebuild: bool) -> Store:
        """The Chroma collection; refused if built with another fingerprint."""

    def reading_lexical(self, store: Store) -> LexicalIndex:
        """The BM25 index for searching: it must exist, and hold rows if `store` does."""

    def writing_lexical(self, store: Store, *, rebuild: bool) -> LexicalIndex:
        """The BM25 index an ingest writes into (emptied for a rebuild)."""

    def ingested(self, store: Store, *, changed: bool, rebuild: bool) -> None:
        """Record that an ingest finished (a server tells its other clients)."""

    def health(self, expected: Fingerprint) -> Check:
        """doctor's check of the index, read without chromadb."""


def lexical_path(settings: Settings) -> Path:
    from assistant.index.lexical import lexical_file

    return lexical_file(settings.store_dir, settings.collection)


def read_lexical(settings: Settings, store: Store) -> LexicalIndex:
    """This home's BM25 index for searching: it must exist, and hold rows if `store`
    does (unless an ingest is filling it right now)."""
    from assistant.index.lexical import LexicalIndex
    from assistant.index.locking import ingest_running

    lexical = LexicalIndex.for_reading(lexical_path(settings))
    lexical.require_rows(store.chunk_count(), lambda: ingest_running(settings.store_dir))
    return lexical


def fingerprint_mismatch(expected: Fingerprint, meta: Mapping[str, object]) -> Check | None:
    """A failed check if the index's recorded fingerprint is not `expected` (what
    these settings, their encoder and chunking among them, would build)."""
    from assistant.diagnosis import Check

    wrong = [k for k, v in expected.as_metadata().items() if meta.get(k) != v]
    if not wrong:
        return None
    return Check("index", False, f"built with other settings ({', '.join(wrong)} differ)", REBUILD)
