"""The answer chain: a question goes through explicit stages, in order.

    retrieve -> assess -> screen -> prompt -> generate -> cite

Each stage is a small function that reads and fills a `Draft` (the question,
what earlier stages produced, and the `Answer` being built). A stage that
settles the answer (assess declining) marks the draft done and the chain
stops. The stages are assembled once, in `STAGES`: a new stage (verification,
reranking) is one module with one function and one line there.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from assistant.answering.abstention import assess
from assistant.answering.citations import HEADINGS, CitationStream
from assistant.answering.evidence import select_evidence
from assistant.answering.prompts import PromptSet, RenderedPrompt, Turn
from assistant.answering.screening import screen
from assistant.answering.verify import (
    FALLBACK,
    SentenceChecker,
    SentenceGate,
    Unsupported,
    evidence_answer,
    kept_sources,
    needs_fallback,
)
from assistant.backends import AnswerRequest, Backend
from assistant.domain import DECLINE, Answer, PaperHit, Source
from assistant.errors import BackendFailedError, UsageError
from assistant.readers.text import SURROGATE
from assistant.retrieval.filters import Filters
from assistant.retrieval.retriever import Retriever
from assistant.terminal import CONTROL

if TYPE_CHECKING:
    from assistant.answering.support import SupportChecker

MAX_QUESTION_CHARS = 4000
_DECLINED = re.compile(
    r"abstracts? (?:do(?:es)? not|don't|doesn't) (?:say|answer|contain|mention|provide|address"
    r"|discuss|state)|\bcannot (?:be )?answer|\bcan't answer|\bnot (?:mentioned|stated) in the",
    re.IGNORECASE,
)
# A terminal colour or cursor sequence pasted with the question ("\x1b[31m"): without
# this, only its ESC would go and "[31m" would be searched for.
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")


_MARKER = re.compile(r"\[[\d\s,;\-\u2013]*\]")
_WORD = re.compile(r"[^\W_]+")


def _has_content(text: str) -> bool:
    """Whether some word with a letter is left once citation markers and
    the headings of a reference list are taken out."""
    words = _WORD.findall(_MARKER.sub(" ", text).casefold())
    return any(any(c.isalpha() for c in w) and w not in HEADINGS for w in words)


def clean_question(question: str) -> str:
    """Strip control characters and check the question is usable."""
    # Bytes that were not UTF-8 reach Python as lone surrogates (argv's
    # surrogateescape); they would fail in the tokenizer: show them as U+FFFD.
    question = SURROGATE.sub("\ufffd", question)
    text = CONTROL.sub(" ", _ANSI.sub("", question)).strip()
    if not text:
        raise UsageError("The question is empty.", hint='Ask something, e.g. assistant ask "..."')
    if not _has_content(text):
        # "[1]" or "Sources:" would be answered as if asked: with citations.
        raise UsageError(
            f"The question {text!r} has no words to search the abstracts for.",
            hint='Ask about the papers in words, e.g. assistant ask "What is layer normalization?"',
        )
    if len(text) > MAX_QUESTION_CHARS:
        raise UsageError(
            f"The question is {len(text):,} characters long; the limit is {MAX_QUESTION_CHARS:,}.",
            hint="Ask a shorter question; the embedder reads only about 200 words anyway.",
        )
    return text


@dataclass
class Draft:
    """An answer in the making: what each stage needs from the ones before it."""

    question: str
    query: str
    history: Sequence[Turn]
    emit: Callable[[str], None]
    answer: Answer
    started: float
    hits: list[PaperHit] = field(default_factory=list)
    # The papers the backend answers from: screened, the first `max_abstracts`.
    papers: list[PaperHit] = field(default_factory=list)
    # What it is shown of them: those abstracts, or for a backend that wants
    # evidence sentences, one sentence each (several per paper).
    given: list[PaperHit] = field(default_factory=list)
    prompt: RenderedPrompt | None = None
    citations: CitationStream | None = None
    gate: SentenceGate | None = None
    judge: SentenceChecker | None = None
    # Set by a stage that settles the answer: the chain stops there.
    done: bool = False
    # How many stages have run (a chain can be run in parts: eval stops after assess).
    next_stage: int = 0

    def elapsed(self) -> float:
        return time.perf_counter() - self.started


@dataclass(frozen=True)
class Chain:
    """What the stages work with: the retriever, the backend, prompts and limits."""

    retriever: Retriever
    backend: Backend
    prompts: PromptSet
    top_k: int
    min_support: float
    filters: Filters
    # Checks each sentence of the answer (answering.verify); None: not checked.
    checker: SupportChecker | None = None
    unsupported: Unsupported = "mark"
    # Where unsupported sentences are dropped: the share of a sentence's content
    # words its abstract must have (setting support_min_coverage_dropping).
    strict_coverage: float = 0.0


Stage = Callable[[Chain, Draft], None]


def retrieve(chain: Chain, draft: Draft) -> None:
    """The top papers for the search query (the rewritten one, in chat)."""
    draft.hits = chain.retriever.retrieve(draft.query, chain.top_k, chain.filters)
    draft.answer.retrieved = draft.hits
    draft.answer.timings["retrieval_s"] = draft.elapsed()


def assess_support(chain: Chain, draft: Draft) -> None:
    """Decline before any model runs when the abstracts cannot answer."""
    answer = draft.answer
    # Judged on what was searched: in chat, a follow-up ("and the datasets?")
    # carries its topic only in the rewritten query.
    assessment = assess(
        draft.query,
        draft.hits,
        chain.retriever.lexical,
        chain.min_support,
        follow_up=draft.question if draft.query != draft.question else None,
    )
    if not draft.hits and chain.filters:
        assessment = replace(
            assessment, reason=f"No papers match the filters {chain.filters.describe()}."
        )
    answer.assessment = assessment
    if assessment.declined:
        answer.abstention, answer.abstention_detail = "retrieval", assessment.reason
        answer.text = DECLINE
        draft.emit(DECLINE + "\n")
        draft.done = True


def screen_abstracts(chain: Chain, draft: Draft) -> None:
    """Withhold sentences that give orders, from every retrieved abstract.

    What was withheld is reported; the backend sees the first `max_abstracts`
    of the screened abstracts. Sources still come from the retrieved hits.
    """
    screened = [screen(h.abstract) for h in draft.hits]
    draft.answer.withheld = {n: s.withheld for n, s in enumerate(screened, start=1) if s.withheld}
    shown = [replace(h, abstract=s.text) for h, s in zip(draft.hits, screened, strict=True)]
    draft.papers = shown[: chain.backend.max_abstracts or len(shown)]
    draft.given = draft.papers
    if chain.checker is None:
        return
    strict = chain.strict_coverage if chain.unsupported == "drop" else 0.0
    draft.judge = SentenceChecker(chain.checker, draft.papers, strict)
    count = chain.backend.evidence_sentences
    if count:
        # A small model writes from single sentences (answering.evidence).
        draft.given = select_evidence(draft.question, draft.papers, draft.judge, count)
    else:
        # Most of checking the answer is encoding these abstracts: done while
        # the model writes.
        draft.judge.prepare_in_background()


def build_prompt(chain: Chain, draft: Draft) -> None:
    entries = [(n, h.title, h.abstract) for n, h in enumerate(draft.given, start=1)]
    draft.prompt = chain.prompts.answer(draft.question, entries, draft.history)


def generate(chain: Chain, draft: Draft) -> None:
    """Stream the backend's answer, its citations resolved as they arrive."""
    assert draft.prompt is not None
    answer = draft.answer
    citations = CitationStream({n: h.paper_id for n, h in enumerate(draft.given, start=1)})
    draft.citations = citations
    show = draft.emit
    if draft.judge is not None:
        # Each sentence is checked as it ends, its mark shown before the next.
        draft.judge.bind(citations.display_number, citations.paper_at)
        draft.gate = SentenceGate(draft.judge.check, draft.emit, chain.unsupported)
        show = draft.gate.feed
    request = AnswerRequest(draft.question, draft.given, draft.prompt)
    try:
        for piece in chain.backend.stream(request):
            if "first_token_s" not in answer.timings:
                answer.timings["first_token_s"] = draft.elapsed()
            shown = citations.feed(piece)
            if shown:
                show(shown)
    except BackendFailedError as exc:
        answer.incomplete, answer.error, answer.error_hint = True, exc.message, exc.hint
    except KeyboardInterrupt:
        answer.incomplete, answer.interrupted, answer.error = True, True, "interrupted"
    finally:
        if draft.judge is not None:
            # The abstracts' encoding runs in a thread: never left running when
            # the answer ends, however it ends (a process that exits while ONNX
            # Runtime works in a thread is aborted).
            draft.judge.wait()
    show(citations.finish())
    if draft.gate is not None:
        draft.gate.finish()


