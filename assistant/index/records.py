"""A paper's stored record: the metadata of its chunks in Chroma, written at ingest
(`chunk_metadata`) and read back as a `Paper` (`paper_from_record`), in one place.

The first chunk of a paper also carries its whole abstract. Chroma metadata holds
strings, numbers, booleans and lists of them, never None: a field the source did
not give is left out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from assistant.domain import Paper
from assistant.index.chunking import Chunk
from assistant.retrieval.filters import filter_metadata


def chunk_metadata(paper: Paper, chunk: Chunk, n_chunks: int) -> dict[str, Any]:
    """The metadata stored with one of `paper`'s `n_chunks` chunks."""
    meta: dict[str, Any] = {
        "paper_id": paper.paper_id,
        "chunk_index": chunk.index,
        "n_chunks": n_chunks,
        "title": paper.title,
        "content_hash": paper.content_hash,
        "source_files": list(paper.source_files),
    }
    if paper.dates:
        meta["dates"] = list(paper.dates)
    if paper.external_id:
        meta["external_id"] = paper.external_id
    if paper.authors:
        meta["authors"] = "; ".join(paper.authors)
    if paper.categories:
        meta["categories"] = list(paper.categories)
    if paper.collections:
        meta["collections"] = list(paper.collections)
    if paper.tags:
        meta["tags"] = list(paper.tags)
    meta.update(filter_metadata(paper.authors, paper.categories, paper.collections, paper.tags))
    # Only what is known: Chroma metadata cannot hold None.
    optional = {
        "year": paper.year,
        "venue": paper.venue,
        "doi": paper.doi,
        "bibtex_key": paper.bibtex_key,
        "version": paper.version,
        "url": paper.url,
    }
    meta.update({k: v for k, v in optional.items() if v is not None and v != ""})
    if chunk.index == 0:
        # The whole abstract rides on the first chunk, for answers and Sources.
        meta["abstract"] = paper.abstract
    return meta


def as_tuple(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


def _text_or_none(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def paper_from_record(meta: Mapping[str, Any]) -> Paper:
    """A paper as ingested, from its first chunk's metadata (as `chunk_metadata` wrote it)."""
    authors = str(meta.get("authors") or "")
    return Paper(
        paper_id=str(meta.get("paper_id", "")),
        title=str(meta.get("title", "")),
        abstract=str(meta.get("abstract") or ""),
        source_files=as_tuple(meta.get("source_files")),
        dates=as_tuple(meta.get("dates")),
        external_id=_text_or_none(meta.get("external_id")),
        authors=tuple(a for a in authors.split("; ") if a),
        categories=as_tuple(meta.get("categories")),
        year=int(meta["year"]) if meta.get("year") is not None else None,
        venue=_text_or_none(meta.get("venue")),
        doi=_text_or_none(meta.get("doi")),
        bibtex_key=_text_or_none(meta.get("bibtex_key")),
        version=_text_or_none(meta.get("version")),
        url=_text_or_none(meta.get("url")),
        collections=as_tuple(meta.get("collections")),
        tags=as_tuple(meta.get("tags")),
    )
