"""How store size, memory and search latency grow with the collection, and what that implies.

Usage: nice -n 19 python benchmarks/scaling.py [--sizes 10000,100000,1000000] [--out DIR]
       [--keep] [--embed-rate 30] [--json FILE]

Grows one persistent Chroma collection (same client settings and collection configuration
as assistant/store.py) and one FTS5 BM25 table (assistant.index.lexical's schema) through each
size in turn, so a larger size only adds the chunks it lacks. At each size it measures,
each in a new process of its own (this script runs itself with --child): insert rate,
disk (du), peak RSS, the first query after opening the store, warm query latency, HNSW
recall@10 against exact top-10, and BM25 latency. The vectors are synthetic but shaped
like MiniLM embeddings of abstracts (see `Shape`). Then it extrapolates to an arXiv-sized
corpus. The report (markdown) goes to stdout, progress to stderr.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

# Before chromadb is imported anywhere in this process or its children.
os.environ["ANONYMIZED_TELEMETRY"] = "False"

import numpy as np

from assistant.domain import Paper
from assistant.index.chunking import Chunk
from assistant.index.lexical import LexicalIndex
from assistant.index.records import chunk_metadata
from assistant.index.store import Fingerprint, chunk_id
from assistant.offline import enforce_offline

DIM = 384
# Chunks per write: Store.add_chunks writes batches of 1000; one block is one write.
BLOCK = 1000
# Papers per ingest step (ingest._PAPERS_PER_STEP): one BM25 upsert call per step.
PAPERS_PER_STEP = 256
# What retrieval asks the store for with the default settings: Retriever.rank asks for
# max(candidate_chunks=50, 2 * fusion_pool=100) chunks, and BM25 for fusion_pool papers.
DENSE_N_RESULTS = 200
BM25_N = 100
COLLECTION = "scaling"
SOURCE_FILE = "arxiv-metadata-oai-snapshot.json"
MIB = 1024 * 1024
GIB = 1024 * MIB

# Chunks per paper, as in the SciFact store ingested with the default chunking
# (10,604 chunks of 5,183 abstracts: 1 to 5 and more chunks, mean 2.05).
CHUNKS_PER_PAPER = np.array([0.28, 0.49, 0.17, 0.04, 0.02])
MEAN_CHUNKS_PER_PAPER = float(np.dot(CHUNKS_PER_PAPER, np.arange(1, 6)))

# The real thing to compare the synthetic vectors with: MiniLM chunk vectors of the
# SciFact abstracts (10,604 chunks, read from a store built by `assistant eval`).
REAL_REFERENCE = {
    "mean cosine of two random chunks": 0.120,
    "cosine between two chunks of one paper": 0.854,
    "nearest chunk of another paper, cosine": 0.672,
    "10th nearest (other papers), cosine": 0.550,
    "60th nearest (other papers), cosine": 0.445,
    "variance in the top 10 / 50 / 100 principal axes": "0.29 / 0.59 / 0.77",
    "document characters (mean)": 875,
    "metadata JSON bytes (mean)": 996,
}


@dataclass(frozen=True)
class Shape:
    """The synthetic vectors: clustered, anisotropic, several chunks per paper.

    A chunk is `common * m + centre + paper_noise * g + chunk_noise * g'` made unit length,
    where m is one direction shared by all (MiniLM vectors have a non-zero mean), the
    centre is one of `centres` cluster centres, each grouped under one of `topics`, and
    every noise g is Gaussian with a power-law spectrum (variance of the i-th axis of a
    random rotation falls as i^(-2 * spectrum_decay)), as real embeddings put most of
    their variance in a few dozen directions. Chunks of one paper share the paper term.
    The values were tuned so that 10k synthetic chunks match REAL_REFERENCE.
    """

    centres: int = 2000
    topics: int = 20
    spectrum_decay: float = 0.38
    common: float = 0.42
    centre_scale: float = 0.7
    topic_scale: float = 0.7
    paper_noise: float = 0.62
    chunk_noise: float = 0.52

    def describe(self) -> str:
        return (
            f"clustered: {self.centres} random centres under {self.topics} topics, one shared "
            f"mean direction (weight {self.common}), anisotropic Gaussian noise (power-law "
            f"spectrum, decay {self.spectrum_decay}) per paper ({self.paper_noise}) and per "
            f"chunk ({self.chunk_noise}), unit length"
        )


@dataclass(frozen=True)
class Block:
    """One write's worth of synthetic chunks (BLOCK of them), whole papers only."""

    ids: list[str]
    vectors: np.ndarray
    documents: list[str]
    metadatas: list[dict[str, Any]]
    lexical_rows: list[tuple[str, str, str]]