def cite(chain: Chain, draft: Draft) -> None:
    """Sources from the citations the answer made; a model's own decline is an abstention."""
    assert draft.citations is not None
    answer, citations = draft.answer, draft.citations
    gate = draft.gate
    if gate is not None and draft.judge and needs_fallback(gate.sentences, chain.unsupported):
        _quote_instead(draft, draft.judge, gate)  # may cite papers not cited yet
    by_id = {h.paper_id: h for h in draft.hits}
    sources = [Source(i, by_id[p]) for i, p in enumerate(citations.cited, start=1)]
    if gate is None:
        answer.text = citations.text.strip()
    else:
        answer.text, answer.sentences = gate.text, gate.sentences
        sources = kept_sources(sources, answer.sentences, chain.unsupported)
    answer.sources = sources
    answer.dropped_citations = citations.dropped
    if not answer.sources and not answer.incomplete and _DECLINED.search(answer.text):
        answer.abstention = "model"
        answer.abstention_detail = "The model said the abstracts do not answer the question."


def _quote_instead(draft: Draft, checker: SentenceChecker, gate: SentenceGate) -> None:
    """Nothing the model wrote survived the check: say so, and quote the abstract
    retrieval ranks first (and the second, if the model cited it), verbatim.

    Not simply what the model cited: when none of its sentences holds, its
    citations are mostly wrong too (on the seed questions, 10 of 33 papers it
    cited in such answers were the right ones)."""
    cited = {p for s in gate.sentences for n in s.citations if (p := checker.paper_of(n))}
    ranked = [h.paper_id for h in draft.papers[:2]]
    papers = [p for i, p in enumerate(ranked) if i == 0 or p in cited]
    quotes = evidence_answer(checker, draft.question, papers)
    gate.add_note(FALLBACK)
    for quote in quotes:
        gate.add_checked(quote)


