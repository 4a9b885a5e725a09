"""Issue 17's front ends, timed: the Zotero reader, the MCP server, terminal rendering.

- Zotero: a database in Zotero's layout (tests/zotero_fixture.py) holding N regular
  items with SciFact abstracts, authors, a nested collection and tags, plus a note
  for every tenth item; the reader's papers per second, with the file free and while
  another connection holds it under an exclusive lock (as a running Zotero does).
- MCP: `assistant mcp` started by the SDK's stdio client on the bundled index;
  `search` and `ask --backend none` per call, against the same library calls in
  this process (what the protocol, JSON and the child process add).
- Rendering: one answer of about 1,200 characters streamed in 4-character pieces,
  through the plain stream (pipes) and the wrapped, styled one (terminals).

Run from the repo root, with the bundled abstracts ingested in ASSISTANT_HOME:
    .venv/bin/python benchmarks/front_ends.py [--items 5000] [--calls 20]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

QUERIES = [
    "wavelet token mixing",
    "layer normalization for recurrent networks",
    "knowledge distillation",
    "graph neural networks for molecules",
    "speech recognition with transformers",
]
QUESTIONS = [
    "Which papers replace batch normalization?",
    "Which paper introduces Layer Normalization?",
    "What is WaveMix?",
]


def _ms(samples: list[float]) -> str:
    return f"p50 {statistics.median(samples) * 1000:.1f} ms, max {max(samples) * 1000:.1f} ms"


def zotero(items: int) -> dict[str, Any]:
    from assistant.readers import load_abstracts
    from tests.zotero_fixture import ZoteroDatabase, multipart

    corpus = ROOT.parent / "shared" / "bench" / "scifact" / "corpus.jsonl"
    records = [json.loads(line) for line in corpus.open(encoding="utf-8")][:items]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "zotero.sqlite"
        db = ZoteroDatabase(path)
        db.conn.execute("BEGIN")
        parent = db.collection("Reading")
        child = db.collection("Biology", parent=parent)
        for n, record in enumerate(records):
            item, _ = db.item(
                "journalArticle",
                {
                    "title": record["title"] or f"Paper {n}",
                    "abstractNote": record["text"],
                    "date": multipart(2000 + n % 25, 1, 0, str(2000 + n % 25)),
                    "publicationTitle": "Journal of Tests",
                },
                creators=[((f"Ann{n % 97}", f"Author{n % 89}"), "author")],
                collections=(child if n % 2 else parent,),
                tags=(f"tag{n % 7}",),
            )
            if n % 10 == 0:
                db.note(item, f"Note on paper {n}")
        db.conn.execute("COMMIT")
        db.close()
        megabytes = path.stat().st_size / 1e6

        def read() -> int:
            papers, _ = load_abstracts([path])
            return len(papers)

        free = []
        for _ in range(3):
            started = time.perf_counter()
            read_count = read()
            free.append(time.perf_counter() - started)
        zotero_running = sqlite3.connect(path, isolation_level=None)
        zotero_running.execute("PRAGMA locking_mode=EXCLUSIVE")
        zotero_running.execute("BEGIN EXCLUSIVE")
        locked = []
        for _ in range(3):
            started = time.perf_counter()
            assert read() == read_count
            locked.append(time.perf_counter() - started)
        zotero_running.execute("ROLLBACK")
        zotero_running.close()
    return {
        "items": items,
        "papers read": read_count,
        "database MB": round(megabytes, 1),
        "read s (free), best of 3": round(min(free), 3),
        "papers/s (free)": round(read_count / min(free)),
        "read s (locked), best of 3": round(min(locked), 3),
    }


def mcp(calls: int) -> dict[str, Any]:
    import anyio
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    from assistant.api import Assistant

    assistant = Assistant()
    local_search: list[float] = []
    for n in range(calls):
        started = time.perf_counter()
        assistant.search(QUERIES[n % len(QUERIES)], k=5)
        local_search.append(time.perf_counter() - started)
    local_ask: list[float] = []
    for question in QUESTIONS:
        started = time.perf_counter()
        assistant.ask(question, backend="none")
        local_ask.append(time.perf_counter() - started)

    server = StdioServerParameters(
        command=sys.executable, args=["-m", "assistant", "mcp"], env=dict(os.environ)
    )
    timings: dict[str, Any] = {}

    async def main() -> None:
        started = time.perf_counter()
        async with (
            stdio_client(server, errlog=sys.stderr) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            timings["start to initialized s"] = time.perf_counter() - started
            started = time.perf_counter()
            await session.call_tool("search", {"query": QUERIES[0], "k": 5})
            timings["first search s (loads index and model)"] = time.perf_counter() - started
            searches = []
            for n in range(calls):
                started = time.perf_counter()
                result = await session.call_tool("search", {"query": QUERIES[n % 5], "k": 5})
                searches.append(time.perf_counter() - started)
                assert not result.isError
            asks = []
            for question in QUESTIONS:
                started = time.perf_counter()
                result = await session.call_tool("ask", {"question": question, "backend": "none"})
                asks.append(time.perf_counter() - started)
                assert not result.isError
            timings["search via MCP"] = _ms(searches)
            timings["ask --backend none via MCP"] = _ms(asks)

    anyio.run(main)
    timings["search in process"] = _ms(local_search)
    timings["ask --backend none in process"] = _ms(local_ask)
    for key in ("start to initialized s", "first search s (loads index and model)"):
        timings[key] = round(timings[key], 2)
    return timings


def rendering(runs: int = 20) -> dict[str, Any]:
    from assistant.cli.render import AnswerStream
    from assistant.cli.styled import WrappedStream

    sentence = (
        "Layer normalization computes the mean and variance from all summed inputs "
        "of a layer on one training case [1], unlike batch normalization [2, 3]. "
    )
    text = "- " + sentence * 7 + "\n- " + sentence * 1
    pieces = [text[i : i + 4] for i in range(0, len(text), 4)]

    def timed(make: Callable[[], Any]) -> list[float]:
        samples = []
        for _ in range(runs):
            sink = io.StringIO()
            with redirect_stdout(sink):
                started = time.perf_counter()
                stream = make()
                for piece in pieces:
                    stream.write(piece)
                if isinstance(stream, WrappedStream):
                    stream.end_line()
                samples.append(time.perf_counter() - started)
        return samples

    return {
        "answer characters": len(text),
        "pieces": len(pieces),
        "plain (pipe)": _ms(timed(AnswerStream)),
        "wrapped and styled (terminal, 80 columns)": _ms(timed(lambda: WrappedStream(80))),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--calls", type=int, default=20)
    args = parser.parse_args()
    report = {
        "zotero": zotero(args.items),
        "mcp": mcp(args.calls),
        "rendering": rendering(),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
