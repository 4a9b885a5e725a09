"""The verify stage: every sentence of an answer checked against what it cites.

A sentence is cut from the streamed answer as soon as it ends (`SentenceGate`)
and judged by the support checker (`answering.support`) against the abstracts
it cites:

- supported by a cited abstract: shown as it is;
- not, but by another abstract the model was given: the citation is corrected,
  and the correction is reported;
- by none: marked (or dropped, with `unsupported = "drop"`);
- a sentence with no citation that states something is checked against every
  abstract the model was given, and cited if one backs it.

Its mark is shown before the next sentence starts. Each verdict keeps the
abstract sentences it rests on: they are the quotes under Sources, and what
`/why N` shows.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Literal

import numpy as np

from assistant.answering.citations import defuse
from assistant.answering.claimcheck import content_stems, coverage
from assistant.answering.screening import WITHHELD
from assistant.answering.support import SupportChecker, Verdict, split_sentences
from assistant.domain import CheckedSentence, Quote, Source

if TYPE_CHECKING:
    from assistant.domain import PaperHit

Unsupported = Literal["mark", "drop"]
_MARKER = re.compile(r"\s*\[(\d+(?:\s*[,;]\s*\d+)*)\]")
# A sentence ends at . ! or ? (then its citations), before white space and the
# next sentence's first character; a decimal point never does ("0.5"). Streamed
# text may stop inside a citation after the full stop (". [1"): an opening
# bracket next means wait, not end.
_END = re.compile(r"[.!?](?:\s*\[[\d,; ]+\])*(?=\s+[^\s\[])|\n")
# Fewer content words than this state nothing to check ("In short:").
_MIN_CLAIM_WORDS = 3


def citations_of(sentence: str) -> tuple[int, ...]:
    found: list[int] = []
    for match in _MARKER.finditer(sentence):
        for part in re.split(r"\s*[,;]\s*", match.group(1)):
            if int(part) not in found:
                found.append(int(part))
    return tuple(found)


def without_citations(sentence: str) -> str:
    return " ".join(_MARKER.sub("", sentence).split())


def _quotable(abstract: str) -> list[str]:
    """An abstract's sentences as they may be quoted: an [n] marker of its own made
    inert, as (n) (a quote must never show a citation), and the place of a
    withheld sentence left out, not quoted."""
    sentences = split_sentences(defuse(abstract.replace(WITHHELD, "\n\n")))
    return [s for s in sentences if s.strip()]


def _cited(claim: str, number: int) -> str:
    """`claim` citing source `number`, the marker before its final full stop."""
    if claim.endswith((".", "!", "?")):
        return f"{claim[:-1]} [{number}]{claim[-1]}"
    return f"{claim} [{number}]"


class SentenceChecker:
    """Judges one answer's sentences against the papers the model answers from.

    The papers' sentences are encoded once, in one call (`prepare`), best while
    the model writes (`prepare_in_background`): that is most of a check's cost.
    `bind` gives it the answer's numbering: `number_of(paper_id)` gives (and if
    new, assigns) a paper's source number, `paper_of(number)` the paper.
    """

    def __init__(
        self, checker: SupportChecker, papers: Sequence[PaperHit], strict_coverage: float = 0.0
    ) -> None:
        self.checker = checker
        self.strict_coverage = strict_coverage
        self.given = list(papers)
        self._sentences = {h.paper_id: _quotable(h.abstract) for h in self.given}
        self._hits = {h.paper_id: h for h in self.given}
        self._vectors: dict[str, np.ndarray] = {}
        self._ready = threading.Event()
        self._failed: BaseException | None = None
        self._started = False
        self.number_of: Callable[[str], int] = lambda _paper: 0
        self.paper_of: Callable[[int], str | None] = lambda _number: None

    def bind(self, number_of: Callable[[str], int], paper_of: Callable[[int], str | None]) -> None:
        self.number_of, self.paper_of = number_of, paper_of

    def prepare(self) -> None:
        """Encode every sentence of every paper, in one call."""
        try:
            if not self._ready.is_set():
                order = [(p, s) for p, sentences in self._sentences.items() for s in sentences]
                vectors = self.checker.encode([s for _, s in order]) if order else None
                start = 0
                for paper_id, sentences in self._sentences.items():
                    if vectors is not None:
                        self._vectors[paper_id] = vectors[start : start + len(sentences)]
                    start += len(sentences)
        except Exception as exc:  # re-raised where the vectors are needed
            self._failed = exc
        finally:
            self._ready.set()

    def prepare_in_background(self) -> None:
        self._started = True
        threading.Thread(target=self.prepare, name="encode-abstracts", daemon=True).start()

    def wait(self) -> None:
        """Until `prepare` (started, or not needed) is done."""
        if self._started:
            self._ready.wait()

    def sentences_of(self, paper_id: str) -> list[str]:
        return self._sentences.get(paper_id, [])

    def vectors_of(self, paper_id: str) -> np.ndarray | None:
        self._ready.wait()
        if self._failed is not None:
            raise self._failed
        return self._vectors.get(paper_id)

    def _judge(self, claim: str, paper_id: str) -> Verdict:
        verdict = self.checker.check_sentences(
            claim,
            self._sentences[paper_id],
            self.vectors_of(paper_id),
            title=self._hits[paper_id].title,
        )
        if verdict.supported and self.strict_coverage:
            # A small model's sentence often joins what the abstract says with
            # words of its own; the checker, tuned not to flag paraphrases,
            # lets many through. Where unsupported sentences are dropped, ask
            # more of them: most of their words must be the abstract's.
            covered, missing = coverage(claim, self._hits[paper_id].abstract)
            if covered < self.strict_coverage:
                reason = f"much of it is not in the abstract: {', '.join(missing[:4])}"
                return replace(verdict, supported=False, reason=reason)
        return verdict

    def _quotes(self, paper_id: str, verdict: Verdict) -> list[Quote]:
        sentences = self._sentences[paper_id]
        number = self.number_of(paper_id)
        return [Quote(number, sentences[i]) for i in verdict.evidence[:2] if i < len(sentences)]

    def check(self, sentence: str) -> CheckedSentence:
        text = sentence.strip()
        claim = without_citations(text)
        cited = citations_of(text)
        ending = claim.rstrip(" .")
        if len(content_stems(claim)) < _MIN_CLAIM_WORDS or ending.endswith((":", "?")):
            # Too short to state anything, a line that introduces what follows,
            # or a question (a small model echoes the one it was asked);
            # with a citation, though, it looks sourced ("The paper [1].").
            if cited:
                return CheckedSentence(
                    text,
                    cited,
                    "unsupported",
                    0.0,
                    (),
                    "a citation on a sentence that says nothing",
                )
            return CheckedSentence(text, cited, "not checked", None, (), "states nothing to check")
        cited_papers = [p for p in map(self.paper_of, cited) if p in self._hits]
        best: tuple[float, str] = (-1.0, "")
        quotes: list[Quote] = []
        for paper_id in cited_papers:
            verdict = self._judge(claim, paper_id)
            if verdict.supported:
                quotes += self._quotes(paper_id, verdict)
            if verdict.score > best[0]:
                best = (verdict.score, verdict.reason)
        if quotes:
            return CheckedSentence(text, cited, "supported", best[0], tuple(quotes), "supported")
        # Not backed by what it cites (or it cites nothing): another abstract the
        # model was given may back it, then the citation is corrected.
        others = [h.paper_id for h in self.given if h.paper_id not in cited_papers]
        found: list[tuple[float, str, Verdict]] = []
        for paper_id in others:
            verdict = self._judge(claim, paper_id)
            if verdict.supported:
                found.append((verdict.score, paper_id, verdict))
            elif verdict.score > best[0] and not cited_papers:
                best = (verdict.score, verdict.reason)
        if found:
            score, paper_id, verdict = max(found)
            number = self.number_of(paper_id)
            quotes = self._quotes(paper_id, verdict)
            return CheckedSentence(
                _cited(claim, number),
                (number,),
                "corrected",
                score,
                tuple(quotes),
                "supported by another abstract" if cited else "supported by an abstract",
                cited_before=cited,
            )
        reason = best[1] or "no abstract given backs it"
        if not cited:
            reason = "no citation, and no abstract given backs it"
        return CheckedSentence(text, cited, "unsupported", max(best[0], 0.0), (), reason)


class SentenceGate:
    """Cuts streamed answer text into sentences and passes each on, checked.

    The text arrives with its citations already resolved to source numbers.
    Each sentence is shown when it ends, with its mark (`mark`), or only if it
    is supported (`drop`); what lies between sentences (spaces, line breaks) is
    kept as it was.
    """

    def __init__(
        self,
        check: Callable[[str], CheckedSentence],
        emit: Callable[[str], None],
        unsupported: Unsupported,
    ) -> None:
        self.check = check
        self.emit = emit
        self.unsupported = unsupported
        self.sentences: list[CheckedSentence] = []
        self._buffer = ""
        self._shown: list[str] = []

    def feed(self, text: str) -> None:
        self._buffer += text
        while True:
            end = _END.search(self._buffer)
            if end is None:
                return
            sentence, self._buffer = self._buffer[: end.end()], self._buffer[end.end() :]
            self._pass(sentence)

    def finish(self) -> None:
        if self._buffer:
            self._pass(self._buffer)
            self._buffer = ""

    def _pass(self, piece: str) -> None:
        body = piece.strip()
        if not body:
            self._show(piece)
            return
        # The white space around a sentence (the gap after the one before, a line
        # break after it) is shown as it came.
        gap = piece[: len(piece) - len(piece.lstrip())]
        trailing = piece[len(piece.rstrip()) :]
        checked = self.check(body)
        self.sentences.append(checked)
        if checked.verdict == "unsupported" and self.unsupported == "drop":
            self._show(trailing if "\n" in trailing else "")
            return
        self._show(gap + checked.text)
        self.emit(checked.mark())  # shown, but not part of the answer's text
        self._show(trailing)

    def add_note(self, note: str) -> None:
        """A line of the answer that is ours, not the model's (not checked)."""
        self._show(("\n" if self._shown else "") + note + "\n")

    def add_checked(self, checked: CheckedSentence) -> None:
        self.sentences.append(checked)
        self._show(f"- {checked.text}\n")

    def _show(self, text: str) -> None:
        if text:
            self.emit(text)
            self._shown.append(text)

    @property
    def text(self) -> str:
        """The answer as kept: corrected citations, dropped sentences gone, no marks."""
        return "".join(self._shown).strip()


