"""Retrieval variants on a BEIR dataset (default: SciFact train), measured in one run.

Usage:
  python benchmarks/retrieval_variants.py [--bench ../shared/bench/scifact] [--no-textbook]

Variants: the textbook LlamaIndex pipeline (one Document per abstract,
VectorStoreIndex.from_documents into Chroma with HuggingFaceEmbedding, defaults),
our dense retrieval alone (title-prefixed sentence chunks, best chunk per paper),
BM25 alone (SQLite FTS5), and fusions of the two. Every variant of ours goes
through assistant's own Retriever, as `search` does.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def load_beir(folder: Path, split: str) -> tuple[Path, dict[str, str], dict[str, dict[str, float]]]:
    from assistant.evaluation.evaluate import read_qrels, read_queries

    qrels = read_qrels(folder / f"qrels_{split}.tsv")
    queries = read_queries(folder / f"queries_{split}.jsonl")
    return folder / "corpus.jsonl", {q: t for q, t in queries.items() if q in qrels}, qrels


def score(runs: dict[str, list[str]], qrels: dict[str, dict[str, float]]) -> dict[str, float]:
    from assistant.evaluation.metrics import mrr_at_k, ndcg_at_k, recall_at_k

    def mean(f: Callable[[list[str], dict[str, float]], float]) -> float:
        return statistics.fmean(f(runs[q], qrels[q]) for q in runs)

    return {
        "nDCG@10": mean(lambda r, g: ndcg_at_k(r, g, 10)),
        "R@10": mean(lambda r, g: recall_at_k(r, g, 10)),
        "R@100": mean(lambda r, g: recall_at_k(r, g, 100)),
        "MRR@10": mean(lambda r, g: mrr_at_k(r, g, 10)),
    }


def textbook(corpus: Path, queries: dict[str, str]) -> tuple[dict[str, list[str]], float]:
    """LlamaIndex as its docs show it: Documents, VectorStoreIndex, Chroma, HF embedding."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings
    from llama_index.core import Document, StorageContext, VectorStoreIndex
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding
    from llama_index.vector_stores.chroma import ChromaVectorStore

    from assistant.embedding.embedder import minilm_path
    from assistant.readers import load_abstracts

    papers, _ = load_abstracts([corpus])
    docs = [
        Document(text=p.abstract, metadata={"title": p.title}, doc_id=p.external_id or p.paper_id)
        for p in papers
    ]
    client = chromadb.PersistentClient(
        path=tempfile.mkdtemp(prefix="textbook-"),
        settings=ChromaSettings(anonymized_telemetry=False),
    )
    store = ChromaVectorStore(chroma_collection=client.create_collection("textbook"))
    embed = HuggingFaceEmbedding(model_name=str(minilm_path()), device="cpu")
    start = time.perf_counter()
    index = VectorStoreIndex.from_documents(
        docs, storage_context=StorageContext.from_defaults(vector_store=store), embed_model=embed
    )
    seconds = time.perf_counter() - start
    retriever = index.as_retriever(similarity_top_k=100)
    runs = {}
    for qid, text in queries.items():
        nodes = retriever.retrieve(text)
        runs[qid] = list(dict.fromkeys(n.node.ref_doc_id or "" for n in nodes))
    return runs, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bench", type=Path, default=ROOT.parent / "shared/bench/scifact")
    parser.add_argument("--split", default="train")
    parser.add_argument("--no-textbook", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the table as JSON here")
    parser.add_argument("--collection", help="collection name (default: eval-<dataset>)")
    args = parser.parse_args()
    os.environ.setdefault("ASSISTANT_HOME", tempfile.mkdtemp(prefix="assistant-variants-"))

    from assistant.pipeline import Pipeline
    from assistant.retrieval.retriever import fuse
    from assistant.settings import load_settings

    corpus, queries, qrels = load_beir(args.bench, args.split)
    pipeline = Pipeline(load_settings(collection=args.collection or f"eval-{args.bench.name}"))
    started = time.perf_counter()
    pipeline.ingest([corpus], rebuild=False, progress=True)
    print(f"ingest (or reuse) took {time.perf_counter() - started:.0f} s")
    retriever = pipeline.retriever

    def external(pid: str) -> str:
        return pid.split(":", 1)[1]

    dense_runs: dict[str, dict[str, float]] = {}
    lexical_runs: dict[str, dict[str, float]] = {}
    for qid, text in queries.items():
        dense_runs[qid], _ = retriever.dense_scores(text, 200)
        lexical_runs[qid] = retriever.lexical_scores(text, 100)

    def ranked(scores: dict[str, float]) -> list[str]:
        return [external(p) for p, _ in sorted(scores.items(), key=lambda i: -i[1])][:100]

    rows: list[tuple[str, dict[str, float]]] = []
    if not args.no_textbook:
        runs, seconds = textbook(corpus, queries)
        rows.append(
            (
                f"textbook LlamaIndex (1 doc/abstract, defaults; index {seconds:.0f} s)",
                score(runs, qrels),
            )
        )
    rows.append(
        (
            "dense: title-prefixed sentence chunks, best chunk per paper",
            score({q: ranked(d) for q, d in dense_runs.items()}, qrels),
        )
    )
    rows.append(
        (
            "lexical: BM25 (SQLite FTS5, porter, title x1.5)",
            score({q: ranked(d) for q, d in lexical_runs.items()}, qrels),
        )
    )
    for weight in (0.3, 0.4, 0.5, 0.6, 0.7):
        runs = {
            q: [external(p) for p, _ in fuse(dense_runs[q], lexical_runs[q], weight)][:100]
            for q in queries
        }
        rows.append((f"hybrid: weighted sum, dense weight {weight}", score(runs, qrels)))

    # Variants that did not beat the default, kept so the record is reproducible.
    def minmax(scores: dict[str, float]) -> dict[str, float]:
        low, high = min(scores.values(), default=0.0), max(scores.values(), default=1.0)
        return {p: (s - low) / ((high - low) or 1.0) for p, s in scores.items()}

    def zscore(scores: dict[str, float]) -> dict[str, float]:
        if not scores:
            return {}
        mean, sd = statistics.fmean(scores.values()), statistics.pstdev(scores.values()) or 1.0
        return {p: (s - mean) / sd for p, s in scores.items()}

    def blend(d: dict[str, float], lx: dict[str, float], w: float) -> list[str]:
        low_d, low_l = min(d.values(), default=0.0), min(lx.values(), default=0.0)
        keys = set(d) | set(lx)
        total = {p: w * d.get(p, low_d) + (1 - w) * lx.get(p, low_l) for p in keys}
        return ranked(total)

    lexical_index = retriever.lexical
    assert lexical_index is not None
    for weight in (1.0, 3.0):
        runs = {}
        for q, text in queries.items():
            lx = dict(lexical_index.search(text, 100, title_weight=weight))
            runs[q] = [external(p) for p, _ in fuse(dense_runs[q], lx, 0.5)][:100]
        rows.append((f"hybrid 0.5, BM25 title weight {weight} (default 1.5)", score(runs, qrels)))
    runs = {q: blend(minmax(dense_runs[q]), minmax(lexical_runs[q]), 0.5) for q in queries}
    rows.append(("hybrid 0.5, BM25 min-max scaled (default: divided by max)", score(runs, qrels)))
    runs = {q: blend(zscore(dense_runs[q]), zscore(lexical_runs[q]), 0.5) for q in queries}
    rows.append(("hybrid 0.5, both z-scored", score(runs, qrels)))
    for k in (60,):
        runs = {}
        for q in queries:
            rrf: dict[str, float] = {}
            for scores in (dense_runs[q], lexical_runs[q]):
                for rank, (pid, _) in enumerate(sorted(scores.items(), key=lambda i: -i[1])):
                    rrf[pid] = rrf.get(pid, 0.0) + 1.0 / (k + rank + 1)
            runs[q] = ranked(rrf)
        rows.append((f"hybrid: reciprocal rank fusion, k={k}", score(runs, qrels)))

    latencies = []
    for text in list(queries.values())[:200]:
        t0 = time.perf_counter()
        retriever.search(text, 10)
        latencies.append(time.perf_counter() - t0)
    from assistant.evaluation.metrics import percentile

    cores = os.cpu_count()
    print(f"\nmachine: {platform.machine()}, {cores} cores; {len(queries)} queries ({args.split})")
    print("| variant | nDCG@10 | R@10 | R@100 | MRR@10 |")
    print("|---|---|---|---|---|")
    for name, m in rows:
        cells = " | ".join(f"{m[key]:.4f}" for key in ("nDCG@10", "R@10", "R@100", "MRR@10"))
        print(f"| {name} | {cells} |")
    print(
        f"\nwarm search latency (default settings, {len(latencies)} queries): "
        f"p50 {percentile(latencies, 50) * 1000:.0f} ms, "
        f"p95 {percentile(latencies, 95) * 1000:.0f} ms"
    )
    if args.json:
        args.json.write_text(json.dumps({n: m for n, m in rows}, indent=2))


if __name__ == "__main__":
    main()
