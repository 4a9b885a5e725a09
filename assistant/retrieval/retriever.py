"""From a question to the papers most likely to answer it.

Two rankings of papers are fused: dense (the store returns chunks; a paper is
as relevant as its best chunk) and lexical (BM25 over title and abstract). The
LlamaIndex adapter exposes the fused ranking through LlamaIndex's retriever
interface, which is what the answer chain consumes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from assistant.domain import PaperHit
from assistant.embedding.embedder import Embedder
from assistant.index.lexical import LexicalIndex
from assistant.index.records import paper_from_record
from assistant.index.store import ChunkHit, Store
from assistant.retrieval.filters import Filters

if TYPE_CHECKING:
    from llama_index.core.retrievers import BaseRetriever


def _group_by_paper(hits: list[ChunkHit]) -> list[ChunkHit]:
    """Best chunk per paper, best first (chunks arrive sorted by similarity)."""
    best: dict[str, ChunkHit] = {}
    for hit in hits:
        if hit.paper_id not in best or hit.similarity > best[hit.paper_id].similarity:
            best[hit.paper_id] = hit
    return sorted(best.values(), key=lambda h: h.similarity, reverse=True)


@dataclass(frozen=True)
class Fusion:
    """How dense and lexical rankings combine; the defaults are the measured best."""

    mode: str = "hybrid"  # hybrid | dense | lexical
    dense_weight: float = 0.5
    pool: int = 100


def fuse(
    dense: Mapping[str, float], lexical: Mapping[str, float], dense_weight: float
) -> list[tuple[str, float]]:
    """Papers ranked by a weighted sum of normalised dense and lexical scores.

    Dense similarities are min-max scaled over the candidates; BM25 scores are
    divided by the best one. A paper missing from one ranking gets 0 there.
    """
    scores: dict[str, float] = {}
    if dense:
        low, high = min(dense.values()), max(dense.values())
        span = (high - low) or 1.0
        for pid, value in dense.items():
            scores[pid] = dense_weight * (value - low) / span
    if lexical:
        best = max(lexical.values()) or 1.0
        for pid, value in lexical.items():
            scores[pid] = scores.get(pid, 0.0) + (1 - dense_weight) * value / best
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


class Retriever:
    """Hybrid retrieval over chunks (dense) and papers (BM25), ranked per paper."""

    def __init__(
        self,
        store: Store,
        embedder: Embedder,
        candidate_chunks: int = 50,
        lexical: LexicalIndex | None = None,
        fusion: Fusion | None = None,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.candidate_chunks = candidate_chunks
        self.lexical = lexical
        self.fusion = fusion or Fusion()

    def dense_scores(
        self, query: str, n_chunks: int, where: Mapping[str, Any] | None = None
    ) -> tuple[dict[str, float], dict[str, ChunkHit]]:
        vector = self.embedder.embed_query(query)
        best = _group_by_paper(self.store.query(vector, n_chunks, where))
        return {h.paper_id: h.similarity for h in best}, {h.paper_id: h for h in best}

    def lexical_scores(
        self, query: str, n: int, filters: Filters | None = None
    ) -> dict[str, float]:
        if self.lexical is None:
            return {}
        if filters:
            return dict(self.lexical.search_filtered(query, n, filters))
        return dict(self.lexical.search(query, n))

    def rank(
        self,
        query: str,
        k: int,
        where: Mapping[str, Any] | None = None,
        filters: Filters | None = None,
    ) -> tuple[list[tuple[str, float]], dict[str, float], dict[str, float], dict[str, ChunkHit]]:
        """The top `k` paper ids with fused scores, and the dense and lexical signals.

        `filters` apply to both rankings; a bare Chroma `where` only to the dense
        one, so BM25 is left out when it is given.
        """
        mode = self.fusion.mode if self.lexical is not None else "dense"
        pool = max(self.fusion.pool, k)
        dense: dict[str, float] = {}
        chunks: dict[str, ChunkHit] = {}
        lexical: dict[str, float] = {}
        chroma_where = _both(where, filters.where() if filters else None)
        if mode != "lexical":
            dense, chunks = self.dense_scores(
                query, max(self.candidate_chunks, pool * 2), chroma_where
            )
        if mode != "dense" and not where:
            lexical = self.lexical_scores(query, pool, filters)
        if mode == "dense" or not lexical:
            ranked = sorted(dense.items(), key=lambda item: -item[1])
        elif mode == "lexical":
            ranked = sorted(lexical.items(), key=lambda item: -item[1])
        else:
            ranked = fuse(dense, lexical, self.fusion.dense_weight)
        return ranked[:k], dense, lexical, chunks

    def retrieve(self, query: str, k: int, filters: Filters | None = None) -> list[PaperHit]:
        """The papers for `query`, best first: the one way `search`, `ask`, `chat` and
        `eval` retrieve. It goes through LlamaIndex's retriever interface
        (`llama_retriever`), the seam where LlamaIndex node postprocessors, such as
        a reranker, plug in."""
        nodes = llama_retriever(self, k, filters).retrieve(query)
        return [n.node.metadata["hit"] for n in nodes]

    def search(
        self,
        query: str,
        k: int,
        where: Mapping[str, Any] | None = None,
        filters: Filters | None = None,
    ) -> list[PaperHit]:
        ranked, dense, lexical, chunks = self.rank(query, k, where, filters)
        records = self.store.paper_records([pid for pid, _ in ranked])
        hits = []
        for pid, score in ranked:
            chunk = chunks.get(pid)
            paper = paper_from_record(records.get(pid) or (chunk.metadata if chunk else {}))
            hits.append(
                PaperHit(
                    paper_id=pid,
                    title=paper.title,
                    score=score,
                    abstract=paper.abstract or (chunk.text if chunk else ""),
                    source_files=paper.source_files,
                    dates=paper.dates,
                    external_id=paper.external_id,
                    authors=paper.authors,
                    best_chunk=chunk.text if chunk else "",
                    dense=dense.get(pid),
                    lexical=lexical.get(pid),
                    year=paper.year,
                    venue=paper.venue,
                    doi=paper.doi,
                    bibtex_key=paper.bibtex_key,
                    categories=paper.categories,
                    url=paper.url,
                    collections=paper.collections,
                    tags=paper.tags,
                )
            )
        return hits


def _both(
    first: Mapping[str, Any] | None, second: Mapping[str, Any] | None
) -> Mapping[str, Any] | None:
    if first and second:
        return {"$and": [dict(first), dict(second)]}
    return first or second


def llama_retriever(retriever: Retriever, k: int, filters: Filters | None = None) -> BaseRetriever:
    """The same ranking behind LlamaIndex's `BaseRetriever` interface."""
    from llama_index.core.retrievers import BaseRetriever
    from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

    class PaperRetriever(BaseRetriever):
        def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
            nodes = []
            for hit in retriever.search(query_bundle.query_str, k, filters=filters):
                node = TextNode(id_=hit.paper_id, text=hit.abstract, metadata={"hit": hit})
                # The hit object is for us, not for LlamaIndex's prompt rendering.
                node.excluded_llm_metadata_keys = ["hit"]
                node.excluded_embed_metadata_keys = ["hit"]
                nodes.append(NodeWithScore(node=node, score=hit.score))
            return nodes

    return PaperRetriever()
