"""Metrics against hand-computed values, and `eval` end to end on a tiny BEIR fixture."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from assistant.cli.app import app
from assistant.errors import CorpusError
from assistant.evaluation.evaluate import find_beir, read_qrels
from assistant.evaluation.metrics import mrr_at_k, ndcg_at_k, percentile, recall_at_k

FIXTURE = Path(__file__).parent / "fixtures" / "tinybeir"
runner = CliRunner()


def test_ndcg_by_hand() -> None:
    relevant = {"a": 1.0, "b": 1.0}
    # Relevant at ranks 2 and 3: DCG = 1/log2(3) + 1/log2(4); ideal = 1 + 1/log2(3).
    expected = (1 / math.log2(3) + 1 / 2) / (1 + 1 / math.log2(3))
    assert ndcg_at_k(["x", "a", "b"], relevant, 10) == pytest.approx(expected)
    assert ndcg_at_k(["a", "b", "x"], relevant, 10) == pytest.approx(1.0)
    assert ndcg_at_k(["x", "y"], relevant, 10) == 0.0
    # Cut-off: "a" at rank 3 is outside @2.
    assert ndcg_at_k(["x", "y", "a"], relevant, 2) == 0.0
    # Graded: gains are the grades.
    graded = {"a": 2.0, "b": 1.0}
    assert ndcg_at_k(["b", "a"], graded, 10) == pytest.approx(
        (1 + 2 / math.log2(3)) / (2 + 1 / math.log2(3))
    )


def test_recall_and_mrr_by_hand() -> None:
    relevant = {"a": 1.0, "b": 1.0, "c": 1.0, "z": 0.0}
    assert recall_at_k(["a", "x", "b"], relevant, 2) == pytest.approx(1 / 3)
    assert recall_at_k(["a", "x", "b"], relevant, 10) == pytest.approx(2 / 3)
    assert mrr_at_k(["x", "y", "b"], relevant, 10) == pytest.approx(1 / 3)
    assert mrr_at_k(["z", "x"], relevant, 10) == 0.0  # grade 0 is not relevant
    assert mrr_at_k(["x", "y", "b"], relevant, 2) == 0.0


def test_percentile_interpolates() -> None:
    assert percentile([1, 2, 3, 4], 50) == pytest.approx(2.5)
    assert percentile([10], 95) == 10
    assert percentile([1, 2, 3, 4, 5], 100) == 5


def test_qrels_reader_and_missing_files(tmp_path: Path) -> None:
    assert read_qrels(FIXTURE / "qrels_test.tsv")["q4"] == {"d2": 1.0, "d1": 1.0}
    with pytest.raises(CorpusError, match="Not a BEIR folder"):
        find_beir(tmp_path, "test")


def test_eval_beir_end_to_end_and_reuses_its_collection() -> None:
    result = runner.invoke(app, ["eval", str(FIXTURE), "--split", "test", "--json"])
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["queries"] == 4 and report["corpus_papers"] == 6
    # Every query's relevant paper is easy to find in a 6-paper corpus.
    assert report["recall_at_100"] == 1.0
    assert report["mrr_at_10"] >= 0.75
    assert 0.8 <= report["ndcg_at_10"] <= 1.0
    assert report["latency_p50_ms"] > 0 and report["latency_p95_ms"] >= report["latency_p50_ms"]
    again = runner.invoke(app, ["eval", str(FIXTURE), "--split", "test"])
    assert again.exit_code == 0
    assert "nDCG@10" in again.stdout and f"{report['ndcg_at_10']:.4f}" in again.stdout
    # The eval collection is its own: the user's index stays empty.
    assert runner.invoke(app, ["search", "wavelet"]).exit_code == 3


def test_eval_question_set(tmp_path: Path) -> None:
    questions = tmp_path / "q.jsonl"
    questions.write_text(
        "\n".join(
            json.dumps(q)
            for q in [
                {
                    "id": "a",
                    "type": "single",
                    "question": "Which paper introduces Layer "
                    "Normalization for recurrent networks?",
                    "gold_titles": ["Layer Normalization"],
                },
                {
                    "id": "b",
                    "type": "unanswerable",
                    "question": "How many training tokens per "
                    "parameter does the Chinchilla scaling analysis recommend?",
                    "gold_titles": [],
                },
            ]
        ),
        encoding="utf-8",
    )
    result = runner.invoke(app, ["eval", str(questions), "--ask", "--backend", "none", "--json"])
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["recall_at_k"] == 1.0
    assert report["unanswerable_declined"] == 1.0
    assert report["answerable_answered"] == 1.0
    assert report["citation_hit_rate"] == 1.0
    assert 0 < report["citation_precision"] <= 1.0
