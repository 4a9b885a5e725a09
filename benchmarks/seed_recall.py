"""Recall of gold papers in `search`'s top k on the seed dev questions.

Usage: python benchmarks/seed_recall.py [--questions PATH] [-k 5]
Ingests the bundled corpus into a scratch ASSISTANT_HOME (unless one is set),
then runs every answerable question through the same retrieval as `search`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--questions", type=Path, default=ROOT.parent / "shared/eval/seed_questions_dev.jsonl"
    )
    parser.add_argument("-k", type=int, default=5)
    args = parser.parse_args()
    os.environ.setdefault("ASSISTANT_HOME", tempfile.mkdtemp(prefix="assistant-bench-"))

    from assistant.corpus import normalize_title
    from assistant.pipeline import Pipeline
    from assistant.resources import data_dir
    from assistant.settings import load_settings

    pipeline = Pipeline(load_settings())
    pipeline.ingest([data_dir()], rebuild=False, progress=False)
    questions = [json.loads(line) for line in args.questions.read_text().splitlines() if line]
    found = total = 0
    best_answerable, best_unanswerable = [], []
    misses = []
    for q in questions:
        hits = pipeline.retriever.search(q["question"], args.k)
        titles = {normalize_title(h.title) for h in hits}
        best = hits[0].score if hits else 0.0
        if q["type"] == "unanswerable":
            best_unanswerable.append(best)
            continue
        best_answerable.append(best)
        for gold in q["gold_titles"]:
            total += 1
            if normalize_title(gold) in titles:
                found += 1
            else:
                misses.append((q["id"], gold))
    print(f"questions: {len(questions)}; gold papers (answerable): {total}")
    print(f"recall@{args.k}: {found / total:.3f} ({found}/{total})")
    for qid, gold in misses:
        print(f"  missed {qid}: {gold}")
    med = statistics.median
    print(
        f"best-match similarity, answerable: min {min(best_answerable):.3f} "
        f"median {med(best_answerable):.3f}; unanswerable: min {min(best_unanswerable):.3f} "
        f"median {med(best_unanswerable):.3f} max {max(best_unanswerable):.3f}"
    )


if __name__ == "__main__":
    main()