class SyntheticCorpus:
    """Deterministic synthetic papers: block `b` is the same whatever else is made."""

    def __init__(self, seed: int, shape: Shape) -> None:
        self.seed = seed
        self.shape = shape
        rng = np.random.default_rng(seed)
        rotation, _ = np.linalg.qr(rng.standard_normal((DIM, DIM)))
        spectrum = np.arange(1, DIM + 1, dtype=np.float64) ** -shape.spectrum_decay
        spectrum /= math.sqrt(float((spectrum**2).sum()))  # E|noise|^2 = 1
        self._mix = (spectrum[:, None] * rotation.T).astype(np.float32)
        mean = rng.standard_normal(DIM)
        self._mean = (shape.common * mean / np.linalg.norm(mean)).astype(np.float32)
        topics = shape.topic_scale * self._noise(rng, shape.topics)
        centres = shape.centre_scale * self._noise(rng, shape.centres)
        self._centres = centres + topics[rng.integers(0, shape.topics, shape.centres)]
        # Text: a Zipf-distributed vocabulary (s = 1.07) of made-up words, shorter when
        # frequent, as in English.
        vocab = 50_000
        ranks = np.arange(1, vocab + 1)
        lengths = np.clip(np.round(0.8 * np.log2(ranks + 1) + rng.normal(0, 1, vocab)), 2, 14)
        letters = np.array(list("etaoinshrdlcumwfgypbvkjxqz"))
        letter_p = 1.0 / np.arange(1, 27) ** 0.8
        letter_p /= letter_p.sum()
        self.words = np.array(
            ["".join(rng.choice(letters, int(n), p=letter_p)) for n in lengths], dtype=object
        )
        weights = 1.0 / ranks**1.07
        self._word_cdf = np.cumsum(weights / weights.sum())
        self._names = np.array(
            [
                "".join(rng.choice(letters, int(n), p=letter_p)).title()
                for n in rng.integers(3, 10, 5000)
            ],
            dtype=object,
        )
        prefixes = ["cs", "math", "physics", "stat", "q-bio", "eess", "cond-mat", "astro-ph"]
        self._categories = [
            f"{p}.{a}{b}" for p in prefixes for a in "ACDGLMNOPRS" for b in "EILOPRTVY"
        ][:150]

    @staticmethod
    def _rng(*key: int) -> np.random.Generator:
        return np.random.default_rng([*key])

    def _noise(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.standard_normal((n, DIM), dtype=np.float32) @ self._mix

    def _layout(self, block: int) -> tuple[np.random.Generator, np.ndarray]:
        """The block's vector generator and its papers' chunk counts (summing to BLOCK)."""
        rng = self._rng(self.seed, block, 0)
        counts = rng.choice(len(CHUNKS_PER_PAPER), BLOCK, p=CHUNKS_PER_PAPER) + 1
        last = int(np.searchsorted(np.cumsum(counts), BLOCK))
        counts = counts[: last + 1].copy()
        counts[-1] -= int(counts.sum()) - BLOCK  # the last paper is cut to fit
        return rng, counts

    def _vectors(self, rng: np.random.Generator, counts: np.ndarray) -> np.ndarray:
        papers = (
            self._mean
            + self._centres[rng.integers(0, self.shape.centres, len(counts))]
            + self.shape.paper_noise * self._noise(rng, len(counts))
        )
        vectors = papers[np.repeat(np.arange(len(counts)), counts)]
        vectors += self.shape.chunk_noise * self._noise(rng, int(counts.sum()))
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors.astype(np.float32)

    @staticmethod
    def paper_id(block: int, index: int) -> str:
        # Shaped like a new-style arXiv id (yymm.nnnnn), unique per (block, paper).
        return f"arxiv:{block:04d}.{index:05d}"

    def block_vectors(self, block: int) -> tuple[list[str], np.ndarray]:
        """The block's chunk ids and vectors, without making its text."""
        rng, counts = self._layout(block)
        ids = [chunk_id(self.paper_id(block, p), i) for p, n in enumerate(counts) for i in range(n)]
        return ids, self._vectors(rng, counts)

    def block_papers(self, block: int) -> Iterator[tuple[Paper, int]]:
        """The block's papers and their chunk counts (abstract about 100 words a chunk)."""
        _, counts = self._layout(block)
        yield from self._papers(self._rng(self.seed, block, 1), counts, block)

    def _words(self, rng: np.random.Generator, n: int, lowest_rank: int = 0) -> list[str]:
        low = self._word_cdf[lowest_rank - 1] if lowest_rank else 0.0
        picks = np.searchsorted(self._word_cdf, rng.uniform(low, 1.0, n))
        return list(self.words[np.minimum(picks, len(self.words) - 1)])

    def _papers(
        self, rng: np.random.Generator, counts: Sequence[int] | np.ndarray, block: int
    ) -> Iterator[tuple[Paper, int]]:
        for index, n in enumerate(counts):
            n = int(n)
            external = self.paper_id(block, index).removeprefix("arxiv:")
            title = " ".join(self._words(rng, int(rng.integers(6, 15)))).capitalize()
            words = self._words(rng, max(40, 100 * n + int(rng.integers(-40, 41))))
            abstract = ". ".join(
                " ".join(words[i : i + 20]).capitalize() for i in range(0, len(words), 20)
            )
            authors = tuple(
                f"{a} {b}" for a, b in rng.choice(self._names, (int(rng.integers(1, 9)), 2))
            )
            categories = tuple(
                str(c) for c in rng.choice(self._categories, int(rng.integers(1, 4)), False)
            )
            year = int(rng.integers(1991, 2026))
            doi = f"10.{int(rng.integers(1000, 9999))}/s{external}" if rng.random() < 0.35 else None
            paper = Paper(
                f"arxiv:{external}",
                title,
                abstract,
                (SOURCE_FILE,),
                (f"{year}-{int(rng.integers(1, 13)):02d}-{int(rng.integers(1, 29)):02d}",),
                external,
                authors,
                categories,
                year=year,
                doi=doi,
                version=f"v{int(rng.integers(1, 5))}",
            )
            yield paper, n

    @staticmethod
    def chunk_texts(paper: Paper, n: int) -> list[str]:
        """The paper's abstract cut into `n` pieces, each with the title and a 20-word overlap."""
        words = paper.abstract.split()
        size = math.ceil(len(words) / n)
        return [
            paper.title + ". " + " ".join(words[max(0, i * size - 20) : (i + 1) * size])
            for i in range(n)
        ]

    def block(self, block: int) -> Block:
        ids, vectors = self.block_vectors(block)
        documents: list[str] = []
        metadatas: list[dict[str, Any]] = []
        rows: list[tuple[str, str, str]] = []
        for paper, n in self.block_papers(block):
            rows.append((paper.paper_id, paper.title, paper.abstract))
            for i, text in enumerate(self.chunk_texts(paper, n)):
                documents.append(text)
                metadatas.append(chunk_metadata(paper, Chunk(paper.paper_id, i, text), n))
        return Block(ids, vectors, documents, metadatas, rows)

    def query_vectors(self, n: int) -> np.ndarray:
        """Questions: a chunk of a new paper, drawn like the others (near a topic, no twin)."""
        rng = self._rng(self.seed, 2**31 - 1, 0)
        return self._vectors(rng, np.ones(n, dtype=np.int64))

    def query_texts(self, n: int) -> list[str]:
        """Six terms each, none among the 150 most frequent (the query drops stopwords)."""
        rng = self._rng(self.seed, 2**31 - 1, 1)
        return [" ".join(self._words(rng, 6, lowest_rank=150)) for _ in range(n)]

    def probe_papers(self, n: int, salt: int) -> list[tuple[str, str, str]]:
        """Fresh papers for one BM25 ingest step (ids that no block uses)."""
        rng = self._rng(self.seed, 2**31 - 2, salt)
        rows = []
        for paper, _ in self._papers(rng, [2] * n, 9000 + salt):
            rows.append((paper.paper_id.replace("arxiv:", "probe:"), paper.title, paper.abstract))
        return rows


# Measuring ------------------------------------------------------------------------------


def peak_rss() -> int:
    """This process's peak resident set, in bytes (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def current_rss() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def disk_usage(path: Path) -> int:
    """Bytes allocated on disk under `path`, as `du` counts them."""
    if not path.exists():
        return 0
    done = subprocess.run(["du", "-sk", str(path)], capture_output=True, text=True, check=True)
    return int(done.stdout.split()[0]) * 1024


def store_disk(store: Path) -> dict[str, int]:
    hnsw = sum(disk_usage(p) for p in store.iterdir() if p.is_dir())
    total = disk_usage(store)
    return {"total": total, "hnsw": hnsw, "sqlite": total - hnsw}


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def open_client(store: Path) -> Any:
    """A client made exactly as Store._client_for makes it."""
    enforce_offline()
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    store.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(
        path=str(store), settings=ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    )


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# The child processes -------------------------------------------------------------------


def child_insert(spec: dict[str, Any]) -> dict[str, Any]:
    """Grow the collection and the BM25 table from spec['start'] to spec['stop'] chunks."""
    started = time.perf_counter()
    corpus = SyntheticCorpus(spec["seed"], Shape())
    store, lexical = Path(spec["store"]), Path(spec["lexical"])
    client = open_client(store)
    collection = client.get_or_create_collection(
        COLLECTION,
        metadata=Fingerprint("synthetic-clustered-384", "synthetic").as_metadata(),
        configuration={"hnsw": {"space": "cosine"}},
        embedding_function=None,
    )
    LexicalIndex(lexical).close()  # creates the table with the real schema
    # Filling: plain INSERTs into that table (LexicalIndex.upsert is timed separately,
    # below: its per-paper DELETE scans the whole table, see the report).
    fill = sqlite3.connect(str(lexical))
    times = {"generate": 0.0, "chroma": 0.0, "bm25": 0.0}
    papers = 0
    reached = spec["start"]
    deadline = started + spec["limit_s"]
    for block in range(spec["start"] // BLOCK, spec["stop"] // BLOCK):
        t0 = time.perf_counter()
        made = corpus.block(block)
        t1 = time.perf_counter()
        collection.upsert(
            ids=made.ids,
            embeddings=made.vectors,
            documents=made.documents,
            metadatas=made.metadatas,
        )
        t2 = time.perf_counter()
        with fill:
            fill.executemany(
                "INSERT INTO papers (paper_id, title, abstract) VALUES (?, ?, ?)",
                made.lexical_rows,
            )
        t3 = time.perf_counter()
        times["generate"] += t1 - t0
        times["chroma"] += t2 - t1
        times["bm25"] += t3 - t2
        papers += len(made.lexical_rows)
        reached = (block + 1) * BLOCK
        if block % 50 == 49:
            done = reached - spec["start"]
            progress(
                f"  {reached:,} chunks; chroma {done / times['chroma']:.0f} chunks/s, "
                f"RSS {current_rss() / MIB:.0f} MiB"
            )
        if time.perf_counter() > deadline and reached < spec["stop"]:
            progress(f"  time limit reached: stopping at {reached:,} chunks")
            break
    fill.close()
    t0 = time.perf_counter()
    count = int(collection.count())
    client.close()
    times["close"] = time.perf_counter() - t0
    result: dict[str, Any] = {
        "reached": reached,
        "count": count,
        "papers_added": papers,
        "seconds": times,
        "peak_rss": peak_rss(),
        "wall_s": time.perf_counter() - started,
    }
    if spec["probe"]:
        # One ingest step of the BM25 side exactly as ingest does it.
        rows = corpus.probe_papers(PAPERS_PER_STEP, salt=reached // BLOCK)
        index = LexicalIndex(lexical)
        t0 = time.perf_counter()
        index.present([r[0] for r in rows])
        index.upsert(rows)
        result["bm25_step_s"] = time.perf_counter() - t0
        result["bm25_rows_at_probe"] = index.count() - len(rows)
        index.close()
    return result


def child_query(spec: dict[str, Any]) -> dict[str, Any]:
    """Cold and warm latencies, RSS, recall, in a process that has not touched the store."""
    t0 = time.perf_counter()
    enforce_offline()
    import chromadb  # noqa: F401  (timed on its own)

    import_s = time.perf_counter() - t0
    corpus = SyntheticCorpus(spec["seed"], Shape())
    n_queries, n_recall = spec["queries"], spec["recall_queries"]
    queries = corpus.query_vectors(n_queries + 1)
    full = ["documents", "metadatas", "distances"]  # what Store.query asks for
    t0 = time.perf_counter()
    client = open_client(Path(spec["store"]))
    collection = client.get_collection(COLLECTION, embedding_function=None)
    open_s = time.perf_counter() - t0
    rss_open = current_rss()
    t0 = time.perf_counter()
    collection.query(query_embeddings=queries[-1:], n_results=DENSE_N_RESULTS, include=full)
    cold_s = time.perf_counter() - t0
    rss_loaded = current_rss()

    def timed_queries(n_results: int, include: list[str]) -> tuple[list[float], list[list[str]]]:
        latencies, ids = [], []
        for q in queries[:n_queries]:
            t = time.perf_counter()
            got = collection.query(
                query_embeddings=q[None, :], n_results=n_results, include=include
            )
            latencies.append(time.perf_counter() - t)
            ids.append(list(got["ids"][0]))
        return latencies, ids

    warm, warm_ids = timed_queries(DENSE_N_RESULTS, full)
    ann, _ = timed_queries(DENSE_N_RESULTS, ["distances"])
    top10: list[list[str]] = []
    for q in queries[:n_recall]:
        got = collection.query(query_embeddings=q[None, :], n_results=10, include=["distances"])
        top10.append(list(got["ids"][0]))
    configuration = collection.configuration
    hnsw_config = dict(configuration.get("hnsw") or {}) if configuration else {}
    rss_peak_chroma = peak_rss()
    rss_chroma = current_rss()

    # BM25, opened as `search` opens it.
    texts = corpus.query_texts(n_queries + 1)
    t0 = time.perf_counter()
    lexical = LexicalIndex.for_reading(Path(spec["lexical"]))
    lexical.search(texts[-1], BM25_N)
    bm25_cold_s = time.perf_counter() - t0
    bm25 = []
    for text in texts[:n_queries]:
        t = time.perf_counter()
        lexical.search(text, BM25_N)
        bm25.append(time.perf_counter() - t)
    lexical.close()

    # Exact top-10 by brute force, regenerating the vectors block by block.
    t0 = time.perf_counter()
    q = queries[:n_recall]
    best_sim = np.full((n_recall, 10), -2.0, dtype=np.float32)
    best_idx = np.zeros((n_recall, 10), dtype=np.int64)
    blocks = spec["count"] // BLOCK
    for block in range(blocks):
        _, vectors = corpus.block_vectors(block)
        sims = np.concatenate([best_sim, q @ vectors.T], axis=1)
        idx = np.concatenate(
            [best_idx, np.broadcast_to(np.arange(BLOCK) + block * BLOCK, (n_recall, BLOCK))],
            axis=1,
        )
        keep = np.argpartition(-sims, 9, axis=1)[:, :10]
        best_sim = np.take_along_axis(sims, keep, axis=1)
        best_idx = np.take_along_axis(idx, keep, axis=1)
    ids_of: dict[int, list[str]] = {}
    exact: list[set[str]] = []
    for row in best_idx:
        names = set()
        for i in row:
            block = int(i) // BLOCK
            if block not in ids_of:
                ids_of[block] = corpus.block_vectors(block)[0]
            names.add(ids_of[block][int(i) % BLOCK])
        exact.append(names)
    exact_s = time.perf_counter() - t0
    recall10 = statistics.mean(len(e & set(h)) / 10 for e, h in zip(exact, top10, strict=True))
    recall_in_n = statistics.mean(
        len(e & set(h)) / 10 for e, h in zip(exact, warm_ids, strict=False)
    )
    sorted_sims = -np.sort(-best_sim, axis=1)
    return {
        "import_chromadb_s": import_s,
        "open_s": open_s,
        "cold_query_s": cold_s,
        "warm_s": warm,
        "ann_only_s": ann,
        "recall_at_10": recall10,
        "exact_top10_in_n_results": recall_in_n,
        "query_nn1_cosine": float(sorted_sims[:, 0].mean()),
        "query_nn10_cosine": float(sorted_sims[:, 9].mean()),
        "rss_after_open": rss_open,
        "rss_after_first_query": rss_loaded,
        "rss_after_warm": rss_chroma,
        "peak_rss": rss_peak_chroma,
        "bm25_cold_s": bm25_cold_s,
        "bm25_s": bm25,
        "exact_s": exact_s,
        "hnsw": hnsw_config,
    }


def run_child(kind: str, spec: dict[str, Any], workdir: Path) -> dict[str, Any]:
    out = workdir / f"child-{kind}.json"
    spec = {**spec, "result": str(out)}
    subprocess.run(
        [sys.executable, __file__, "--child", kind, "--child-spec", json.dumps(spec)],
        check=True,
        env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
    )
    result: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    out.unlink()
    return result


# The synthetic data checked against the real ---------------------------------------------


def structure_check(corpus: SyntheticCorpus, chunks: int = 10_000) -> dict[str, Any]:
    """The statistics of REAL_REFERENCE, on the first `chunks` synthetic chunks."""
    ids: list[str] = []
    parts = []
    for block in range(chunks // BLOCK):
        got_ids, vectors = corpus.block_vectors(block)
        ids += got_ids
        parts.append(vectors)
    x = np.concatenate(parts)
    papers = np.array([i.split("#")[0] for i in ids])
    first_chunk = np.array([i.endswith("#0") for i in ids])
    second = np.flatnonzero(np.array([i.endswith("#1") for i in ids]))
    same = float(np.mean(np.sum(x[second] * x[second - 1], axis=1)))
    pair_sum, pairs, nn = 0.0, 0, []
    for start in range(0, len(x), 2000):
        sims = x[start : start + 2000] @ x.T
        pair_sum += float(sims.sum()) - float(np.trace(sims[:, start : start + 2000]))
        pairs += sims.shape[0] * (len(x) - 1)
        sims[papers[start : start + 2000, None] == papers[None, :]] = -2.0
        nn.append(-np.sort(-sims, axis=1)[:, [0, 9, 59]])
    near = np.concatenate(nn).mean(axis=0)
    variance = np.linalg.svd(x - x.mean(axis=0), compute_uv=False) ** 2
    share = np.cumsum(variance / variance.sum())
    block = corpus.block(0)
    return {
        "chunks": len(x),
        "papers": int(first_chunk.sum()),
        "mean cosine of two random chunks": pair_sum / pairs,
        "cosine between two chunks of one paper": same,
        "nearest chunk of another paper, cosine": float(near[0]),
        "10th nearest (other papers), cosine": float(near[1]),
        "60th nearest (other papers), cosine": float(near[2]),
        "variance in the top 10 / 50 / 100 principal axes": (
            f"{share[9]:.2f} / {share[49]:.2f} / {share[99]:.2f}"
        ),
        "document characters (mean)": statistics.mean(len(d) for d in block.documents),
        "metadata JSON bytes (mean)": statistics.mean(len(json.dumps(m)) for m in block.metadatas),
        "abstract characters (mean)": statistics.mean(len(r[2]) for r in block.lexical_rows),
    }


# Reporting ---------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    import chromadb

    cpu = "unknown"
    with open("/proc/cpuinfo", encoding="utf-8") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo", encoding="ascii") as info:
        ram = int(info.readline().split()[1]) * 1024
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_bytes": ram,
        "arch": platform.machine(),
        "python": platform.python_version(),
        "chromadb": chromadb.__version__,
        "numpy": np.__version__,
        "sqlite": sqlite3.sqlite_version,
        "niceness": os.nice(0),
    }


def duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def size(n_bytes: float) -> str:
    return f"{n_bytes / GIB:.2f} GiB" if n_bytes >= GIB else f"{n_bytes / MIB:.0f} MiB"


def through(
    points: Sequence[tuple[float, float]], x: float, log: bool = False, grows: bool = True
) -> float:
    """The value at `x` of the line through the last two points (in log x if `log`).

    With `grows`, never below the last point: a quantity that cannot shrink with the
    collection (disk, latency) is not extrapolated downwards from noise.
    """
    if len(points) == 1:
        (x0, y0) = points[0]
        return y0 if log else y0 * x / x0  # one point: constant, or proportional
    (x0, y0), (x1, y1) = points[-2], points[-1]
    f = math.log if log else float
    value = y1 + (y1 - y0) * (f(x) - f(x1)) / (f(x1) - f(x0))
    return max(value, y1) if grows else value


def extrapolate(rows: list[dict[str, Any]], args: argparse.Namespace, ram: int) -> dict[str, Any]:
    n = args.target_chunks
    papers = args.target_papers
    xs = [float(r["chunks"]) for r in rows]

    def pts(key: str) -> list[tuple[float, float]]:
        return list(zip(xs, [float(r[key]) for r in rows], strict=True))

    last = rows[-1]
    store_rate = last["chroma_rate"]
    embed_s = n / args.embed_rate
    write_s = n / store_rate
    steps = math.ceil(papers / PAPERS_PER_STEP)
    # BM25 as ingest writes it: each step's cost grows with the rows already there.
    probes = [
        (float(r["bm25_rows_at_probe"]), r["bm25_step_s"]) for r in rows if "bm25_step_s" in r
    ]
    if len(probes) >= 2:
        (r0, t0), (r1, t1) = probes[-2], probes[-1]
        per_row = max((t1 - t0) / (r1 - r0), 0.0)
        fixed = max(t1 - per_row * r1, 0.0)
    elif probes:
        fixed, per_row = 0.0, probes[0][1] / max(probes[0][0], 1.0)
    else:
        fixed = per_row = float("nan")
    bm25_upsert_s = steps * fixed + per_row * PAPERS_PER_STEP * steps * (steps - 1) / 2
    bm25_bulk_s = papers / last["bm25_rate"]
    return {
        "target_chunks": n,
        "target_papers": papers,
        "embed_rate": args.embed_rate,
        "disk_bytes": through(pts("disk_total"), n),
        "hnsw_disk_bytes": through(pts("disk_hnsw"), n),
        "query_rss_bytes": through(pts("query_rss_warm"), n),
        "machine_ram_bytes": ram,
        "warm_p50_s": through(pts("warm_p50"), n, log=True),
        "warm_p95_s": through(pts("warm_p95"), n, log=True),
        "ann_p50_s": through(pts("ann_p50"), n, log=True),
        "cold_query_s": through(pts("cold_query"), n),
        "recall_at_10": min(1.0, through(pts("recall_at_10"), n, log=True, grows=False)),
        "bm25_disk_bytes": through(pts("bm25_disk"), n),
        "bm25_p50_s": through(pts("bm25_p50"), n),
        "embed_s": embed_s,
        "chroma_write_s": write_s,
        "bm25_upsert_s": bm25_upsert_s,
        "bm25_bulk_s": bm25_bulk_s,
        "bm25_step_per_row_s": per_row,
        "bm25_step_fixed_s": fixed,
    }


def implications(ex: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    n, ram = ex["target_chunks"], ex["machine_ram_bytes"]
    fits = ex["query_rss_bytes"] < 0.8 * ram
    ingest_s = ex["embed_s"] + ex["chroma_write_s"] + ex["bm25_upsert_s"]
    largest = rows[-1]["chunks"]
    parts = [
        f"At {n / 1e6:.1f}M chunks ({ex['target_papers'] / 1e6:.1f}M abstracts) the Chroma store "
        f"would take about {size(ex['disk_bytes'])} on disk (HNSW files "
        f"{size(ex['hnsw_disk_bytes'])}), and a process that has searched it holds about "
        f"{size(ex['query_rss_bytes'])} resident: "
        + (
            f"that fits in this machine's {size(ram)} with room to spare."
            if fits
            else f"more than 80% of this machine's {size(ram)}, so it would not fit comfortably."
        ),
        f"A warm dense query (n_results={DENSE_N_RESULTS}, with documents and metadata) would "
        f"take about {ex['warm_p50_s'] * 1000:.0f} ms p50 / {ex['warm_p95_s'] * 1000:.0f} ms p95 "
        f"(the HNSW search alone {ex['ann_p50_s'] * 1000:.0f} ms: the rest is reading the "
        f"documents and metadata of the {DENSE_N_RESULTS} results), but the first query of a "
        f"fresh process would take about {ex['cold_query_s']:.1f} s, which is loading the "
        f"index: a one-shot `search` pays that every time, a REPL or server once.",
        f"BM25 queries grow with the table (OR over the question's terms scores every "
        f"matching row): about {ex['bm25_p50_s'] * 1000:.0f} ms p50, "
        f"{size(ex['bm25_disk_bytes'])} on disk.",
        f"Recall@10 of HNSW against exact search would be about {ex['recall_at_10']:.2f} "
        f"(measured {rows[0]['recall_at_10']:.2f} at {rows[0]['chunks']:,} and "
        f"{rows[-1]['recall_at_10']:.2f} at {largest:,} chunks with Chroma's default ef).",
        (
            "Ingest is dominated by embedding"
            if ex["embed_s"] > ex["chroma_write_s"]
            else "Ingest is dominated by the Chroma writes"
        )
        + f": {duration(ex['embed_s'])} of embedding at {ex['embed_rate']:g} chunks/s, "
        f"{duration(ex['chroma_write_s'])} of Chroma writes at the "
        f"{rows[-1]['chroma_rate']:.0f} chunks/s measured at {largest:,}.",
    ]
    if math.isfinite(ex["bm25_upsert_s"]) and ex["bm25_upsert_s"] > ex["chroma_write_s"]:
        parts.append(
            f"Except for the BM25 side as ingest writes it today: LexicalIndex.upsert runs a "
            f"DELETE per paper on the UNINDEXED paper_id column, which scans the whole FTS5 "
            f"table, so each {PAPERS_PER_STEP}-paper step costs "
            f"{ex['bm25_step_per_row_s'] * 1e6:.1f} us per row already stored and the whole "
            f"corpus would take about {duration(ex['bm25_upsert_s'])} (quadratic), against "
            f"{duration(ex['bm25_bulk_s'])} with plain inserts: that must change before "
            f"an arXiv-sized ingest."
        )
    parts.append(f"End to end: about {duration(ingest_s)} of ingest on this machine.")
    return " ".join(parts)


def render(report: dict[str, Any]) -> str:
    m, rows, ex = report["machine"], report["rows"], report["extrapolation"]
    out = [
        f"## Scaling with the collection: {report['sizes']} chunks (synthetic), {report['date']}",
        "",
        f"Command: `{report['command']}` (niceness {m['niceness']})",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {size(m['ram_bytes'])} RAM, {m['arch']}; "
        f"Python {m['python']}, chromadb {m['chromadb']}, numpy {m['numpy']}, SQLite "
        f"{m['sqlite']}. Load average {report['load_before']} before, {report['load_after']} "
        f"after (the 2 cores are shared).",
        "",
        f"Chroma collection: the store's client settings and configuration "
        f"(`{{'hnsw': {{'space': 'cosine'}}}}`, giving {report['hnsw']}); writes of "
        f"{BLOCK} chunks with `upsert`, documents and the metadata keys of "
        f"`ingest.chunk_metadata` for an arXiv record ({report['metadata_keys']}). "
        f"BM25: `assistant.index.lexical`'s FTS5 table, "
        f"one row per paper, filled with plain INSERTs; `LexicalIndex.upsert` (what ingest "
        f"calls) timed on one {PAPERS_PER_STEP}-paper step at each size.",
        "",
        f"Vectors: synthetic, {report['shape']}. Text: titles and abstracts of words drawn from "
        f"a Zipf vocabulary (50,000 made-up words, s = 1.07), about 100 words per chunk; "
        f"1 to 5 chunks per paper as in SciFact. Queries: {report['queries']} fresh vectors "
        f"drawn like the chunks (warm latency), the first {report['recall_queries']} for "
        f"recall; BM25 queries are 6 terms each outside the 150 most frequent words.",
        "",
        "Synthetic against real (MiniLM chunk vectors of SciFact, 10,604 chunks):",
        "",
        "| statistic | synthetic (first 10k chunks) | real |",
        "|---|---|---|",
    ]
    check = report["structure"]
    for key, real in REAL_REFERENCE.items():
        mine = check[key]
        shown = f"{mine:.3f}" if isinstance(mine, float) and mine < 2 else str(mine)
        if isinstance(mine, float) and mine >= 2:
            shown = f"{mine:.0f}"
        out.append(f"| {key} | {shown} | {real} |")
    out += [
        "",
        "### Chroma (dense)",
        "",
        "| chunks | papers | insert (chunks/s, this step) | disk: total (HNSW + SQLite) | "
        "disk per chunk | peak RSS, insert process | RSS, query process: after first query / "
        "after all queries | open client | first query (cold) | "
        "warm p50 / p95 (n=200, docs + metadata) | HNSW only p50 | recall@10 | "
        "exact top-10 within the 200 |",
        "|" + "---|" * 13,
    ]
    for r in rows:
        label = f"{r['chunks']:,}" + ("" if r["complete"] else f" (of {r['target']:,})")
        out.append(
            f"| {label} | {r['papers']:,} | {r['chroma_rate']:.0f} | "
            f"{size(r['disk_total'])} ({size(r['disk_hnsw'])} + {size(r['disk_sqlite'])}) | "
            f"{r['disk_total'] / r['chunks'] / 1024:.1f} KiB | {size(r['insert_peak_rss'])} | "
            f"{size(r['query_rss_loaded'])} / {size(r['query_rss_warm'])} | "
            f"{r['open_s'] * 1000:.0f} ms | {r['cold_query'] * 1000:.0f} ms | "
            f"{r['warm_p50'] * 1000:.1f} / {r['warm_p95'] * 1000:.1f} ms | "
            f"{r['ann_p50'] * 1000:.1f} ms | {r['recall_at_10']:.3f} | "
            f"{r['exact_top10_in_n']:.3f} |"
        )
    out += [
        "",
        "### BM25 (SQLite FTS5, one row per paper)",
        "",
        "| chunks | rows (papers) | fill (plain INSERT, rows/s) | disk | first query (cold) | "
        f"warm p50 / p95 (n={BM25_N}) | one ingest step via LexicalIndex.upsert "
        f"({PAPERS_PER_STEP} papers) |",
        "|" + "---|" * 7,
    ]
    for r in rows:
        step = f"{r['bm25_step_s']:.2f} s" if "bm25_step_s" in r else "not run"
        out.append(
            f"| {r['chunks']:,} | {r['bm25_rows']:,} | {r['bm25_rate']:.0f} | "
            f"{size(r['bm25_disk'])} | {r['bm25_cold'] * 1000:.0f} ms | "
            f"{r['bm25_p50'] * 1000:.1f} / {r['bm25_p95'] * 1000:.1f} ms | {step} |"
        )
    out += [
        "",
        "### Stage wall times",
        "",
        "| chunks | insert process (generate / Chroma / BM25 fill / close / upsert step) | "
        "query process (of which exact top-10) | disk measurement |",
        "|---|---|---|---|",
    ]
    for r in rows:
        s = r["insert_seconds"]
        out.append(
            f"| {r['chunks']:,} | {duration(r['insert_wall'])} ({s['generate']:.0f} / "
            f"{s['chroma']:.0f} / {s['bm25']:.0f} / {s['close']:.0f} / "
            f"{r.get('bm25_step_s', 0.0):.0f} s) | {duration(r['query_wall'])} "
            f"({r['exact_s']:.0f} s) | {r['du_s']:.0f} s |"
        )
    for note in report["notes"]:
        out += ["", note]
    n = ex["target_chunks"]
    out += [
        "",
        f"### Extrapolated to an arXiv-sized corpus ({ex['target_papers'] / 1e6:.1f}M abstracts, "
        f"{n / 1e6:.1f}M chunks)",
        "",
        ("Only one size was measured, so this is crude (proportional). " if len(rows) < 2 else "")
        + "Lines through the two largest measured points: linear in chunks for disk, RSS, cold "
        "query and BM25; linear in log(chunks) for warm dense latency and recall (HNSW search "
        "grows about logarithmically). Ingest: embedding at `--embed-rate` "
        f"{ex['embed_rate']:g} chunks/s, Chroma writes at the largest step's rate, BM25 upsert "
        "per step growing linearly with the rows stored (fitted on the probes).",
        "",
        "| quantity | at the target |",
        "|---|---|",
        f"| Chroma disk (of which HNSW) | {size(ex['disk_bytes'])} "
        f"({size(ex['hnsw_disk_bytes'])}) |",
        f"| RSS of a query process | {size(ex['query_rss_bytes'])} "
        f"(machine: {size(ex['machine_ram_bytes'])}) |",
        f"| first query in a new process | {ex['cold_query_s']:.1f} s |",
        f"| warm dense p50 / p95 (n=200) | {ex['warm_p50_s'] * 1000:.0f} / "
        f"{ex['warm_p95_s'] * 1000:.0f} ms |",
        f"| recall@10 | {ex['recall_at_10']:.3f} |",
        f"| BM25 disk / warm p50 | {size(ex['bm25_disk_bytes'])} / "
        f"{ex['bm25_p50_s'] * 1000:.0f} ms |",
        f"| embedding at {ex['embed_rate']:g} chunks/s | {duration(ex['embed_s'])} |",
        f"| Chroma writes | {duration(ex['chroma_write_s'])} |",
        f"| BM25 via LexicalIndex.upsert (as ingest does) | {duration(ex['bm25_upsert_s'])} |",
        f"| BM25 with plain inserts | {duration(ex['bm25_bulk_s'])} |",
        "",
        "What it implies: " + report["implications"],
        "",
    ]
    return "\n".join(out)


# The orchestration -------------------------------------------------------------------------


def parse_sizes(text: str) -> list[int]:
    sizes = sorted({int(s.replace("_", "")) for s in text.split(",") if s.strip()})
    if not sizes or any(s <= 0 or s % BLOCK for s in sizes):
        raise argparse.ArgumentTypeError(f"sizes must be positive multiples of {BLOCK}")
    return sizes


def measure(args: argparse.Namespace) -> dict[str, Any]:
    created = args.out is None
    out = Path(args.out or tempfile.mkdtemp(prefix="assistant-scaling-"))
    if not created and out.exists() and any(out.iterdir()):
        raise SystemExit(f"Error: {out} is not empty.\nHint: give --out a new or empty folder.")
    out.mkdir(parents=True, exist_ok=True)
    store, lexical = out / "store", out / "lexical.sqlite3"
    progress(f"working in {out}")
    load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    corpus = SyntheticCorpus(args.seed, Shape())
    t0 = time.perf_counter()
    check = structure_check(corpus)
    progress(f"structure check of 10k synthetic chunks: {time.perf_counter() - t0:.0f} s")
    base = {
        "seed": args.seed,
        "store": str(store),
        "lexical": str(lexical),
        "queries": args.queries,
        "recall_queries": args.recall_queries,
    }
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    hnsw: dict[str, Any] = {}
    have, papers, probes_added, rate = 0, 0, 0, 0.0
    probe_s, probe_rows = 0.0, 0.0
    limit_s = args.stage_limit_min * 60
    try:
        for target in args.sizes:
            if rate:
                estimate = (target - have) / rate
                progress(
                    f"growing to {target:,}: about {duration(estimate)} at the last rate "
                    f"({rate:.0f} chunks/s); the limit is {duration(limit_s)}"
                )
            # One BM25 upsert step costs about per-row time x rows: skip it when too long.
            rows_then = papers + probes_added + (target - have) / MEAN_CHUNKS_PER_PAPER
            projected = probe_s * rows_then / probe_rows if probe_rows else 0.0
            probe = projected < args.probe_limit_s
            t0 = time.perf_counter()
            ins = run_child(
                "insert",
                {**base, "start": have, "stop": target, "limit_s": limit_s, "probe": probe},
                out,
            )
            insert_wall = time.perf_counter() - t0
            reached = ins["reached"]
            papers += ins["papers_added"]
            rate = (reached - have) / ins["seconds"]["chroma"]
            t0 = time.perf_counter()
            disk = store_disk(store)
            bm25_disk = disk_usage(lexical) + disk_usage(Path(str(lexical) + "-wal"))
            du_s = time.perf_counter() - t0
            progress(f"at {reached:,}: disk {size(disk['total'])}; querying")
            t0 = time.perf_counter()
            q = run_child("query", {**base, "count": reached}, out)
            query_wall = time.perf_counter() - t0
            hnsw = q["hnsw"]
            row: dict[str, Any] = {
                "chunks": reached,
                "target": target,
                "complete": reached == target,
                "papers": papers,
                "bm25_rows": papers + probes_added,
                "chroma_rate": rate,
                "bm25_rate": ins["papers_added"] / max(ins["seconds"]["bm25"], 1e-9),
                "insert_seconds": ins["seconds"],
                "insert_wall": insert_wall,
                "insert_peak_rss": ins["peak_rss"],
                "disk_total": disk["total"],
                "disk_hnsw": disk["hnsw"],
                "disk_sqlite": disk["sqlite"],
                "bm25_disk": bm25_disk,
                "du_s": du_s,
                "open_s": q["open_s"],
                "import_chromadb_s": q["import_chromadb_s"],
                "cold_query": q["cold_query_s"],
                "warm_p50": percentile(q["warm_s"], 50),
                "warm_p95": percentile(q["warm_s"], 95),
                "ann_p50": percentile(q["ann_only_s"], 50),
                "ann_p95": percentile(q["ann_only_s"], 95),
                "recall_at_10": q["recall_at_10"],
                "exact_top10_in_n": q["exact_top10_in_n_results"],
                "query_nn1_cosine": q["query_nn1_cosine"],
                "query_nn10_cosine": q["query_nn10_cosine"],
                "query_rss_open": q["rss_after_open"],
                "query_rss_loaded": q["rss_after_first_query"],
                "query_rss_warm": q["rss_after_warm"],
                "query_peak_rss": q["peak_rss"],
                "bm25_cold": q["bm25_cold_s"],
                "bm25_p50": percentile(q["bm25_s"], 50),
                "bm25_p95": percentile(q["bm25_s"], 95),
                "exact_s": q["exact_s"],
                "query_wall": query_wall,
            }
            if "bm25_step_s" in ins:
                row["bm25_step_s"] = ins["bm25_step_s"]
                row["bm25_rows_at_probe"] = ins["bm25_rows_at_probe"]
                probe_s, probe_rows = ins["bm25_step_s"], ins["bm25_rows_at_probe"]
                probes_added += PAPERS_PER_STEP
            else:
                notes.append(
                    f"At {reached:,} chunks the LexicalIndex.upsert step was not run: projected "
                    f"{duration(projected)} (over --probe-limit-s {args.probe_limit_s:g})."
                )
            rows.append(row)
            progress(
                f"at {reached:,}: warm p50 {row['warm_p50'] * 1000:.1f} ms, cold "
                f"{row['cold_query'] * 1000:.0f} ms, recall@10 {row['recall_at_10']:.3f}"
            )
            have = reached
            if reached < target:
                notes.append(
                    f"Stopped at {reached:,} of {target:,} chunks: the insert reached the "
                    f"--stage-limit-min of {args.stage_limit_min:g} min."
                )
                break
    finally:
        if args.keep:
            progress(f"kept {out}")
        else:
            shutil.rmtree(out, ignore_errors=True)
    if any("bm25_step_s" in r for r in rows):
        notes.append(
            f"The BM25 table also holds the {PAPERS_PER_STEP} papers of each upsert step "
            "(counted in its rows)."
        )
    notes.append(
        "RSS: 'after first query' is the query process's resident set once Chroma has "
        "loaded the index (VmRSS), with Python, numpy and chromadb loaded (about "
        f"{size(rows[0]['query_rss_open'])} after opening the client, before the index). "
        "Cold means a new process; the files were in the OS page cache (not dropped)."
    )
    return {
        "rows": rows,
        "notes": notes,
        "structure": check,
        "hnsw": hnsw,
        "load_before": load_before,
        "load_after": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=parse_sizes, default=parse_sizes("10000,100000,1000000"))
    parser.add_argument("--out", help="working folder (new or empty); default a temp folder")
    parser.add_argument("--keep", action="store_true", help="keep the working folder")
    parser.add_argument(
        "--embed-rate", type=float, default=30.0, help="embedding throughput, chunks/s"
    )
    parser.add_argument("--target-chunks", type=int, default=5_000_000)
    parser.add_argument("--target-papers", type=int, default=2_500_000)
    parser.add_argument("--queries", type=int, default=200, help="warm queries per size")
    parser.add_argument("--recall-queries", type=int, default=50)
    parser.add_argument(
        "--stage-limit-min", type=float, default=35.0, help="stop growing after this long"
    )
    parser.add_argument(
        "--probe-limit-s",
        type=float,
        default=600.0,
        help="skip the LexicalIndex.upsert step when projected to take longer",
    )
    parser.add_argument("--seed", type=int, default=20261124)
    parser.add_argument("--json", type=Path, help="also write the raw numbers here")
    parser.add_argument("--child", choices=["insert", "query"], help=argparse.SUPPRESS)
    parser.add_argument("--child-spec", help=argparse.SUPPRESS)
    args = parser.parse_args()
    enforce_offline()

    if args.child:
        spec = json.loads(args.child_spec)
        work = child_insert if args.child == "insert" else child_query
        result = work(spec)
        Path(spec["result"]).write_text(json.dumps(result), encoding="utf-8")
        return

    started = time.perf_counter()
    date = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    info = machine()
    measured = measure(args)
    report: dict[str, Any] = {
        "date": date,
        "command": "python benchmarks/scaling.py " + " ".join(sys.argv[1:]),
        "machine": info,
        "shape": Shape().describe(),
        "shape_parameters": asdict(Shape()),
        "sizes": ", ".join(f"{s:,}" for s in args.sizes),
        "metadata_keys": ", ".join(
            sorted({k for m in SyntheticCorpus(args.seed, Shape()).block(0).metadatas for k in m})
        ),
        "queries": args.queries,
        "recall_queries": args.recall_queries,
        **measured,
    }
    report["extrapolation"] = extrapolate(report["rows"], args, info["ram_bytes"])
    report["implications"] = implications(report["extrapolation"], report["rows"])
    report["total_wall_s"] = time.perf_counter() - started
    print(render(report))
    print(f"Total wall time of the run: {duration(report['total_wall_s'])}.")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
