"""Evidence for a small model: the abstract sentences closest to the question,
numbered one by one, instead of whole abstracts.

The bundled 270M model, given whole abstracts, cites the last one shown far more
often than the right one and writes sentences no abstract says. Given single
sentences, each citation it writes points at one sentence, which the support
check can hold it to. The closest sentence is shown last: a small model leans on
what it read last (measured in BENCHMARKS.md, "Evidence for the embedded model").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from assistant.answering.claimcheck import content_stems
from assistant.answering.verify import SentenceChecker
from assistant.domain import PaperHit

# Sentences shorter than this many content words say too little to answer from.
_MIN_WORDS = 4


def select_evidence(
    question: str,
    papers: Sequence[PaperHit],
    judge: SentenceChecker,
    count: int,
    *,
    closest_last: bool = True,
) -> list[PaperHit]:
    """`count` sentences of `papers`, each as a hit whose abstract is that one
    sentence, the closest to `question` last.

    Closeness is MiniLM cosine (from the sentence vectors `judge` prepared for
    checking the answer) plus the share of the question's content words the
    sentence has; at most half the sentences come from one paper, so that a
    long abstract does not crowd out the others.
    """
    judge.prepare()
    asked_vector = judge.checker.encode([question])[0]
    asked = set(content_stems(question))
    candidates: list[tuple[float, PaperHit, str]] = []
    for paper in papers:
        vectors = judge.vectors_of(paper.paper_id)
        for i, sentence in enumerate(judge.sentences_of(paper.paper_id)):
            words = set(content_stems(sentence))
            if len(words) < _MIN_WORDS or vectors is None:
                continue
            overlap = len(asked & words) / max(len(asked), 1)
            candidates.append((float(vectors[i] @ asked_vector) + 0.5 * overlap, paper, sentence))
    if not candidates:
        return list(papers[:1])
    candidates.sort(key=lambda c: c[0], reverse=True)
    per_paper = max(1, (count + 1) // 2)
    chosen: list[tuple[PaperHit, str]] = []
    taken: dict[str, int] = {}
    for _, paper, sentence in candidates:
        if taken.get(paper.paper_id, 0) >= per_paper:
            continue
        chosen.append((paper, sentence))
        taken[paper.paper_id] = taken.get(paper.paper_id, 0) + 1
        if len(chosen) == count:
            break
    # The closest last (see the module's note).
    ordered = reversed(chosen) if closest_last else iter(chosen)
    return [replace(paper, abstract=sentence) for paper, sentence in ordered]
