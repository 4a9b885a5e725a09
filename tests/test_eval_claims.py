"""`assistant eval` on a claims file: metrics against values worked out by hand,
the table, the JSON keys, and malformed files (exit code 3, no traceback)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from assistant.cli.app import app

runner = CliRunner()

# A made-up abstract; the claims below are about it.
ABSTRACT = (
    "We present TinyRoute, a router for mixture-of-experts language models that sends "
    "each token to one of 16 experts. TinyRoute cuts inference cost by 42% compared "
    "with top-2 routing on the Pile. Load balancing improves when the router is trained "
    "with a z-loss, and TinyRoute does not need an auxiliary balancing loss. Quality on "
    "downstream tasks matches top-2 routing."
)
QUOTE = "TinyRoute cuts inference cost by 42% compared with top-2 routing on the Pile."

# Positive class: unsupported. Eight records, their expected verdicts and why:
RECORDS = [
    # 1. quote, supported -> accepted (right)
    {"id": "r1", "claim": QUOTE, "label": "supported", "kind": "verbatim"},
    # 2. paraphrase, supported -> accepted (right)
    {
        "id": "r2",
        "claim": "Each token goes to one of 16 experts in the TinyRoute router.",
        "label": "supported",
        "kind": "paraphrase",
    },
    # 3. changed number, unsupported -> flagged (right)
    {
        "id": "r3",
        "claim": "TinyRoute cuts inference cost by 61% compared with top-2 routing.",
        "label": "unsupported",
        "kind": "number",
    },
    # 4. a name the abstract never mentions, unsupported -> flagged (right)
    {
        "id": "r4",
        "claim": "TinyRoute cuts inference cost compared with top-2 routing on C4.",
        "label": "unsupported",
        "kind": "entity",
    },
    # 5. dropped negation, unsupported -> flagged (right)
    {
        "id": "r5",
        "claim": "TinyRoute needs an auxiliary balancing loss.",
        "label": "unsupported",
        "kind": "direction",
    },
    # 6. labelled supported, but its number is not the abstract's -> flagged (wrong)
    {
        "id": "r6",
        "claim": "TinyRoute sends each token to one of 32 experts.",
        "label": "supported",
        "kind": "number",
    },
    # 7. labelled unsupported, but a quote -> accepted (wrong)
    {"id": "r7", "claim": QUOTE, "label": "unsupported", "kind": "verbatim"},
    # 8. general knowledge, unsupported -> flagged (right)
    {
        "id": "r8",
        "claim": "Transformers were introduced for machine translation in 2017.",
        "label": "unsupported",
        "kind": "general",
    },
]
# Unsupported: r3 r4 r5 r7 r8 (5); flagged among them: r3 r4 r5 r8 -> recall 4/5 = 0.8.
# Flags: r3 r4 r5 r6 r8 (5), of which right: 4 -> precision 4/5 = 0.8.
# Supported: r1 r2 r6 (3); accepted: r1 r2 -> supported recall 2/3.
# Balanced accuracy: (0.8 + 2/3) / 2 = 11/15 = 0.7333...
# By kind: verbatim r1 right, r7 wrong -> 0.5; number r3 right, r6 wrong -> 0.5;
# paraphrase, entity, direction, general: 1 of 1 each.
EXPECTED_VERDICTS = {
    "r1": "supported",
    "r2": "supported",
    "r3": "unsupported",
    "r4": "unsupported",
    "r5": "unsupported",
    "r6": "unsupported",
    "r7": "supported",
    "r8": "unsupported",
}


def _write(path: Path, records: list[dict[str, str]]) -> Path:
    lines = [json.dumps({**r, "abstract": r.get("abstract", ABSTRACT)}) for r in records]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def claims_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # One home for the module: the ONNX graph is built into it once.
    return tmp_path_factory.mktemp("claims-home")


def test_eval_scores_a_claims_file(
    tmp_path: Path, claims_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASSISTANT_HOME", str(claims_home))
    path = _write(tmp_path / "claims.jsonl", RECORDS)

    result = runner.invoke(app, ["eval", str(path), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    verdicts = {d["id"]: d["verdict"] for d in report["details"]}
    assert verdicts == EXPECTED_VERDICTS, report["details"]
    assert report["claims"] == 8
    assert report["unsupported_recall"] == pytest.approx(0.8)
    assert report["unsupported_precision"] == pytest.approx(0.8)
    assert report["supported_recall"] == pytest.approx(2 / 3)
    assert report["balanced_accuracy"] == pytest.approx(11 / 15)
    assert report["by_kind"] == {
        "direction": {"n": 1, "accuracy": 1.0},
        "entity": {"n": 1, "accuracy": 1.0},
        "general": {"n": 1, "accuracy": 1.0},
        "number": {"n": 2, "accuracy": 0.5},
        "paraphrase": {"n": 1, "accuracy": 1.0},
        "verbatim": {"n": 2, "accuracy": 0.5},
    }
    assert 0 < report["latency_p50_ms"] <= report["latency_p95_ms"]
    evidence = {d["id"]: d["evidence"] for d in report["details"]}
    assert evidence["r1"] == [1]  # the quoted sentence
    reasons = {d["id"]: d["reason"] for d in report["details"]}
    assert reasons["r3"] == "number 61% not in the evidence (it says 42%)"
    assert reasons["r4"] == "C4 not in the abstract"

    table = runner.invoke(app, ["eval", str(path)])
    assert table.exit_code == 0, table.output
    # Each row: the name padded to one width, two spaces, the value.
    rows = dict(line.rsplit("  ", 1) for line in table.stdout.splitlines())
    shown = {name.strip(): value.strip() for name, value in rows.items()}
    assert (
        shown.items()
        >= {
            "claims": "8",
            "balanced accuracy": "0.733",
            "unsupported precision (flags that are right)": "0.800",
            "unsupported recall (unsupported claims flagged)": "0.800",
            "supported recall (supported claims accepted)": "0.667",
            "accuracy: number (2)": "0.500",
            "accuracy: paraphrase (1)": "1.000",
        }.items()
    )


def test_ask_is_refused_for_a_claims_file(tmp_path: Path) -> None:
    path = _write(tmp_path / "claims.jsonl", RECORDS[:1])
    result = runner.invoke(app, ["eval", str(path), "--ask"])
    assert result.exit_code == 2
    assert "Error: --ask answers a question set" in result.stderr


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (
            [{"claim": "A claim.", "label": "supported"}],
            "claims.jsonl:1: a claim record needs `abstract` (text)",
        ),
        (
            [{"claim": "A claim.", "abstract": ABSTRACT, "label": "supported"}, {"claim": 3}],
            "claims.jsonl:2: a claim record needs `claim`, `abstract`, `label` (text)",
        ),
        (
            [{"claim": "A claim.", "abstract": ABSTRACT, "label": "true"}],
            "claims.jsonl:1: label 'true' is neither supported nor unsupported",
        ),
    ],
)
def test_a_malformed_claims_file_is_exit_3_with_the_line(
    tmp_path: Path, lines: list[dict[str, object]], message: str
) -> None:
    path = tmp_path / "claims.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")
    result = runner.invoke(app, ["eval", str(path)])
    assert result.exit_code == 3
    assert f"Error: {path.parent}/{message}" in result.stderr
    assert "Hint: Each line needs a JSON object with `claim`, `abstract` and `label`" in (
        result.stderr
    )
    assert "Traceback" not in result.output


def test_a_line_that_is_not_json_is_exit_3(tmp_path: Path) -> None:
    path = tmp_path / "claims.jsonl"
    good = json.dumps({"claim": "A claim.", "abstract": ABSTRACT, "label": "supported"})
    path.write_text(good + "\n{not json\n", encoding="utf-8")
    result = runner.invoke(app, ["eval", str(path)])
    assert result.exit_code == 3
    assert f"Error: {path}:2: not a JSON object" in result.stderr
