"""Where the embedded model's citations go, by what it is shown (issue 16, item 4).

For the answerable seed questions, the llamacpp backend answers four ways:
whole abstracts without the check (as before issue 16), whole abstracts
checked, evidence sentences with the closest shown first, and with the closest
shown last (the default). For each: how often each
prompt position is cited (the pull towards the last one shown), the share of
citations whose paper is a gold paper (before and after the check), the share of
checked sentences supported / corrected / unsupported, sentences cut mid-word,
and first-token and total times.

Run from the repo root, with the bundled abstracts ingested in ASSISTANT_HOME:
    .venv/bin/python benchmarks/llamacpp_evidence.py [--questions 20]
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import re
import statistics
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import assistant.answering.chain as chain_module
from assistant.answering.evidence import select_evidence
from assistant.backends import AnswerRequest, Backend
from assistant.pipeline import Pipeline
from assistant.readers.identifier import normalize_title
from assistant.settings import load_settings

QUESTIONS = Path(__file__).resolve().parent.parent.parent / "shared/eval/seed_questions_dev.jsonl"
_MARK = re.compile(r"\[(\d+)\]")
# A sentence's last word before its citation, when the grammar cut it short.
_CUT = re.compile(r"(?:\b\w{1,2}|-)\s*\[\d+\]\.")


class Recording:
    """Passes the backend's pieces on and keeps the raw text and what it was shown."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.raw = ""
        self.shown: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.backend, name)

    def stream(self, request: AnswerRequest) -> Iterator[str]:
        self.raw, self.shown = "", [h.paper_id for h in request.hits]
        for piece in self.backend.stream(request):
            self.raw += piece
            yield piece


def run(config: str, questions: list[dict[str, Any]]) -> dict[str, Any]:
    whole = config.startswith("whole")
    overrides: dict[str, Any] = {"llamacpp_evidence_sentences": 0} if whole else {}
    pipeline = Pipeline(load_settings(**overrides))
    order = functools.partial(select_evidence, closest_last=config != "closest first")
    setattr(chain_module, "select_evidence", order)  # noqa: B010 (the stage looks it up)
    backend: Any = Recording(pipeline.backend("llamacpp"))
    answerer = pipeline.answerer(backend)
    if config == "whole, unchecked":  # as before issue 16
        answerer.chain = dataclasses.replace(answerer.chain, checker=None)
    positions: Counter[int] = Counter()
    shown_counts: Counter[int] = Counter()
    raw_gold = raw_total = gold = total = cut = sentences = 0
    verdicts: Counter[str] = Counter()
    first, totals = [], []
    for q in questions:
        answer = answerer.answer(q["question"])
        if not answer.answered:
            continue
        goldset = {normalize_title(t) for t in q["gold_titles"]}
        titles = {h.paper_id: normalize_title(h.title) for h in answer.retrieved}
        shown_counts[len(backend.shown)] += 1
        for n in map(int, _MARK.findall(backend.raw)):
            if 1 <= n <= len(backend.shown):
                positions[n - len(backend.shown) - 1] += 1  # -1: the last shown
                raw_total += 1
                raw_gold += titles.get(backend.shown[n - 1]) in goldset
        for source in answer.sources:
            total += 1
            gold += normalize_title(source.hit.title) in goldset
        raw_sentences = re.findall(r"[^.]*?\[\d+\]\.", backend.raw)
        sentences += len(raw_sentences)
        cut += sum(bool(_CUT.search(s)) for s in raw_sentences)
        verdicts.update(s.verdict for s in answer.sentences if s.verdict != "not checked")
        first.append(answer.timings.get("first_token_s", 0.0))
        totals.append(answer.timings["total_s"])
    checked = sum(verdicts.values()) or 1
    return {
        "config": config,
        "answers": len(totals),
        "citations_by_position_from_last": dict(sorted(positions.items())),
        "raw_citation_precision": raw_gold / raw_total if raw_total else 0.0,
        "source_precision_after_check": gold / total if total else 0.0,
        "verdict_shares": {
            v: verdicts[v] / checked for v in ("supported", "corrected", "unsupported")
        },
        "raw_sentences": sentences,
        "raw_sentences_cut_short": cut,
        "first_token_p50_s": statistics.median(first) if first else None,
        "total_p50_s": statistics.median(totals) if totals else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=20)
    parser.add_argument("--configs", default="whole, unchecked;whole;closest first;closest last")
    args = parser.parse_args()
    records = [json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines()]
    answerable = [r for r in records if r.get("type") != "unanswerable"][: args.questions]
    for config in args.configs.split(";"):
        print(json.dumps(run(config, answerable)), flush=True)


if __name__ == "__main__":
    main()
