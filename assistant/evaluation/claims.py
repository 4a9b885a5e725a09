"""Scoring the support checker on a claims file (the format of claims_dev.jsonl).

Each line is a JSON object with `claim`, `abstract` and `label` (`supported` or
`unsupported`), and optionally `id`, `kind` (paraphrase, number, direction, ...)
and `paper_title` (given to the checker with the abstract). The checker is
scored as a detector of unsupported claims: precision and recall of its
"unsupported" flags, recall of supported claims, their mean (balanced
accuracy), accuracy per kind, and the time each check took.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.errors import CorpusError
from assistant.evaluation.metrics import percentile

if TYPE_CHECKING:
    import numpy as np

    from assistant.answering.support import SupportChecker
    from assistant.settings import Settings

LABELS = ("supported", "unsupported")
_FIELDS = ("claim", "abstract", "label")


@dataclass(frozen=True)
class Claim:
    id: str
    claim: str
    abstract: str
    supported: bool
    kind: str
    title: str = ""


def is_claims_file(path: Path) -> bool:
    """A .jsonl file whose first record has a claims field (`claim`, `abstract` or
    `label`): a question set has none of them."""
    if path.suffix.lower() != ".jsonl" or not path.is_file():
        return False
    try:
        with path.open(encoding="utf-8") as handle:
            first = next((line for line in handle if line.strip()), "")
        record = json.loads(first)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(record, dict) and any(name in record for name in _FIELDS)


def read_claims(path: Path) -> list[Claim]:
    """Every record of a claims file; the first bad one stops with its line number."""
    claims: list[Claim] = []
    try:
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if line.strip():
                    claims.append(_claim(path, number, line))
    except (OSError, UnicodeDecodeError) as exc:
        raise CorpusError(f"Cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from exc
    if not claims:
        raise CorpusError(f"{path} has no claims.", hint=_HINT)
    return claims


_HINT = (
    "Each line needs a JSON object with `claim`, `abstract` and `label` "
    "(supported or unsupported); `id` and `kind` are optional."
)


def _claim(path: Path, number: int, line: str) -> Claim:
    where = f"{path}:{number}"
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise CorpusError(f"{where}: not a JSON object ({exc})", hint=_HINT) from exc
    if not isinstance(record, dict):
        raise CorpusError(f"{where}: not a JSON object", hint=_HINT)
    missing = [name for name in _FIELDS if not isinstance(record.get(name), str)]
    if missing:
        names = ", ".join(f"`{name}`" for name in missing)
        raise CorpusError(f"{where}: a claim record needs {names} (text)", hint=_HINT)
    label = record["label"].strip().lower()
    if label not in LABELS:
        raise CorpusError(
            f"{where}: label {record['label']!r} is neither supported nor unsupported",
            hint=_HINT,
        )
    return Claim(
        id=str(record.get("id", number)),
        claim=record["claim"],
        abstract=record["abstract"],
        supported=label == "supported",
        kind=str(record.get("kind") or "-"),
        title=str(record.get("paper_title") or ""),
    )


@dataclass
class ClaimsReport:
    claims: int
    balanced_accuracy: float
    # The checker as a detector of unsupported claims; None when a class is absent.
    unsupported_precision: float | None
    unsupported_recall: float | None
    supported_recall: float | None
    by_kind: dict[str, dict[str, float]]  # kind -> {"n": count, "accuracy": share right}
    latency_p50_ms: float  # one check: claim vector, abstract vectors on first use, rules
    latency_p95_ms: float
    thresholds: dict[str, float]
    details: list[dict[str, Any]] = field(default_factory=list)

    def rows(self) -> list[tuple[str, str]]:
        def share(value: float | None) -> str:
            return "n/a" if value is None else f"{value:.3f}"

        rows = [
            ("claims", str(self.claims)),
            ("balanced accuracy", f"{self.balanced_accuracy:.3f}"),
            ("unsupported precision (flags that are right)", share(self.unsupported_precision)),
            ("unsupported recall (unsupported claims flagged)", share(self.unsupported_recall)),
            ("supported recall (supported claims accepted)", share(self.supported_recall)),
        ]
        for kind, scores in self.by_kind.items():
            rows.append((f"accuracy: {kind} ({scores['n']:.0f})", f"{scores['accuracy']:.3f}"))
        rows += [
            ("latency p50 per claim", f"{self.latency_p50_ms:.1f} ms"),
            ("latency p95 per claim", f"{self.latency_p95_ms:.1f} ms"),
            ("thresholds", ", ".join(f"{k} {v:g}" for k, v in self.thresholds.items())),
        ]
        return rows


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def score_claims(
    claims: Sequence[Claim], checker: SupportChecker, *, progress: bool = False
) -> ClaimsReport:
    """Run the checker on every claim and score its verdicts against the labels."""
    from tqdm import tqdm

    flagged_right = flagged = unsupported = accepted_right = supported = 0
    latency: list[float] = []
    kinds: dict[str, list[bool]] = {}
    details: list[dict[str, Any]] = []
    for claim in tqdm(claims, desc="Claims", unit="claim", file=sys.stderr, disable=not progress):
        started = time.perf_counter()
        verdict = checker.check(claim.claim, claim.abstract, title=claim.title)
        latency.append(time.perf_counter() - started)
        right = verdict.supported == claim.supported
        kinds.setdefault(claim.kind, []).append(right)
        flagged += not verdict.supported
        flagged_right += not verdict.supported and not claim.supported
        unsupported += not claim.supported
        supported += claim.supported
        accepted_right += verdict.supported and claim.supported
        details.append(
            {
                "id": claim.id,
                "kind": claim.kind,
                "label": LABELS[not claim.supported],
                "verdict": LABELS[not verdict.supported],
                "right": right,
                **{k: v for k, v in verdict.as_json().items() if k != "supported"},
            }
        )
    both = (_ratio(flagged_right, unsupported), _ratio(accepted_right, supported))
    recalls = [r for r in both if r is not None]
    return ClaimsReport(
        claims=len(claims),
        balanced_accuracy=sum(recalls) / len(recalls) if recalls else 0.0,
        unsupported_precision=_ratio(flagged_right, flagged),
        unsupported_recall=_ratio(flagged_right, unsupported),
        supported_recall=_ratio(accepted_right, supported),
        by_kind={
            kind: {"n": len(marks), "accuracy": sum(marks) / len(marks)}
            for kind, marks in sorted(kinds.items())
        },
        latency_p50_ms=percentile(latency, 50) * 1000,
        latency_p95_ms=percentile(latency, 95) * 1000,
        thresholds={
            "min_similarity": checker.min_similarity,
            "min_coverage": checker.min_coverage,
            "min_score": checker.min_score,
            "min_clause": checker.min_clause,
        },
        details=details,
    )


def minilm_encoder(settings: Settings) -> Callable[[Sequence[str]], np.ndarray]:
    """The bundled MiniLM through ONNX Runtime, fp32: the vectors the thresholds were
    calibrated on (the NumPy encoder gives the same to 1e-5), in batches."""
    from assistant.embedding.embedder import minilm_path
    from assistant.embedding.onnx_encoder import OnnxMiniLM
    from assistant.offline import enforce_offline

    enforce_offline()
    model = OnnxMiniLM(minilm_path(), settings.models_dir, "fp32")

    def encode(texts: Sequence[str]) -> np.ndarray:
        return model.encode(texts, batch_size=16)

    return encode


def evaluate_claims(settings: Settings, path: Path, *, progress: bool = False) -> ClaimsReport:
    """Read the file (errors before any model loads), then check every claim."""
    from assistant.answering.support import SupportChecker

    claims = read_claims(path)
    checker = SupportChecker.from_settings(minilm_encoder(settings), settings)
    return score_claims(claims, checker, progress=progress)
