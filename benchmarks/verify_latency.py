"""What checking adds to an answer: 5 sentences over 5 abstracts (issue 16 target: 50 ms p50).

For each question of the seed set: the top 5 papers are retrieved from the bundled
index, and an answer of 5 sentences is made from them (one sentence of each
abstract, cited, so that each check runs its full course against the cited
abstract; and, for the worst case, the same sentences without citations, each
then checked against all 5). Timed apart, as the answer chain runs them:

- encoding the 5 abstracts' sentences (`SentenceChecker.prepare`): done while the
  model writes, so not added to the answer's time unless the model is quicker;
- checking the 5 sentences once their vectors exist: what each sentence's mark
  waits for after the sentence ends.

Run from the repo root, with the bundled abstracts ingested in ASSISTANT_HOME:
    .venv/bin/python benchmarks/verify_latency.py [--questions 20]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from assistant.answering.support import split_sentences
from assistant.answering.verify import SentenceChecker
from assistant.pipeline import Pipeline
from assistant.settings import load_settings

QUESTIONS = Path(__file__).resolve().parent.parent.parent / "shared/eval/seed_questions_dev.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=20)
    args = parser.parse_args()
    pipeline = Pipeline(load_settings())
    checker = pipeline.support_checker
    checker.encode(["warm the encoder"])
    records = [json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines()]
    encode_ms: list[float] = []
    cited_ms: list[float] = []
    uncited_ms: list[float] = []
    for record in records[: args.questions]:
        hits = pipeline.retriever.retrieve(record["question"], 5)
        if len(hits) < 5:
            continue
        sentences = [split_sentences(h.abstract)[-1] for h in hits]
        for cited in (True, False):
            # A fresh checker per answer: nothing of one answer helps the next.
            fresh = type(checker)(checker.encode)
            judge = SentenceChecker(fresh, hits)
            numbers = {h.paper_id: n for n, h in enumerate(hits, start=1)}
            papers = {n: p for p, n in numbers.items()}
            judge.bind(numbers.__getitem__, papers.get)
            started = time.perf_counter()
            judge.prepare()
            prepared = time.perf_counter()
            for n, sentence in enumerate(sentences, start=1):
                judge.check(f"{sentence[:-1]} [{n}]." if cited else sentence)
            done = time.perf_counter()
            if cited:
                encode_ms.append((prepared - started) * 1000)
                cited_ms.append((done - prepared) * 1000)
            else:
                uncited_ms.append((done - prepared) * 1000)
    print(f"answers: {len(cited_ms)} (5 sentences over 5 abstracts each)")
    print(
        f"encode the 5 abstracts' sentences (during generation): p50 "
        f"{statistics.median(encode_ms):.0f} ms"
    )
    print(
        f"check 5 cited sentences after that: p50 {statistics.median(cited_ms):.0f} ms, "
        f"max {max(cited_ms):.0f} ms"
    )
    print(
        f"check 5 uncited sentences (each against all 5): p50 "
        f"{statistics.median(uncited_ms):.0f} ms, max {max(uncited_ms):.0f} ms"
    )


if __name__ == "__main__":
    main()
