"""From a question to the papers most likely to answer it.

The store returns chunks; a paper is as relevant as its best chunk. The
LlamaIndex adapter exposes the same ranking through LlamaIndex's retriever
interface, which is what the answer chain consumes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from assistant.embedder import Embedder
from assistant.store import ChunkHit, Store, _as_tuple

if TYPE_CHECKING:
    from llama_index.core.retrievers import BaseRetriever


@dataclass(frozen=True)
class PaperHit:
    """A retrieved paper and why: its best-matching chunk and that chunk's similarity."""

    paper_id: str
    title: str
    score: float
    abstract: str
    source_files: tuple[str, ...]
    dates: tuple[str, ...]
    external_id: str | None
    authors: tuple[str, ...]
    best_chunk: str

    def as_json(self) -> dict[str, Any]:
        return {
            "paper_id": self.paper_id,
            "title": self.title,
            "score": round(self.score, 4),
            "source_files": list(self.source_files),
            "dates": list(self.dates),
            "external_id": self.external_id,
            "authors": list(self.authors),
        }


def _group_by_paper(hits: list[ChunkHit]) -> list[ChunkHit]:
    """Best chunk per paper, best first (chunks arrive sorted by similarity)."""
    best: dict[str, ChunkHit] = {}
    for hit in hits:
        if hit.paper_id not in best or hit.similarity > best[hit.paper_id].similarity:
            best[hit.paper_id] = hit
    return sorted(best.values(), key=lambda h: h.similarity, reverse=True)


class Retriever:
    """Dense retrieval over chunks, ranked per paper."""

    def __init__(self, store: Store, embedder: Embedder, candidate_chunks: int = 50) -> None:
        self.store = store
        self.embedder = embedder
        self.candidate_chunks = candidate_chunks

    def search(self, query: str, k: int, where: Mapping[str, Any] | None = None) -> list[PaperHit]:
        vector = self.embedder.embed_query(query)
        chunks = self.store.query(vector, max(self.candidate_chunks, k * 4), where)
        ranked = _group_by_paper(chunks)[:k]
        records = self.store.paper_records([h.paper_id for h in ranked])
        hits = []
        for chunk in ranked:
            meta = records.get(chunk.paper_id, chunk.metadata)
            authors = str(meta.get("authors") or "")
            hits.append(
                PaperHit(
                    paper_id=chunk.paper_id,
                    title=str(meta.get("title", "")),
                    score=chunk.similarity,
                    abstract=str(meta.get("abstract") or chunk.text),
                    source_files=_as_tuple(meta.get("source_files")),
                    dates=_as_tuple(meta.get("dates")),
                    external_id=(str(meta["external_id"]) if meta.get("external_id") else None),
                    authors=tuple(a for a in authors.split("; ") if a),
                    best_chunk=chunk.text,
                )
            )
        return hits


def llama_retriever(retriever: Retriever, k: int) -> BaseRetriever:
    """The same ranking behind LlamaIndex's `BaseRetriever` interface."""
    from llama_index.core.retrievers import BaseRetriever
    from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

    class PaperRetriever(BaseRetriever):
        def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
            nodes = []
            for hit in retriever.search(query_bundle.query_str, k):
                node = TextNode(id_=hit.paper_id, text=hit.abstract, metadata={"hit": hit})
                # The hit object is for us, not for LlamaIndex's prompt rendering.
                node.excluded_llm_metadata_keys = ["hit"]
                node.excluded_embed_metadata_keys = ["hit"]
                nodes.append(NodeWithScore(node=node, score=hit.score))
            return nodes

    return PaperRetriever()