def kept_sources(
    sources: Sequence[Source], sentences: Sequence[CheckedSentence], unsupported: Unsupported
) -> list[Source]:
    """The sources the kept sentences cite, each with the quotes that back them.

    A source only a dropped sentence cited is left out (its number stays unused,
    as the text was already shown with the others' numbers).
    """
    kept = [s for s in sentences if not (s.verdict == "unsupported" and unsupported == "drop")]
    cited = {n for s in kept for n in s.citations}
    quotes: dict[int, list[str]] = {}
    for sentence in kept:
        for quote in sentence.evidence:
            listed = quotes.setdefault(quote.number, [])
            if quote.sentence not in listed:
                listed.append(quote.sentence)
    return [
        replace(source, evidence=tuple(quotes.get(source.number, ())))
        for source in sources
        if source.number in cited
    ]


FALLBACK = "None of the model's sentences is backed by the abstracts it was given. What they say:"


def needs_fallback(sentences: Sequence[CheckedSentence], unsupported: Unsupported) -> bool:
    """Every claim was dropped: nothing the model wrote is left to show."""
    claims = [s for s in sentences if s.verdict != "not checked"]
    return (
        unsupported == "drop" and bool(claims) and all(s.verdict == "unsupported" for s in claims)
    )


def evidence_answer(
    sentences: SentenceChecker, question: str, papers: Sequence[str]
) -> list[CheckedSentence]:
    """The sentence of each paper closest to the question, verbatim and cited."""
    quoted: list[CheckedSentence] = []
    for paper_id in papers:
        abstract = sentences.sentences_of(paper_id)
        if not abstract:
            continue
        vectors = sentences.vectors_of(paper_id)
        closest = sentences.checker.check_sentences(question, abstract, vectors).evidence
        sentence = abstract[closest[0] if closest else 0]
        number = sentences.number_of(paper_id)
        quote = Quote(number, sentence)
        quoted.append(
            CheckedSentence(
                _cited(sentence, number), (number,), "supported", 1.0, (quote,), "quoted verbatim"
            )
        )
    return quoted
