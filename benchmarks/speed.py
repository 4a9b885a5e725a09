"""Speed and memory of `assistant` against baselines measured in the same run.

Usage:
  python benchmarks/speed.py [--bench ../shared/bench/scifact] [--runs 5] [--no-textbook]
                             [--also-encoders onnx-fp32]

Measures, each in its own child process so that wall time and peak RSS are a
user's: ingest throughput (abstracts/s) of `assistant ingest` on SciFact and
on the bundled corpus, next to the raw sentence-transformers encode of the
same texts (the fp32 ceiling) and the textbook LlamaIndex pipeline (one
Document per abstract, VectorStoreIndex.from_documents into Chroma with
HuggingFaceEmbedding); cold `assistant search` and `assistant --help`; warm
retrieval latency in one process; `ask` with the embedded model (time to
first token, total); peak RSS of ingest and of a cold `ask`. Prints a
markdown table; ratios are what to compare, absolute times are noisy here.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUESTION = "Which papers propose alternatives to batch normalization for NLP models?"
ENV = {
    **os.environ,
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "ANONYMIZED_TELEMETRY": "False",
    "TOKENIZERS_PARALLELISM": "false",
    "OLLAMA_HOST": "http://127.0.0.1:9",  # closed: `ask` uses the embedded model
}


def measured(args: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Run a child; its wall seconds, peak RSS in MB and stdout."""
    start = time.perf_counter()
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # wait4 gives this child's own peak RSS, not the maximum over all children.
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    assert proc.stdout is not None and proc.stderr is not None
    out, err = proc.stdout.read().decode(), proc.stderr.read().decode()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{args} failed:\n{err[-3000:]}")
    return wall, usage.ru_maxrss / 1024, out


def assistant(*args: str, home: Path, **env: str) -> tuple[float, float, str]:
    return measured(
        [sys.executable, "-m", "assistant", *args], {**ENV, "ASSISTANT_HOME": str(home), **env}
    )


def this_script(*args: str) -> tuple[float, float, str]:
    return measured([sys.executable, __file__, *args], ENV)


# --- child modes -------------------------------------------------------------


def texts_of(path: Path) -> list[tuple[str, str, str]]:
    from assistant.readers import load_abstracts

    papers, _ = load_abstracts([path])
    return [(p.paper_id, p.title, p.abstract) for p in papers]


