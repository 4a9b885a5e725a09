"""Does an abstract back a claim? A deterministic check that runs offline.

A verdict combines what MiniLM can tell (how close the claim is to the best
sentence of the abstract, or to two neighbouring sentences read together)
with what it cannot (`quantities`: numbers and units; `claimcheck`: names,
word coverage, clauses; `direction` and `negation`: reversed effects, opposite
words, swapped roles, dropped negations). Every verdict carries the abstract
sentences it rests on and a short reason, so the user and the tests can see
why. `signals` gives the measurements before any threshold, `judge` applies
the thresholds (settings `support_min_*`).

`SupportChecker.check_sentences` takes the abstract already split, and its
sentence vectors when the caller has them: encoding the abstract's sentences
is nearly all the cost of a check, and an answer cites the same abstracts
sentence after sentence.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import TYPE_CHECKING

import numpy as np

from assistant.answering import claimcheck, direction, quantities

if TYPE_CHECKING:
    from assistant.settings import Settings

Encode = Callable[[Sequence[str]], np.ndarray]
# Claims and abstracts whose vectors are kept: a few answers' worth.
_REMEMBERED = 256
_CITATION = re.compile(r"\[\s*\d+(?:\s*[,;\u2013-]\s*\d+)*\s*\]")

# Words that end in a full stop without ending a sentence ("et al.", "Fig. 2").
_ABBREVIATIONS = claimcheck.word_set(
    "al e.g i.e cf vs etc fig figs eq eqs sec secs ref refs no nos vol approx resp dr mr mrs "
    "ms prof st tab tabs ch app ed eds"
)
# A full stop, ! or ? (and closing quotes or brackets), then space and what can
# open a sentence. Decimals ("0.5") never match: no space follows the dot.
_BOUNDARY = re.compile(r"([.!?])([\"')\]\u201d]*)\s+(?=[\"'(\[\u201c]*[A-Z0-9])")
_LAST_WORD = re.compile(r"(\S+)$")


def split_sentences(text: str) -> list[str]:
    """An abstract's sentences, in order: paragraph breaks always end one; a full stop
    after an abbreviation (e.g., i.e., et al., Fig., vs.) or an initial does not."""
    sentences: list[str] = []
    for block in re.split(r"\n\s*\n", text):
        block = " ".join(block.split())
        start = 0
        for match in _BOUNDARY.finditer(block):
            word = _LAST_WORD.search(block[start : match.start()])
            last = word.group(1).lower().lstrip("([\"'") if word else ""
            if match.group(1) == "." and not match.group(2):
                if last in _ABBREVIATIONS or last.endswith(("e.g", "i.e")):
                    continue
                if len(last) == 1 and last.isalpha():  # an initial: "J. Smith"
                    continue
            sentences.append(block[start : match.end()].strip())
            start = match.end()
        if block[start:].strip():
            sentences.append(block[start:].strip())
    return sentences


@dataclass(frozen=True)
class Verdict:
    supported: bool
    score: float  # higher is better supported; comparable to `min_score`
    evidence: tuple[int, ...]  # indices of the abstract sentences that back it, best first
    reason: str  # "supported", or what is wrong, in a few words

    def as_json(self) -> dict[str, object]:
        return {
            "supported": self.supported,
            "score": round(self.score, 4),
            "evidence": list(self.evidence),
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Signals:
    """What a verdict rests on: MiniLM closeness, word coverage, the weakest clause,
    and what the lexical checks found."""

    similarity: float  # cosine to the closest sentence or pair of neighbouring sentences
    coverage: float  # share of the claim's content words the abstract contains
    missing: tuple[str, ...]  # (stems of) the claim's words the abstract lacks
    weakest_clause: float  # lowest (similarity + coverage) / 2 of its statements; 1.0 if one
    clause_missing: tuple[str, ...]  # what that statement's words lack
    problem: str | None  # a changed number, an absent name, a contradiction
    evidence: tuple[int, ...]  # the closest window's sentences, the closer first

    @property
    def score(self) -> float:
        return (self.similarity + self.coverage) / 2


class SupportChecker:
    """Judges (claim, abstract) pairs with MiniLM similarity and lexical checks.

    `encode` turns texts into unit-length MiniLM vectors (one row per text). The
    thresholds are the settings `support_min_*` (`from_settings`); the defaults
    here are their calibrated values.
    """

    def __init__(
        self,
        encode: Encode,
        *,
        min_similarity: float = 0.45,
        min_coverage: float = 0.30,
        min_score: float = 0.57,
        min_clause: float = 0.43,
    ) -> None:
        self.encode = encode
        # An answer's sentence is checked against each abstract it may cite, and
        # each abstract against every sentence citing it: encode each once.
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self.min_similarity = min_similarity
        self.min_coverage = min_coverage
        self.min_score = min_score
        self.min_clause = min_clause

    @classmethod
    def from_settings(cls, encode: Encode, settings: Settings) -> SupportChecker:
        return cls(
            encode,
            min_similarity=settings.support_min_similarity,
            min_coverage=settings.support_min_coverage,
            min_score=settings.support_min_score,
            min_clause=settings.support_min_clause,
        )

    def check(self, claim: str, abstract: str, *, title: str = "") -> Verdict:
        """Whether `abstract` backs `claim`; evidence indexes `split_sentences(abstract)`.
        The abstract's sentence vectors are kept for the next claim about it."""
        sentences = split_sentences(abstract)
        if not sentences:
            return self.check_sentences(claim, sentences, title=title)
        key = "\0".join(sentences)
        vectors = self._remembered(key, lambda: self.encode(sentences))
        return self.check_sentences(claim, sentences, vectors, title=title)

    def check_sentences(
        self,
        claim: str,
        sentences: Sequence[str],
        vectors: np.ndarray | None = None,
        *,
        title: str = "",
    ) -> Verdict:
        """Whether the abstract made of `sentences` backs `claim`. `vectors`, if
        given, are `encode(sentences)`, computed once per abstract. Citation
        markers in the claim ("[2]", "[1, 3]") are not part of what it says. The
        paper's `title`, if given, counts for names (an abstract may say "our
        method" where the claim names it from the title), never as evidence."""
        if not sentences:
            return Verdict(False, 0.0, (), "no abstract text to check against")
        found = self.signals(claim, sentences, vectors, title=title)
        return self.judge(found) if found else Verdict(False, 0.0, (), "the sentence says nothing")

    def judge(self, found: Signals) -> Verdict:
        """The verdict the thresholds give on a claim's signals."""

        def verdict(supported: bool, reason: str) -> Verdict:
            return Verdict(supported, found.score, found.evidence, reason)

        if found.problem:
            return verdict(False, found.problem)
        if found.weakest_clause < self.min_clause:
            missing = ", ".join(found.clause_missing[:3])
            return verdict(False, f"part of the claim is not in the abstract: {missing}")
        if found.similarity < self.min_similarity:
            return verdict(False, f"no sentence says this (similarity {found.similarity:.2f})")
        if found.coverage < self.min_coverage:
            return verdict(False, f"the abstract lacks {', '.join(found.missing[:4])}")
        if found.score < self.min_score:
            return verdict(False, f"weak support (score {found.score:.2f})")
        return verdict(True, "supported")

    def signals(
        self,
        claim: str,
        sentences: Sequence[str],
        vectors: np.ndarray | None = None,
        *,
        title: str = "",
    ) -> Signals | None:
        """What the verdict rests on, before any threshold (None: the claim has no
        words). Calibration replays `judge` on these with other thresholds."""
        claim = " ".join(_CITATION.sub(" ", claim).split())
        if not sentences or not any(c.isalnum() for c in claim):
            return None
        if vectors is None:
            vectors = self.encode(list(sentences))
        windows = _Windows(sentences, vectors)
        parts = claimcheck.clauses(claim)
        similarity = windows.matrix @ self._claim_vectors(claim, parts)[0]
        best = int(np.argmax(similarity))
        abstract = " ".join(sentences)
        coverage, missing = claimcheck.coverage(claim, abstract)
        weakest = 1.0
        clause_missing: tuple[str, ...] = ()
        if len(parts) > 1:
            closest = (windows.matrix @ self._claim_vectors(claim, parts)[1:].T).max(axis=0)
            for part, near in zip(parts, closest, strict=True):
                part_coverage, lacking = claimcheck.coverage(part, abstract)
                if (float(near) + part_coverage) / 2 < weakest:
                    weakest, clause_missing = (float(near) + part_coverage) / 2, tuple(lacking)
        return Signals(
            similarity=float(similarity[best]),
            coverage=coverage,
            missing=tuple(missing),
            weakest_clause=weakest,
            clause_missing=clause_missing,
            problem=_problem(claim, abstract, title, windows, best),
            evidence=windows.sentences(best, similarity),
        )

    def _claim_vectors(self, claim: str, parts: list[str]) -> np.ndarray:
        """The claim's vector, then its statements' if it joins several: one call."""
        texts = [claim, *parts] if len(parts) > 1 else [claim]
        return self._remembered("\1".join(texts), lambda: self.encode(texts))

    def _remembered(self, text: str, compute: Callable[[], np.ndarray]) -> np.ndarray:
        """The vector(s) of a claim or an abstract, from the last `_REMEMBERED` used."""
        vector = self._vectors.pop(text, None)
        if vector is None:
            vector = compute()
        self._vectors[text] = vector
        while len(self._vectors) > _REMEMBERED:
            self._vectors.popitem(last=False)
        return vector


