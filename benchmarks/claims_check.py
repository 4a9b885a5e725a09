"""The support checker on a claims file: metrics, per-kind accuracy, a baseline,
held-out folds, and what checking an answer costs.

    python benchmarks/claims_check.py                       # ../shared/eval/claims_dev.jsonl
    python benchmarks/claims_check.py other_claims.jsonl --folds 5

Printed, in order:
1. the checker with the settings' thresholds (what `assistant eval claims.jsonl`
   reports), and the baseline the issue gives for scale: MiniLM cosine to the best
   sentence or pair of neighbouring sentences >= 0.70, plus every number of the
   claim occurring in the abstract;
2. held-out folds: papers split into k folds; the four thresholds are chosen on
   k-1 folds (best balanced accuracy on a grid, the middle of its plateau) and
   applied to the claims of the papers left out. The word lists and rules were
   written while reading the whole dev set, so this measures the thresholds'
   generalisation, not the rules';
3. latency of an answer of five sentences over five abstracts, each sentence
   checked against every abstract (25 checks) and against one (5 checks), with
   the abstracts' sentence vectors computed in the check or passed in.
"""

from __future__ import annotations

import argparse
import itertools
import random
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant.answering.support import (  # noqa: E402
    Signals,
    SupportChecker,
    split_sentences,
)
from assistant.evaluation.claims import Claim, read_claims, score_claims  # noqa: E402
from assistant.settings import load_settings  # noqa: E402

_NUMBER = re.compile(r"\d+(?:\.\d+)?")
GRID = {
    "min_similarity": np.arange(0.30, 0.76, 0.05),
    "min_coverage": np.arange(0.20, 0.71, 0.05),
    "min_score": np.arange(0.45, 0.76, 0.01),
    "min_clause": np.arange(0.30, 0.66, 0.025),
}


def encoder(name: str) -> Callable[[Sequence[str]], np.ndarray]:
    from assistant.embedding.embedder import minilm_path

    if name == "numpy":
        from assistant.embedding.query_encoder import numpy_minilm

        model = numpy_minilm(minilm_path())
        return lambda texts: model.encode(list(texts))
    from assistant.evaluation.claims import minilm_encoder

    return minilm_encoder(load_settings())


def metrics(labels: Sequence[bool], accepted: Sequence[bool]) -> dict[str, float]:
    """Positive class: unsupported (label False)."""
    flagged_right = sum(not a and not s for s, a in zip(labels, accepted, strict=True))
    flagged = sum(not a for a in accepted)
    unsupported = sum(not s for s in labels)
    supported = sum(labels)
    accepted_right = sum(a and s for s, a in zip(labels, accepted, strict=True))
    recall_u = flagged_right / unsupported if unsupported else 0.0
    recall_s = accepted_right / supported if supported else 0.0
    return {
        "balanced accuracy": (recall_u + recall_s) / 2,
        "unsupported precision": flagged_right / flagged if flagged else 0.0,
        "unsupported recall": recall_u,
        "supported recall": recall_s,
    }


def by_kind(claims: Sequence[Claim], accepted: Sequence[bool]) -> dict[str, tuple[int, int]]:
    kinds: dict[str, tuple[int, int]] = {}
    for claim, ok in zip(claims, accepted, strict=True):
        key = (
            claim.kind
            if claim.kind != "natural"
            else f"natural/{'sup' if claim.supported else 'uns'}"
        )
        right, n = kinds.get(key, (0, 0))
        kinds[key] = (right + (ok == claim.supported), n + 1)
    return dict(sorted(kinds.items()))


def show(title: str, claims: Sequence[Claim], accepted: Sequence[bool]) -> None:
    print(f"\n{title}")
    for name, value in metrics([c.supported for c in claims], accepted).items():
        print(f"  {name:<24} {value:.3f}")
    print(
        "  by kind: " + ", ".join(f"{k} {r}/{n}" for k, (r, n) in by_kind(claims, accepted).items())
    )


def baseline(claims: Sequence[Claim], encode: Callable[[Sequence[str]], np.ndarray]) -> list[bool]:
    accepted = []
    for claim in claims:
        sentences = split_sentences(claim.abstract)
        windows = sentences + [f"{a} {b}" for a, b in itertools.pairwise(sentences)]
        closest = float((encode(windows) @ encode([claim.claim])[0]).max())
        numbers = set(_NUMBER.findall(claim.claim)) <= set(_NUMBER.findall(claim.abstract))
        accepted.append(closest >= 0.70 and numbers)
    return accepted


def calibrate(signals: Sequence[Signals], labels: Sequence[bool]) -> dict[str, float]:
    """The grid point with the best balanced accuracy; on a plateau, the one nearest
    the plateau's middle (a threshold at the edge of its range is a coincidence).
    Accepting is what `SupportChecker.judge` does: no problem and every signal at
    or above its threshold; here for the whole grid at once."""
    columns = {
        "min_similarity": [s.similarity for s in signals],
        "min_coverage": [s.coverage for s in signals],
        "min_score": [s.score for s in signals],
        "min_clause": [s.weakest_clause for s in signals],
    }
    clean = np.array([s.problem is None for s in signals])
    accepted = np.broadcast_to(clean, (*(len(g) for g in GRID.values()), len(signals)))
    for axis, (name, grid) in enumerate(GRID.items()):
        shape = [1] * len(GRID)
        shape[axis] = len(grid)
        values = np.array(columns[name])[None, :]
        passes = values >= (grid[:, None] - 1e-9)
        accepted = accepted & passes.reshape(*shape, len(signals))
    truth = np.array(labels)
    recall_s = (accepted & truth).sum(-1) / max(truth.sum(), 1)
    recall_u = (~accepted & ~truth).sum(-1) / max((~truth).sum(), 1)
    balanced = (recall_s + recall_u) / 2
    ties = np.argwhere(np.isclose(balanced, balanced.max()))
    middle = np.median(ties, axis=0)
    chosen = ties[np.argmin(((ties - middle) ** 2).sum(axis=1))]
    return {
        name: round(float(grid[i]), 3) for (name, grid), i in zip(GRID.items(), chosen, strict=True)
    }


