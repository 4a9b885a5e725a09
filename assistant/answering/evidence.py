"""Evidence for a small model: the abstract sentences closest to the question,
numbered one by one, instead of whole abstracts.

The bundled 270M model, given whole abstracts, cites the last one shown far more
often than the right one and writes sentences no abstract says. Given single
sentences, each citation it writes points at one sentence, which the support
check can hold it to. The closest sentence is shown last: a small model leans on
what it read last (measured in BENCHMARKS.md, "Evidence for the embedded model").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from assistant.answering.claimcheck import content_stems
from assistant.answering.support import split_sentences
from assistant.domain import PaperHit

Encode = Callable[[Sequence[str]], np.ndarray]
# Sentences shorter than this many content words say too little to answer from.
_MIN_WORDS = 4


def select_evidence(
    question: str, papers: Sequence[PaperHit], encode: Encode, count: int
) -> list[PaperHit]:
    """`count` sentences of `papers`, each as a hit whose abstract is that one
    sentence, the closest to `question` last.

    Closeness is MiniLM cosine plus the share of the question's content words
    the sentence has; at most half the sentences come from one paper, so that a
    long abstract does not crowd out the others.
    """
    candidates: list[tuple[PaperHit, str]] = [
        (paper, sentence)
        for paper in papers
        for sentence in split_sentences(paper.abstract)
        if len(content_stems(sentence)) >= _MIN_WORDS
    ]
    if not candidates:
        return list(papers[:1])
    vectors = encode([question, *(s for _, s in candidates)])
    similarity = vectors[1:] @ vectors[0]
    asked = set(content_stems(question))
    overlap = [
        len(asked & set(content_stems(sentence))) / max(len(asked), 1) for _, sentence in candidates
    ]
    ranked = sorted(
        range(len(candidates)), key=lambda i: float(similarity[i]) + 0.5 * overlap[i], reverse=True
    )
    per_paper = max(1, (count + 1) // 2)
    chosen: list[int] = []
    taken: dict[str, int] = {}
    for i in ranked:
        paper = candidates[i][0].paper_id
        if taken.get(paper, 0) >= per_paper:
            continue
        chosen.append(i)
        taken[paper] = taken.get(paper, 0) + 1
        if len(chosen) == count:
            break
    # The closest last (see the module's note).
    return [replace(candidates[i][0], abstract=candidates[i][1]) for i in reversed(chosen)]