def _problem(claim: str, abstract: str, title: str, windows: _Windows, best: int) -> str | None:
    """The first thing the claim gets wrong, whatever the thresholds, if any."""
    for number in quantities.number_problems(claim, abstract):
        if number.unit_changed:
            return f"unit changed: {number.claimed} where the abstract says {number.stated}"
        if number.stated:
            return f"number {number.claimed} not in the evidence (it says {number.stated})"
        return f"number {number.claimed} not in the evidence"
    names = claimcheck.missing_names(claim, f"{title}. {abstract}" if title else abstract)
    if names:
        return f"{', '.join(names[:3])} not in the abstract"
    # The closest window in meaning, and the one sharing most words with the
    # claim: MiniLM can prefer a short generic sentence to the long one that
    # holds the claim's words.
    lexical = windows.most_covering(claim)
    passages = list(dict.fromkeys(windows.texts[w] for w in (best, lexical)))
    sentences = list(
        dict.fromkeys(windows.texts[i] for w in (best, lexical) for i in windows.spans[w])
    )
    conflict = direction.contradiction(claim, passages, sentences)
    return conflict.reason if conflict else None


class _Windows:
    """Each sentence, and each pair of neighbours read together: a claim often joins
    what two sentences say."""

    def __init__(self, sentences: Sequence[str], vectors: np.ndarray) -> None:
        n = self.count = len(sentences)
        self.spans = [(i,) for i in range(n)] + [(i, i + 1) for i in range(n - 1)]
        self.texts = list(sentences) + [f"{a} {b}" for a, b in pairwise(sentences)]
        # MiniLM pools the mean of its token vectors, so two sentences read together
        # lie close to the length-weighted mean of their vectors: no second encoding.
        lengths = np.array([max(len(s.split()), 1) for s in sentences], dtype=np.float32)
        pairs = vectors[:-1] * lengths[:-1, None] + vectors[1:] * lengths[1:, None]
        pairs /= np.maximum(np.linalg.norm(pairs, axis=1, keepdims=True), 1e-12)
        self.matrix = np.vstack([vectors, pairs]) if n > 1 else vectors

    def most_covering(self, claim: str) -> int:
        """The window holding most of the claim's content words (the first, on a tie)."""
        found = [claimcheck.findable(t) for t in self.texts[: self.count]]
        found += [a | b for a, b in pairwise(found)]
        return int(np.argmax([claimcheck.share_found(claim, f) for f in found]))

    def sentences(self, best: int, similarity: np.ndarray) -> tuple[int, ...]:
        """The best window's sentences, the closer one first."""
        span = self.spans[best]
        return tuple(sorted(span, key=lambda i: -float(similarity[i])))
