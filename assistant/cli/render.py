"""Rendering answers and hits for the terminal: answer on stdout, notes on stderr.

Every line goes out through `out` or `err` (or `AnswerStream.write`), which pass
it through `terminal.for_terminal`: stored titles, abstracts, file names and
model output cannot drive the terminal. JSON is printed as it is (exact text,
control characters escaped by JSON itself).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from assistant.errors import ExitCode, OutputError
from assistant.terminal import for_terminal, listed

if TYPE_CHECKING:
    from assistant.cli.styled import WrappedStream
    from assistant.diagnosis import Check
    from assistant.domain import Answer, PaperHit, Problem
    from assistant.index.ingest import IngestResult
    from assistant.retrieval.filters import Filters
    from assistant.settings import Settings


class AnswerStream:
    """Shows a streamed answer piece by piece, remembering whether its last line
    is still open (the answer's text is stripped, so only the stream knows)."""

    def __init__(self) -> None:
        self.line_open = False

    def write(self, text: str) -> None:
        if text:
            write(for_terminal(text))
            self.line_open = not text.endswith("\n")

    def end_line(self) -> None:
        if self.line_open:
            out()
            self.line_open = False


def answer_stream() -> AnswerStream | WrappedStream:
    """Where a streamed answer is shown: wrapped and styled on a terminal, plain
    through a pipe."""
    from assistant.cli import styled

    return styled.WrappedStream() if styled.is_terminal() else AnswerStream()


def write(text: str) -> None:
    """Put `text` on stdout now. A failed write is an OutputError (exit 74), except a
    closed pipe (`| head`), which `main` ends quietly."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise OutputError.writing(exc) from exc


def out(text: str = "") -> None:
    write(for_terminal(text) + "\n")


def out_json(data: Any) -> None:
    """JSON as it is: the exact text, control characters escaped by JSON itself."""
    write(json.dumps(data, indent=2) + "\n")


def err(text: str) -> None:
    print(for_terminal(text), file=sys.stderr, flush=True)


def _field(text: str) -> str:
    """One stored field (a title, a file name) on one line."""
    return for_terminal(text, one_line=True)


# A paper saved in thousands of files would otherwise print thousands of names;
# --json still lists them all.
_MAX_LISTED = 5


def _listed(names: tuple[str, ...]) -> str:
    return listed(names, _MAX_LISTED)


def hit_line(rank: int, hit: PaperHit) -> str:
    where = _listed(hit.source_files)
    if hit.dates:
        where += f", {_listed(hit.dates)}"
    return f"{rank:>2}. {hit.score:.3f}  {_field(hit.title)}  [{where}]"


def citation_details(hit: PaperHit) -> str:
    """Authors, year, venue and DOI or arXiv id, on one line for the terminal."""
    from assistant.bibliography import described

    return _field(described(hit))


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
        title = f"{_field(hit.title)}. {details}" if details else _field(hit.title)
        lines.append(f"  [{source.number}] {title} ({where})")
        # What the abstract says that backs the answer's use of it.
        lines += [f'      "{_field(quote)}"' for quote in source.evidence]
    return "\n".join(lines)


def support_details(answer: Answer, number: int) -> str:
    """`/why N`: how sentence N of the last answer stands against the abstracts."""
    if not answer.sentences:
        return "The last answer's sentences were not checked."
    if not 1 <= number <= len(answer.sentences):
        return f"The last answer has sentences 1 to {len(answer.sentences)}."
    sentence = answer.sentences[number - 1]
    lines = [f"Sentence {number}: {_field(sentence.text)}", f"Verdict: {sentence.verdict}"]
    if sentence.score is not None:
        lines[-1] += f" (score {sentence.score:.2f})"
    lines.append(f"Why: {sentence.reason}")
    if sentence.cited_before:
        lines.append("The model cited: " + ", ".join(f"[{n}]" for n in sentence.cited_before))
    for quote in sentence.evidence:
        lines.append(f'  [{quote.number}] "{_field(quote.sentence)}"')
    return "\n".join(lines)


def support_summary(answer: Answer) -> str | None:
    """One line on what the check did, when it changed or flagged something."""
    counts = {
        v: sum(s.verdict == v for s in answer.sentences) for v in ("corrected", "unsupported")
    }
    if not any(counts.values()):
        return None
    parts = []
    if counts["corrected"]:
        parts.append(f"{counts['corrected']} citation(s) corrected to the abstract that backs them")
    if counts["unsupported"]:
        parts.append(f"{counts['unsupported']} sentence(s) no given abstract backs")
    return "Checked against the abstracts: " + "; ".join(parts) + " (/why N in chat, --json)."


def show_sources(
    answer: Answer, stream: AnswerStream | WrappedStream | None, *, alone: bool = False
) -> bool:
    """Sources after an answer (or `alone`, for chat's /sources): drawn if the
    answer was, else plain; whether there were any."""
    from assistant.cli import styled

    if answer.sources and not answer.abstention and isinstance(stream, styled.WrappedStream):
        styled.print_sources(answer)
        return True
    sources = render_sources(answer)
    if sources:
        out(sources.strip() if alone else sources)
    return bool(sources)


def report_answer(answer: Answer, stream: AnswerStream | WrappedStream | None) -> None:
    """Everything after the streamed text (the whole text if `stream` is None):
    abstention reason, Sources, notes."""
    if stream is None:
        out(answer.text)
    else:
        stream.end_line()
    if answer.abstention:
        out(answer.abstention_detail or "")
    if answer.incomplete:
        out(f"[answer incomplete: {answer.error}]")
    show_sources(answer, stream)
    summary = support_summary(answer)
    if summary:
        err(summary)
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


# -- one function per command's output -----------------------------------------


def problems(found: Iterable[Problem]) -> None:
    for problem in found:
        err(f"Warning: {problem}")


def ingest_result(result: IngestResult, location: str) -> None:
    out(
        f"Read {result.entries} entries ({result.papers} distinct papers) "
        f"from {result.files} file(s) in {result.seconds:.1f} s."
    )
    if result.changed:
        out(
            f"Added {result.added}, replaced {result.replaced}, unchanged {result.unchanged}"
            f", sources updated {result.sources_updated}; wrote {result.chunks_written} chunks."
        )
        if result.removed:
            out(
                f"Removed {result.removed} paper(s) no longer in "
                f"{', '.join(result.removed_from)} (trashed or deleted there, or without "
                "an abstract now)."
            )
    else:
        out(f"Nothing new: all {result.papers} papers are already in the index.")
    out(f"Index: {result.total_papers} papers, {result.total_chunks} chunks at {location}")


def _no_hits(filters: Filters) -> str:
    if filters:
        return f"No papers match the filters {filters.describe()}."
    return "The index is empty."


def search_results(
    query: str, hits: Sequence[PaperHit], filters: Filters, *, output: str, as_json: bool
) -> None:
    """The hits for `query` (already cleaned) as a ranked list, JSON or BibTeX."""
    if output == "bibtex":
        from assistant.bibliography import bibliography

        if not hits:
            err(_no_hits(filters))
        write(for_terminal(bibliography(hits)))
        return
    if as_json:
        out_json({"query": query, "results": [h.as_json() for h in hits]})
        return
    if not hits:
        out(_no_hits(filters))
        return
    from assistant.cli import styled

    if styled.is_terminal():
        styled.search_table(hits)
        return
    for rank, hit in enumerate(hits, start=1):
        out(hit_line(rank, hit))


def answer(
    answer: Answer, stream: AnswerStream | WrappedStream | None, *, output: str, as_json: bool
) -> ExitCode:
    """Print an answer as asked (text, JSON, Markdown, or BibTeX of its sources); its
    exit code."""
    if as_json:
        out_json(answer.as_json())
    elif output == "markdown":
        from assistant.cli.markdown import one_answer

        write(one_answer(answer))
        summary = support_summary(answer)
        if summary:
            err(summary)
    elif output == "bibtex":
        from assistant.bibliography import bibliography

        err(answer.text)
        if answer.abstention:
            err(answer.abstention_detail or "")
        write(for_terminal(bibliography([s.hit for s in answer.sources])))
    else:
        report_answer(answer, stream)
    if answer.interrupted:
        return ExitCode.INTERRUPTED
    if answer.incomplete:
        err(f"Error: {answer.error}")
        if answer.error_hint:
            err(f"Hint: {answer.error_hint}")
        return ExitCode.BACKEND_FAILED
    return ExitCode.OK


def history_cleared(removed: bool) -> None:
    out("Chat history deleted." if removed else "There was no chat history.")


def report(result: Any, *, as_json: bool) -> None:
    """An evaluation report: a table of its rows, or all of it as JSON."""
    if as_json:
        out_json(asdict(result))
        return
    rows = result.rows()
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        out(f"{name:<{width}}  {value}")


def checks(found: Iterable[Check]) -> ExitCode:
    """doctor's lines; DATA (3) if any check failed."""
    failed = 0
    for check in found:
        mark = "ok  " if check.ok else "FAIL"
        out(f"[{mark}] {check.name}: {check.detail}")
        if not check.ok:
            failed += 1
            if check.hint:
                out(f"       Hint: {check.hint}")
    return ExitCode.DATA if failed else ExitCode.OK


def settings_table(settings: Settings, rows: list[tuple[str, str, str]], *, as_json: bool) -> None:
    from assistant.settings import config_path

    if as_json:
        out_json({n: {"value": v, "source": s} for n, v, s in rows})
        return
    out(f"Config file: {config_path()}")
    width = max(len(n) for n, _, _ in rows)
    for name, value, source in rows:
        out(f"  {name:<{width}}  {value}   ({source})")
    out(f"  {'history_file':<{width}}  {settings.history_file}   (derived from home)")
