"""Answering a question: retrieve, decide whether the abstracts can answer,
prompt the backend, stream the answer with resolved citations."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from assistant.abstention import Assessment, assess
from assistant.backends import AnswerRequest, Backend
from assistant.citations import CitationStream
from assistant.errors import BackendFailedError, UsageError
from assistant.filters import Filters
from assistant.prompts import PromptSet, Turn
from assistant.retrieval import PaperHit, Retriever, llama_retriever
from assistant.screening import screen

DECLINE = "The abstracts do not say."
MAX_QUESTION_CHARS = 4000
_DECLINED = re.compile(
    r"abstracts? (?:do(?:es)? not|don't|doesn't) (?:say|answer|contain|mention|provide|address"
    r"|discuss|state)|\bcannot (?:be )?answer|\bcan't answer|\bnot (?:mentioned|stated) in the",
    re.IGNORECASE,
)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# A terminal colour or cursor sequence pasted with the question ("\x1b[31m"): without
# this, only its ESC would go and "[31m" would be searched for.
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")

Abstention = Literal["retrieval", "model"]


@dataclass(frozen=True)
class Source:
    number: int
    hit: PaperHit

    def as_json(self) -> dict[str, Any]:
        return {"number": self.number, **self.hit.as_json()}


@dataclass
class Answer:
    question: str
    search_query: str
    backend: str
    model: str
    text: str = ""
    abstention: Abstention | None = None
    abstention_detail: str | None = None
    sources: list[Source] = field(default_factory=list)
    retrieved: list[PaperHit] = field(default_factory=list)
    dropped_citations: list[int] = field(default_factory=list)
    # Sentences kept from the model because they read as instructions, by abstract number.
    withheld: dict[int, tuple[str, ...]] = field(default_factory=dict)
    incomplete: bool = False
    interrupted: bool = False
    error: str | None = None
    error_hint: str | None = None
    assessment: Assessment | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def answered(self) -> bool:
        return self.abstention is None

    def as_json(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "search_query": self.search_query,
            "answer": self.text,
            "answered": self.answered,
            "abstention": self.abstention,
            "abstention_detail": self.abstention_detail,
            "backend": self.backend,
            "model": self.model,
            "sources": [s.as_json() for s in self.sources],
            "retrieved": [h.as_json() for h in self.retrieved],
            "dropped_citations": self.dropped_citations,
            "withheld": [
                {"number": n, "paper_id": self.retrieved[n - 1].paper_id, "sentences": list(s)}
                for n, s in sorted(self.withheld.items())
            ],
            "support": self.assessment.as_json() if self.assessment else None,
            "incomplete": self.incomplete,
            "error": self.error,
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
        }


def clean_question(question: str) -> str:
    """Strip control characters and check the question is usable."""
    text = _CONTROL.sub(" ", _ANSI.sub("", question)).strip()
    if not text:
        raise UsageError("The question is empty.", hint='Ask something, e.g. assistant ask "..."')
    if len(text) > MAX_QUESTION_CHARS:
        raise UsageError(
            f"The question is {len(text):,} characters long; the limit is {MAX_QUESTION_CHARS:,}.",
            hint="Ask a shorter question; the embedder reads only about 200 words anyway.",
        )
    return text


class Answerer:
    """The answer chain: a LlamaIndex retriever, our prompts, a backend."""

    def __init__(
        self,
        retriever: Retriever,
        backend: Backend,
        prompts: PromptSet,
        *,
        top_k: int,
        min_support: float,
        filters: Filters | None = None,
    ) -> None:
        # Filters hold for every question this answerer is asked (a whole chat session).
        self.filters = filters or Filters()
        self.retriever = retriever
        self.backend = backend
        self.prompts = prompts
        self.top_k = top_k
        self.min_support = min_support

    def retrieve(self, query: str) -> list[PaperHit]:
        nodes = llama_retriever(self.retriever, self.top_k, self.filters).retrieve(query)
        return [n.node.metadata["hit"] for n in nodes]

    def answer(
        self,
        question: str,
        *,
        history: Sequence[Turn] = (),
        search_query: str | None = None,
        on_text: Callable[[str], None] | None = None,
    ) -> Answer:
        started = time.perf_counter()
        question = clean_question(question)
        query = search_query or question
        result = Answer(question, query, self.backend.name, self.backend.model)
        emit = on_text or (lambda _text: None)

        hits = self.retrieve(query)
        result.retrieved = hits
        result.timings["retrieval_s"] = time.perf_counter() - started
        # Judged on what was searched: in chat, a follow-up ("and the datasets?")
        # carries its topic only in the rewritten query.
        assessment = assess(
            query,
            hits,
            self.retriever.lexical,
            self.min_support,
            follow_up=question if query != question else None,
        )
        if not hits and self.filters:
            assessment = replace(
                assessment, reason=f"No papers match the filters {self.filters.describe()}."
            )
        result.assessment = assessment
        if assessment.declined:
            result.abstention, result.abstention_detail = "retrieval", assessment.reason
            result.text = DECLINE
            emit(DECLINE + "\n")
            result.timings["total_s"] = time.perf_counter() - started
            return result

        # Every retrieved abstract is screened for sentences that give orders (and
        # what was withheld is reported); the model (and the extractive backend)
        # sees the first `max_abstracts` of them, screened. Sources still come
        # from the retrieved hits.
        screened = [screen(h.abstract) for h in hits]
        result.withheld = {n: s.withheld for n, s in enumerate(screened, start=1) if s.withheld}
        shown_hits = [replace(h, abstract=s.text) for h, s in zip(hits, screened, strict=True)]
        given = shown_hits[: self.backend.max_abstracts or len(shown_hits)]
        entries = [(n, h.title, h.abstract) for n, h in enumerate(given, start=1)]
        prompt = self.prompts.answer(question, entries, history)
        citations = CitationStream({n: h.paper_id for n, h in enumerate(given, start=1)})
        request = AnswerRequest(question, given, prompt)
        try:
            for piece in self.backend.stream(request):
                if "first_token_s" not in result.timings:
                    result.timings["first_token_s"] = time.perf_counter() - started
                shown = citations.feed(piece)
                if shown:
                    emit(shown)
        except BackendFailedError as exc:
            result.incomplete, result.error, result.error_hint = True, exc.message, exc.hint
        except KeyboardInterrupt:
            result.incomplete, result.interrupted, result.error = True, True, "interrupted"
        emit(citations.finish())
        result.text = citations.text.strip()
        by_id = {h.paper_id: h for h in hits}
        result.sources = [Source(i, by_id[p]) for i, p in enumerate(citations.cited, start=1)]
        result.dropped_citations = citations.dropped
        if not result.sources and not result.incomplete and _DECLINED.search(result.text):
            result.abstention = "model"
            result.abstention_detail = "The model said the abstracts do not answer the question."
        result.timings["total_s"] = time.perf_counter() - started
        return result
