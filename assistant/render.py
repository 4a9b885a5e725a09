"""Rendering answers and hits for the terminal: answer on stdout, notes on stderr."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from assistant.answer import Answer
    from assistant.retrieval import PaperHit


class AnswerStream:
    """Shows a streamed answer piece by piece, remembering whether its last line
    is still open (the answer's text is stripped, so only the stream knows)."""

    def __init__(self) -> None:
        self.line_open = False

    def write(self, text: str) -> None:
        if text:
            sys.stdout.write(text)
            sys.stdout.flush()
            self.line_open = not text.endswith("\n")


def err(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# A paper saved in thousands of files would otherwise print thousands of names;
# --json still lists them all.
_MAX_LISTED = 5


def _listed(names: tuple[str, ...]) -> str:
    shown = ", ".join(names[:_MAX_LISTED])
    more = len(names) - _MAX_LISTED
    return f"{shown} and {more:,} more" if more > 0 else shown


def hit_line(rank: int, hit: PaperHit) -> str:
    where = _listed(hit.source_files)
    if hit.dates:
        where += f", {_listed(hit.dates)}"
    return f"{rank:>2}. {hit.score:.3f}  {hit.title}  [{where}]"


def citation_details(hit: PaperHit) -> str:
    """Authors, year, venue and DOI or arXiv id, as far as the source gave them."""
    parts = []
    if hit.authors:
        shown = ", ".join(hit.authors[:3])
        parts.append(shown + (" et al." if len(hit.authors) > 3 else ""))
    parts += [str(hit.year)] if hit.year else []
    parts += [hit.venue] if hit.venue else []
    if hit.doi:
        parts.append(f"doi:{hit.doi}")
    elif hit.paper_id.startswith("arxiv:"):
        parts.append(hit.paper_id.replace("arxiv:", "arXiv:", 1))
    return ", ".join(parts)


def render_sources(answer: Answer) -> str:
    from assistant.backends.extractive import LABEL

    if answer.abstention:
        return ""
    if not answer.sources:
        if answer.text.startswith(LABEL) or answer.incomplete:
            return ""
        return "\nSources: none. The model cited no abstract, so this answer is unsupported."
    lines = ["", "Sources:"]
    for source in answer.sources:
        hit = source.hit
        where = _listed(hit.source_files)
        if hit.dates:
            where += f"; {_listed(hit.dates)}"
        details = citation_details(hit)
        title = f"{hit.title}. {details}" if details else hit.title
        lines.append(f"  [{source.number}] {title} ({where})")
    return "\n".join(lines)


def report_answer(answer: Answer, stream: AnswerStream | None) -> None:
    """Everything after the streamed text (the whole text if `stream` is None):
    abstention reason, Sources, notes."""
    if stream is None:
        print(answer.text)
    elif stream.line_open:
        print()
        stream.line_open = False
    if answer.abstention:
        print(answer.abstention_detail or "")
    if answer.incomplete:
        print(f"[answer incomplete: {answer.error}]")
    sources = render_sources(answer)
    if sources:
        print(sources)
    if answer.dropped_citations:
        numbers = ", ".join(f"[{n}]" for n in answer.dropped_citations)
        err(f"Note: dropped citation(s) {numbers}: they name no retrieved abstract.")
    if answer.withheld:
        count = sum(len(s) for s in answer.withheld.values())
        numbers = ", ".join(f"[{n}]" for n in sorted(answer.withheld))
        err(
            f"Note: {count} sentence(s) of abstract(s) {numbers} read as instructions to the "
            "model and were not shown to it."
        )
    sys.stdout.flush()