def held_out(
    claims: Sequence[Claim],
    signals: Sequence[Signals],
    folds: int,
    encode: Callable[..., np.ndarray],
) -> list[bool]:
    papers = sorted({c.abstract for c in claims})
    random.Random(0).shuffle(papers)
    fold_of = {paper: i % folds for i, paper in enumerate(papers)}
    accepted = [False] * len(claims)
    for fold in range(folds):
        train = [i for i, c in enumerate(claims) if fold_of[c.abstract] != fold]
        thresholds = calibrate([signals[i] for i in train], [claims[i].supported for i in train])
        print(f"  fold {fold}: {len(claims) - len(train)} claims held out, thresholds {thresholds}")
        checker = SupportChecker(encode, **thresholds)
        for i, claim in enumerate(claims):
            if fold_of[claim.abstract] == fold:
                accepted[i] = checker.judge(signals[i]).supported
    return accepted


def latency(
    claims: Sequence[Claim], encode: Callable[[Sequence[str]], np.ndarray], runs: int
) -> None:
    """Answers of five sentences over five abstracts of distinct papers. Each way of
    checking gets its own answers, so no text was seen before (the checker keeps
    what it computed about a text); the encoder is warm."""
    papers: dict[str, Claim] = {}
    for claim in claims:
        papers.setdefault(claim.abstract, claim)
    answers = [list(papers.values())[i : i + 5] for i in range(0, len(papers) - 4, 5)]
    ways = [(25, False), (25, True), (5, False), (5, True)]
    encode(["warm up"])
    timings: dict[tuple[int, bool], list[float]] = {way: [] for way in ways}
    encoding: list[float] = []
    for n, answer in enumerate(answers[: runs * len(ways)]):
        checks, passed = ways[n % len(ways)]
        checker = SupportChecker(encode)
        sentences = [split_sentences(c.abstract) for c in answer]
        vectors: list[np.ndarray] = []
        if passed:
            started = time.perf_counter()
            vectors = [encode(s) for s in sentences]
            encoding.append(time.perf_counter() - started)
        started = time.perf_counter()
        for i, claim in enumerate(answer):
            for j in range(5) if checks == 25 else (i,):
                if passed:
                    checker.check_sentences(claim.claim, sentences[j], vectors[j])
                else:  # encodes an abstract's sentences on first use, keeps them
                    checker.check(claim.claim, answer[j].abstract)
        timings[(checks, passed)].append(time.perf_counter() - started)
    each = min(len(t) for t in timings.values())
    print(f"\nAn answer of 5 sentences over 5 abstracts (p50 of {each} answers each, ms):")
    for (checks, passed), label in zip(
        ways,
        (
            "each sentence vs all 5 abstracts, check() encodes each abstract once",
            "each sentence vs all 5 abstracts, abstract vectors passed in",
            "each sentence vs its one cited abstract, check() encodes it",
            "each sentence vs its one cited abstract, vectors passed in",
        ),
        strict=True,
    ):
        print(f"  {statistics.median(timings[(checks, passed)]) * 1000:7.1f}  {label}")
    print(f"  {statistics.median(encoding) * 1000:7.1f}  encoding the 5 abstracts' sentences once")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "claims", nargs="?", default=str(ROOT.parent / "shared/eval/claims_dev.jsonl")
    )
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--encoder", choices=("onnx", "numpy"), default="onnx")
    parser.add_argument("--answers", type=int, default=4, help="answers timed per way")
    args = parser.parse_args()
    claims = read_claims(Path(args.claims))
    encode = encoder(args.encoder)
    settings = load_settings()
    checker = SupportChecker.from_settings(encode, settings)

    report = score_claims(claims, checker)
    accepted = [d["verdict"] == "supported" for d in report.details]
    print(
        f"{len(claims)} claims from {len({c.abstract for c in claims})} abstracts ({args.claims})"
    )
    show(f"Checker, settings' thresholds {report.thresholds}", claims, accepted)
    print(
        f"  latency per claim: p50 {report.latency_p50_ms:.1f} ms, "
        f"p95 {report.latency_p95_ms:.1f} ms (abstract vectors computed on first use)"
    )
    show(
        "Baseline: cosine >= 0.70 to best sentence or pair, and the claim's numbers occur",
        claims,
        baseline(claims, encode),
    )

    print(f"\nHeld-out folds ({args.folds}, split by paper):")
    signals = [checker.signals(c.claim, split_sentences(c.abstract), title=c.title) for c in claims]
    if any(s is None for s in signals):
        sys.exit("a claim with no words: remove it from the file")
    kept = [s for s in signals if s is not None]
    show("Checker on held-out folds", claims, held_out(claims, kept, args.folds, encode))
    chosen = calibrate(kept, [c.supported for c in claims])
    print(f"  thresholds chosen on the whole file: {chosen}")

    wrong = [d for d in report.details if not d["right"]]
    print(f"\nMisclassified with the settings' thresholds ({len(wrong)}):")
    for d in wrong:
        claim = next(c for c in claims if c.id == d["id"])
        print(f"  {d['id']} {d['kind']} {d['label']}: {d['reason']} | {claim.claim[:100]}")
    latency(claims, encode, args.answers)


if __name__ == "__main__":
    main()