def child_textbook(path: Path) -> None:
    """LlamaIndex as its docs show it; prints seconds spent indexing."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings
    from llama_index.core import Document, StorageContext, VectorStoreIndex
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding
    from llama_index.vector_stores.chroma import ChromaVectorStore

    from assistant.embedding.embedder import minilm_path

    docs = [Document(text=a, metadata={"title": t}, doc_id=i) for i, t, a in texts_of(path)]
    client = chromadb.PersistentClient(
        path=tempfile.mkdtemp(prefix="textbook-"),
        settings=ChromaSettings(anonymized_telemetry=False),
    )
    store = ChromaVectorStore(chroma_collection=client.create_collection("textbook"))
    start = time.perf_counter()
    embed = HuggingFaceEmbedding(model_name=str(minilm_path()), device="cpu")
    VectorStoreIndex.from_documents(
        docs, storage_context=StorageContext.from_defaults(vector_store=store), embed_model=embed
    )
    print(json.dumps({"seconds": time.perf_counter() - start, "papers": len(docs)}))


def child_raw(path: Path) -> None:
    """sentence-transformers encoding the same texts, batch 64: the fp32 ceiling."""
    from sentence_transformers import SentenceTransformer

    from assistant.embedding.embedder import minilm_path

    texts = [f"{t}\n{a}" for _, t, a in texts_of(path)]
    model = SentenceTransformer(str(minilm_path()), device="cpu", local_files_only=True)
    start = time.perf_counter()
    model.encode(texts, batch_size=64, normalize_embeddings=True, show_progress_bar=False)
    print(json.dumps({"seconds": time.perf_counter() - start, "papers": len(texts)}))


def child_warm(home: Path, queries: Path, n: int) -> None:
    """Warm retrieval latency inside one process, as `chat` runs it."""
    os.environ["ASSISTANT_HOME"] = str(home)
    from assistant.pipeline import Pipeline
    from assistant.settings import Settings

    texts = [json.loads(line)["text"] for line in queries.read_text().splitlines() if line]
    retriever = Pipeline(Settings()).retriever
    for text in texts[:5]:
        retriever.search(text, 10)
    times = []
    for text in texts[:n]:
        start = time.perf_counter()
        retriever.search(text, 10)
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    p95 = times[min(len(times) - 1, int(0.95 * len(times)))]
    print(json.dumps({"p50_ms": statistics.median(times), "p95_ms": p95, "n": len(times)}))


# --- the run -----------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bench", type=Path, default=ROOT.parent / "shared/bench/scifact")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-textbook", action="store_true")
    parser.add_argument(
        "--also-encoders",
        default="",
        help="comma-separated embed_encoder values to time ingest with as well (e.g. onnx-fp32)",
    )
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, *rest = args.child
        if mode == "textbook":
            child_textbook(Path(rest[0]))
        elif mode == "raw":
            child_raw(Path(rest[0]))
        else:
            child_warm(Path(rest[0]), Path(rest[1]), int(rest[2]))
        return

    scratch = Path(tempfile.mkdtemp(prefix="assistant-speed-"))
    corpora = {"SciFact": args.bench / "corpus.jsonl", "bundled data/": ROOT / "data"}
    rows: list[tuple[str, str]] = []
    ingest_rss: dict[str, float] = {}
    homes: dict[str, Path] = {}
    for name, path in corpora.items():
        papers = len(texts_of(path))
        home = homes[name] = scratch / name.split()[0]
        wall, rss, _ = assistant("ingest", "--quiet", str(path), home=home)
        ours = papers / wall
        ingest_rss[name] = rss
        rows.append(
            (
                f"{name}: `assistant ingest` ({papers} abstracts), process wall",
                f"{wall:.1f} s = **{ours:.1f} abstracts/s**, peak RSS {rss:.0f} MB",
            )
        )
        _, _, out = this_script("--child", "raw", str(path))
        raw = json.loads(out)
        ceiling = raw["papers"] / raw["seconds"]
        rows.append(
            (
                f"{name}: raw sentence-transformers encode of the same abstracts "
                "(fp32, batch 64, model loaded)",
                f"{ceiling:.1f} abstracts/s; ours = {ours / ceiling:.2f}x",
            )
        )
        rate = None
        if not args.no_textbook:
            t_wall, t_rss, out = this_script("--child", "textbook", str(path))
            book = json.loads(out)
            rate = book["papers"] / t_wall
            rows.append(
                (
                    f"{name}: textbook LlamaIndex pipeline, process wall",
                    f"{t_wall:.1f} s = {rate:.1f} abstracts/s (indexing alone "
                    f"{book['seconds']:.1f} s), peak RSS {t_rss:.0f} MB; "
                    f"**ours = {ours / rate:.2f}x**",
                )
            )
        for encoder in filter(None, args.also_encoders.split(",")):
            e_home = scratch / f"{name.split()[0]}-{encoder}"
            e_wall, e_rss, _ = assistant(
                "ingest", "--quiet", str(path), home=e_home, ASSISTANT_EMBED_ENCODER=encoder
            )
            versus = f"; vs textbook {papers / e_wall / rate:.2f}x" if rate else ""
            rows.append(
                (
                    f"{name}: `assistant ingest` with embed_encoder={encoder}, process wall",
                    f"{e_wall:.1f} s = {papers / e_wall:.1f} abstracts/s, peak RSS "
                    f"{e_rss:.0f} MB{versus}",
                )
            )

    scifact = homes["SciFact"]
    searches = [assistant("search", QUESTION, home=scifact) for _ in range(args.runs)]
    helps = [assistant("--help", home=scifact) for _ in range(args.runs)]
    rows.append(
        (
            f"cold `assistant search` on SciFact, process wall, median of {args.runs}",
            f"{statistics.median(s[0] for s in searches):.2f} s "
            f"(peak RSS {max(s[1] for s in searches):.0f} MB)",
        )
    )
    rows.append(
        (
            f"`assistant --help`, process wall, median of {args.runs}",
            f"{statistics.median(h[0] for h in helps):.2f} s",
        )
    )
    _, _, out = this_script(
        "--child", "warm", str(scifact), str(args.bench / "queries_train.jsonl"), "200"
    )
    warm = json.loads(out)
    rows.append(
        (
            f"warm retrieval in one process (as in `chat`), SciFact, {warm['n']} queries",
            f"p50 {warm['p50_ms']:.1f} ms, p95 {warm['p95_ms']:.1f} ms",
        )
    )

    asks = [
        assistant("ask", QUESTION, "--backend", "llamacpp", "--json", home=homes["bundled data/"])
        for _ in range(min(args.runs, 3))
    ]
    timings = [json.loads(a[2])["timings"] for a in asks]
    rows.append(
        (
            "cold `ask --backend llamacpp` (bundled), process wall, median",
            f"{statistics.median(a[0] for a in asks):.2f} s, "
            f"peak RSS {max(a[1] for a in asks):.0f} MB",
        )
    )
    rows.append(
        (
            "`ask` in-process time to first token / total, median",
            f"{statistics.median(t['first_token_s'] for t in timings):.2f} s / "
            f"{statistics.median(t['total_s'] for t in timings):.2f} s",
        )
    )

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    print(
        f"machine: {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{time.strftime('%Y-%m-%d')}"
    )
    print("| measurement | value |")
    print("|---|---|")
    for label, value in rows:
        print(f"| {label} | {value} |")


if __name__ == "__main__":
    main()
