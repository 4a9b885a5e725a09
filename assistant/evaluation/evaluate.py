"""Built-in evaluation: BEIR-format retrieval benchmarks and question sets."""

from __future__ import annotations

import csv
import json
import statistics
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.errors import CorpusError
from assistant.evaluation.metrics import mrr_at_k, ndcg_at_k, percentile, recall_at_k
from assistant.settings import Settings

if TYPE_CHECKING:
    from assistant.backends import Backend
    from assistant.domain import Answer
    from assistant.pipeline import Pipeline


def _records(path: Path, what: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each line of a JSON Lines file; bad lines stop with file:line."""
    try:
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise CorpusError(f"{path}:{number}: not a {what} ({exc})") from exc
                if not isinstance(record, dict):
                    raise CorpusError(f"{path}:{number}: not a {what} (not a JSON object)")
                yield number, record
    except OSError as exc:
        raise CorpusError(f"Cannot read {path}: {exc.strerror or exc}") from exc


def read_queries(path: Path) -> dict[str, str]:
    queries: dict[str, str] = {}
    for number, record in _records(path, "BEIR query record"):
        if "_id" not in record or "text" not in record:
            raise CorpusError(f"{path}:{number}: a BEIR query needs `_id` and `text`")
        queries[str(record["_id"])] = str(record["text"])
    return queries


def read_qrels(path: Path) -> dict[str, dict[str, float]]:
    """query id -> {corpus id: grade}; the header line is optional."""
    qrels: dict[str, dict[str, float]] = {}
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            for number, row in enumerate(csv.reader(handle, delimiter="\t"), start=1):
                if not row or (number == 1 and row[0] == "query-id"):
                    continue
                try:
                    qid, cid, grade = row[0], row[1], float(row[2])
                except (IndexError, ValueError) as exc:
                    raise CorpusError(f"{path}:{number}: not a qrels row ({exc})") from exc
                qrels.setdefault(qid, {})[cid] = grade
    except OSError as exc:
        raise CorpusError(f"Cannot read {path}: {exc.strerror or exc}") from exc
    return qrels


def find_beir(folder: Path, split: str) -> tuple[Path, Path, Path]:
    """corpus.jsonl, the queries and the qrels of `split`, in the layouts BEIR uses."""
    corpus = folder / "corpus.jsonl"
    queries = next(
        (p for p in (folder / f"queries_{split}.jsonl", folder / "queries.jsonl") if p.is_file()),
        folder / "queries.jsonl",
    )
    qrels = next(
        (
            p
            for p in (folder / f"qrels_{split}.tsv", folder / "qrels" / f"{split}.tsv")
            if p.is_file()
        ),
        folder / f"qrels_{split}.tsv",
    )
    missing = [str(p) for p in (corpus, queries, qrels) if not p.is_file()]
    if missing:
        raise CorpusError(
            f"Not a BEIR folder: missing {', '.join(missing)}",
            hint="Expected corpus.jsonl, queries[_SPLIT].jsonl and qrels_SPLIT.tsv "
            "(or qrels/SPLIT.tsv).",
        )
    return corpus, queries, qrels


@dataclass
class BeirReport:
    dataset: str
    split: str
    queries: int
    corpus_papers: int
    ndcg_at_10: float
    recall_at_10: float
    recall_at_100: float
    mrr_at_10: float
    latency_p50_ms: float
    latency_p95_ms: float
    ingest_s: float

    def rows(self) -> list[tuple[str, str]]:
        return [
            (
                "dataset",
                f"{self.dataset} ({self.split}), {self.queries} queries, "
                f"{self.corpus_papers} papers",
            ),
            ("nDCG@10", f"{self.ndcg_at_10:.4f}"),
            ("recall@10", f"{self.recall_at_10:.4f}"),
            ("recall@100", f"{self.recall_at_100:.4f}"),
            ("MRR@10", f"{self.mrr_at_10:.4f}"),
            ("latency p50", f"{self.latency_p50_ms:.1f} ms"),
            ("latency p95", f"{self.latency_p95_ms:.1f} ms"),
            ("ingest (or reuse)", f"{self.ingest_s:.1f} s"),
        ]


def _bar(total: int, desc: str, progress: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="q", file=sys.stderr, disable=not progress)


def evaluate_beir(settings: Settings, folder: Path, split: str, *, progress: bool) -> BeirReport:
    """Ingest the corpus into its own collection (reused when unchanged), run every query."""
    from assistant.pipeline import Pipeline

    corpus, queries_path, qrels_path = find_beir(folder, split)
    qrels = read_qrels(qrels_path)
    queries = {q: t for q, t in read_queries(queries_path).items() if q in qrels}
    if not queries:
        raise CorpusError(f"No query in {queries_path} has judgments in {qrels_path}.")
    name = folder.resolve().name or "beir"
    pipeline = Pipeline(settings.model_copy(update={"collection": f"eval-{name}"}))
    started = time.perf_counter()
    ingested = pipeline.ingest([corpus], rebuild=False, progress=progress)
    ingest_s = time.perf_counter() - started
    retriever = pipeline.retriever
    ndcg, r10, r100, mrr, latency = [], [], [], [], []
    bar = _bar(len(queries), "Evaluating", progress)
    for qid, text in queries.items():
        t0 = time.perf_counter()
        # The same way in as `search` and `ask`: latency is what a search costs.
        hits = retriever.retrieve(text, 100)
        latency.append(time.perf_counter() - t0)
        ids = [h.external_id or h.paper_id for h in hits]
        ndcg.append(ndcg_at_k(ids, qrels[qid], 10))
        r10.append(recall_at_k(ids, qrels[qid], 10))
        r100.append(recall_at_k(ids, qrels[qid], 100))
        mrr.append(mrr_at_k(ids, qrels[qid], 10))
        bar.update(1)
    bar.close()
    return BeirReport(
        dataset=name,
        split=split,
        queries=len(queries),
        corpus_papers=ingested.total_papers,
        ndcg_at_10=statistics.fmean(ndcg),
        recall_at_10=statistics.fmean(r10),
        recall_at_100=statistics.fmean(r100),
        mrr_at_10=statistics.fmean(mrr),
        latency_p50_ms=percentile(latency, 50) * 1000,
        latency_p95_ms=percentile(latency, 95) * 1000,
        ingest_s=ingest_s,
    )


@dataclass
class QuestionReport:
    questions: int
    k: int
    recall_at_k: float
    unanswerable_declined: float
    answerable_answered: float
    backend: str | None = None
    citation_hit_rate: float | None = None
    citation_precision: float | None = None
    # Of the answers' checked sentences: how many each verdict (answering.verify).
    sentence_verdicts: dict[str, int] = field(default_factory=dict)
    answer_first_token_p50_s: float | None = None
    answer_total_p50_s: float | None = None
    latency_p50_ms: float = 0.0
    details: list[dict[str, Any]] = field(default_factory=list)

    def rows(self) -> list[tuple[str, str]]:
        rows = [
            ("questions", str(self.questions)),
            (f"recall@{self.k} (gold papers, answerable)", f"{self.recall_at_k:.3f}"),
            ("unanswerable declined", f"{self.unanswerable_declined:.3f}"),
            ("answerable answered", f"{self.answerable_answered:.3f}"),
            ("retrieval latency p50", f"{self.latency_p50_ms:.1f} ms"),
        ]
        if self.backend is not None:
            rows += [
                ("ask backend", self.backend),
                ("answers citing a gold paper", f"{self.citation_hit_rate:.3f}"),
                (
                    "citation precision (cited papers that are gold)",
                    f"{self.citation_precision:.3f}",
                ),
            ]
            checked = sum(self.sentence_verdicts.values())
            for verdict in ("supported", "corrected", "unsupported"):
                share = self.sentence_verdicts.get(verdict, 0) / checked if checked else 0.0
                rows.append((f"sentences {verdict} (of {checked} checked)", f"{share:.3f}"))
            if self.answer_total_p50_s is not None:
                rows.append(
                    (
                        "answer first token / total p50",
                        f"{self.answer_first_token_p50_s or 0.0:.2f} s / "
                        f"{self.answer_total_p50_s:.2f} s",
                    )
                )
        return rows


def read_questions(path: Path) -> list[dict[str, Any]]:
    questions = []
    for number, record in _records(path, "question record"):
        if "question" not in record:
            raise CorpusError(f"{path}:{number}: a question record needs `question`")
        questions.append(
            {
                "id": str(record.get("id", number)),
                "question": str(record["question"]),
                "type": str(record.get("type", "single")),
                "gold_titles": [str(t) for t in record.get("gold_titles") or []],
            }
        )
    return questions


def evaluate_questions(
    pipeline: Pipeline,
    path: Path,
    *,
    k: int = 5,
    backend: Backend | None = None,
    progress: bool = True,
) -> QuestionReport:
    """Retrieval recall and abstention on a question set; with a backend, answers too.

    Each question runs the answer chain once: up to its assessment, and on through
    the backend when there is one and the chain did not decline.
    """
    from assistant.backends.extractive import ExtractiveBackend
    from assistant.readers.identifier import normalize_title

    questions = read_questions(path)
    depth = max(k, pipeline.settings.top_k)
    answerer = pipeline.answerer(backend or ExtractiveBackend(pipeline.embedder), top_k=depth)
    found = wanted = 0
    declined_unanswerable = unanswerable = answered_answerable = answerable = 0
    cited_gold_answers = cited_total = cited_gold = 0
    latency = []
    details = []
    verdicts: dict[str, int] = {}
    timings: dict[str, list[float]] = {"first_token_s": [], "total_s": []}
    bar = _bar(len(questions), "Questions", progress)
    for q in questions:
        gold = {normalize_title(t) for t in q["gold_titles"]}
        draft = answerer.run(answerer.start(q["question"]), until="assess")
        latency.append(draft.answer.timings["retrieval_s"])
        titles = {normalize_title(h.title) for h in draft.hits[:k]}
        declined = draft.done
        cited: list[str] = []
        said: dict[str, Any] = {}
        if backend is not None and not declined:
            answer = answerer.run(draft).answer
            declined = not answer.answered
            cited = [normalize_title(s.hit.title) for s in answer.sources]
            said = _what_was_said(answer, verdicts, timings)
        if q["type"] == "unanswerable":
            unanswerable += 1
            declined_unanswerable += declined
        else:
            answerable += 1
            answered_answerable += not declined
            wanted += len(gold)
            found += len(gold & titles)
            if backend is not None:
                cited_gold_answers += bool(gold & set(cited))
        cited_total += len(cited)
        cited_gold += sum(1 for c in cited if c in gold)
        details.append(
            {
                "id": q["id"],
                "type": q["type"],
                "declined": declined,
                "found": sorted(gold & titles),
                "missed": sorted(gold - titles),
                "cited": cited,
                **said,
            }
        )
        bar.update(1)
    bar.close()
    return QuestionReport(
        questions=len(questions),
        k=k,
        recall_at_k=found / wanted if wanted else 0.0,
        unanswerable_declined=declined_unanswerable / unanswerable if unanswerable else 0.0,
        answerable_answered=answered_answerable / answerable if answerable else 0.0,
        backend=f"{backend.name} ({backend.model})" if backend is not None else None,
        citation_hit_rate=(cited_gold_answers / answerable if answerable else 0.0)
        if backend is not None
        else None,
        citation_precision=(cited_gold / cited_total if cited_total else 0.0)
        if backend is not None
        else None,
        sentence_verdicts=verdicts,
        answer_first_token_p50_s=percentile(timings["first_token_s"], 50)
        if timings["first_token_s"]
        else None,
        answer_total_p50_s=percentile(timings["total_s"], 50) if timings["total_s"] else None,
        latency_p50_ms=percentile(latency, 50) * 1000,
        details=details,
    )


def _what_was_said(
    answer: Answer, verdicts: dict[str, int], timings: dict[str, list[float]]
) -> dict[str, Any]:
    """An answer's text and checked sentences, for the details; counts its verdicts
    and timings into the totals."""
    for sentence in answer.sentences:
        if sentence.verdict != "not checked":
            verdicts[sentence.verdict] = verdicts.get(sentence.verdict, 0) + 1
    for key, values in timings.items():
        if key in answer.timings:
            values.append(answer.timings[key])
    return {
        "answer": answer.text,
        "sentences": [
            {"text": s.text, "verdict": s.verdict, "citations": list(s.citations)}
            for s in answer.sentences
        ],
        "sources": {s.number: s.hit.title for s in answer.sources},
    }
