"""Storing papers: chunks and their vectors in Chroma (local or a server), the BM25 copy,
the locks that let processes share them, and the one module that reads Chroma's private
files."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from assistant.index.base import Index
    from assistant.settings import Settings


def open_index(settings: Settings) -> Index:
    """The local store, or the Chroma server when `store_url` is set."""
    if settings.store_url:
        from assistant.index.server import ServerIndex

        return ServerIndex(settings)
    from assistant.index.local import LocalIndex

    return LocalIndex(settings)
