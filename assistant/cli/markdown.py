"""Answers as Markdown, to keep: `ask --format markdown` and chat's `/save`.

Each answer is its question as a heading, the text with its citations and the
checker's marks, and its Sources with the sentences that back them; a BibTeX
block of every cited paper ends the document. Text from documents and models
is escaped, so a title or an answer cannot add links, images or HTML to the
file (a remote image in a saved answer would be fetched when it is viewed).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import tempfile
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from assistant.answering.citations import CITATION
from assistant.bibliography import bibliography, described
from assistant.domain import ADDED_MARK, CORRECTED_MARK, UNSUPPORTED_MARK
from assistant.terminal import for_terminal

if TYPE_CHECKING:
    from assistant.domain import Answer, PaperHit

# Characters that start emphasis, code or HTML; "[" and "]" too (links, and
# images: "![...](...)"), except around a citation ([1], [2, 3]) or a mark.
_SPECIAL = re.compile(r"([\\`*_<>])")
_KEPT_BRACKETS = re.compile(
    "|".join(
        [CITATION.pattern, *(re.escape(m) for m in (UNSUPPORTED_MARK, CORRECTED_MARK, ADDED_MARK))]
    )
)


def escaped(text: str, *, one_line: bool = False) -> str:
    """`text` as Markdown that shows it as written."""
    text = for_terminal(text, one_line=one_line)
    parts: list[str] = []
    position = 0
    for match in _KEPT_BRACKETS.finditer(text):
        parts.append(_escape_plain(text[position : match.start()]))
        parts.append(match.group())
        position = match.end()
    parts.append(_escape_plain(text[position:]))
    return "".join(parts)


def _escape_plain(text: str) -> str:
    return _SPECIAL.sub(r"\\\1", text).replace("[", r"\[").replace("]", r"\]")


def with_marks(answer: Answer) -> str:
    """The answer's text with the checker's marks where the terminal showed them."""
    text = answer.text
    position = 0
    for sentence in answer.sentences:
        mark = sentence.mark()
        found = text.find(sentence.text, position)
        if found < 0:
            continue
        position = found + len(sentence.text)
        if mark:
            text = text[:position] + mark + text[position:]
            position += len(mark)
    return text


def _details(hit: PaperHit) -> str:
    files = ", ".join(f"`{n.replace('`', '')}`" for n in hit.source_files[:3])
    return " · ".join(p for p in (escaped(described(hit), one_line=True), files) if p)


def answer_section(answer: Answer, heading: str = "##") -> str:
    """One question and its answer, with Sources."""
    lines = [f"{heading} {escaped(answer.question, one_line=True)}", ""]
    lines += [escaped(with_marks(answer)) or "*(no answer)*"]
    if answer.abstention and answer.abstention_detail:
        lines += ["", f"*{escaped(answer.abstention_detail, one_line=True)}*"]
    if answer.incomplete:
        lines += ["", f"*Answer incomplete: {escaped(answer.error or '', one_line=True)}*"]
    if answer.sources and not answer.abstention:
        lines += ["", "**Sources**", ""]
        for source in answer.sources:
            title = escaped(source.hit.title, one_line=True)
            lines.append(f"- [{source.number}] **{title}**. {_details(source.hit)}")
            lines += [f"  > {escaped(quote, one_line=True)}" for quote in source.evidence]
    return "\n".join(lines) + "\n"


def _fenced(code: str, language: str) -> str:
    # A fence longer than any run of backticks inside, so nothing closes it early.
    longest = max((len(run) for run in re.findall(r"`+", code)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n{code.rstrip()}\n{fence}\n"


def cited_papers(answers: Sequence[Answer]) -> list[PaperHit]:
    """Every paper the answers cite, once, in the order first cited."""
    papers: dict[str, PaperHit] = {}
    for answer in answers:
        if answer.abstention:
            continue
        for source in answer.sources:
            papers.setdefault(source.hit.paper_id, source.hit)
    return list(papers.values())


def bibtex_section(answers: Sequence[Answer]) -> str:
    papers = cited_papers(answers)
    if not papers:
        return ""
    return "\n## BibTeX\n\n" + _fenced(for_terminal(bibliography(papers)), "bibtex")


def one_answer(answer: Answer) -> str:
    """`ask --format markdown`."""
    return answer_section(answer) + bibtex_section([answer])


def conversation(answers: Sequence[Answer], backend: str, saved: datetime) -> str:
    """chat's `/save`: every question and answer of the session, in order."""
    lines = [
        "# Questions to the abstracts",
        "",
        f"*Saved {saved:%Y-%m-%d %H:%M}; answers by {escaped(backend, one_line=True)}; "
        "every citation checked against the abstract it names.*",
        "",
    ]
    sections = [answer_section(a) for a in answers]
    return "\n".join(lines) + "\n".join(sections) + bibtex_section(answers)


def default_name(saved: datetime) -> str:
    return f"assistant-chat-{saved:%Y%m%d-%H%M%S}.md"


def save_new(path: Path, text: str) -> None:
    """Write `text` to `path`, which must not exist: a file the user has is never
    replaced. Written whole or not at all (a temporary file, then linked in).

    Raises:
        FileExistsError: `path` exists.
        OSError: the folder is missing or not writable, or the disk is full.
    """
    folder = path.parent
    handle, temporary = tempfile.mkstemp(prefix=".assistant-save-", suffix=".md", dir=folder)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        try:
            # link() fails if `path` exists, where rename() would replace it.
            os.link(temporary, path)
        except FileExistsError:
            raise
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP):
                raise
            # No hard links here (FAT, some network shares): claim the name, then
            # move the whole file onto it.
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
            os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