# The chain, in order. A new stage is one function and one line here.
STAGES: tuple[tuple[str, Stage], ...] = (
    ("retrieve", retrieve),
    ("assess", assess_support),
    ("screen", screen_abstracts),
    ("prompt", build_prompt),
    ("generate", generate),
    ("cite", cite),
)


class Answerer:
    """Runs the chain for one question at a time, with one backend and filters."""

    def __init__(
        self,
        retriever: Retriever,
        backend: Backend,
        prompts: PromptSet,
        *,
        top_k: int,
        min_support: float,
        filters: Filters | None = None,
        checker: SupportChecker | None = None,
        unsupported: Unsupported = "mark",
        strict_coverage: float = 0.0,
    ) -> None:
        # Filters hold for every question this answerer is asked (a whole chat session).
        self.chain = Chain(
            retriever,
            backend,
            prompts,
            top_k,
            min_support,
            filters or Filters(),
            checker,
            unsupported,
            strict_coverage,
        )

    @property
    def backend(self) -> Backend:
        return self.chain.backend

    @property
    def prompts(self) -> PromptSet:
        return self.chain.prompts

    def start(
        self,
        question: str,
        *,
        history: Sequence[Turn] = (),
        search_query: str | None = None,
        on_text: Callable[[str], None] | None = None,
    ) -> Draft:
        """A draft for `question`, before any stage has run."""
        started = time.perf_counter()
        question = clean_question(question)
        query = search_query or question
        answer = Answer(question, query, self.backend.name, self.backend.model)
        emit = on_text or (lambda _text: None)
        return Draft(question, query, history, emit, answer, started)

    def run(self, draft: Draft, *, until: str | None = None) -> Draft:
        """Run the remaining stages, stopping after `until` or when one settles the answer."""
        for name, stage in STAGES[draft.next_stage :]:
            if draft.done:
                break
            stage(self.chain, draft)
            draft.next_stage += 1
            if name == until:
                return draft
        draft.done = True
        draft.answer.timings["total_s"] = draft.elapsed()
        return draft

    def answer(
        self,
        question: str,
        *,
        history: Sequence[Turn] = (),
        search_query: str | None = None,
        on_text: Callable[[str], None] | None = None,
    ) -> Answer:
        draft = self.start(question, history=history, search_query=search_query, on_text=on_text)
        return self.run(draft).answer
