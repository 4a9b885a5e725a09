"""No LLM: the sentences of the top abstracts that are closest to the question."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

from assistant.answering.citations import defuse
from assistant.backends import AnswerRequest
from assistant.embedding.embedder import Embedder
from assistant.index.chunking import split_sentences

if TYPE_CHECKING:
    from assistant.diagnosis import Check
    from assistant.settings import Settings

LABEL = "Extractive answer (no language model), the abstract sentences closest to the question:"
_WORD = re.compile(r"[a-z0-9]+")
_MAX_SENTENCES = 4
_PER_PAPER = 2


class ExtractiveBackend:
    name = "none"
    model = "extractive"
    instruction_following = False
    max_abstracts: int | None = None
    evidence_sentences: int | None = None

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    def check(self) -> None:
        return None

    def stream(self, request: AnswerRequest) -> Iterator[str]:
        import numpy as np

        candidates: list[tuple[int, str]] = []
        for number, hit in enumerate(request.hits, start=1):
            candidates.extend((number, s) for s in split_sentences(hit.abstract))
        if not candidates:
            return
        vectors = self.embedder.embed_documents([request.question] + [s for _, s in candidates])
        similarity = vectors[1:] @ vectors[0]
        # Papers ranked higher by retrieval get a small head start.
        prior = np.array([0.02 * (len(request.hits) - n) for n, _ in candidates])
        order = np.argsort(-(similarity + prior))
        chosen: list[int] = []
        per_paper: dict[int, int] = {}
        for index in order:
            number = candidates[int(index)][0]
            if per_paper.get(number, 0) >= _PER_PAPER:
                continue
            per_paper[number] = per_paper.get(number, 0) + 1
            chosen.append(int(index))
            if len(chosen) == _MAX_SENTENCES:
                break
        yield LABEL + "\n"
        for index in chosen:
            number, sentence = candidates[index]
            # The quote's own [n] markers must not cite other retrieved papers.
            yield f"- {defuse(sentence)} [{number}]\n"

    def complete(self, prompt: str, max_tokens: int) -> str:
        raise NotImplementedError("the extractive backend does not generate text")


def make(settings: Settings, embedder: Embedder, model: str | None) -> ExtractiveBackend:
    return ExtractiveBackend(embedder)


def diagnose(settings: Settings) -> Check:
    from assistant.diagnosis import Check

    return Check("backend", True, "none: extractive answers, no LLM")
