"""The daily-papers listing (`.txt`): a header, then a title line and an abstract
line per paper, with or without blank lines between them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from assistant.domain import LoadReport, Paper, Problem
from assistant.readers.identifier import title_id
from assistant.readers.text import clean, text_lines

_MONTHS = "Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec"
_DATE = re.compile(rf"^(?:{_MONTHS})[a-z]* \d{{1,2}}(?:, \d{{4}})?$")
_HEADER = re.compile(
    r"^(?:new|Subscribe|Daily Papers|byAK and the research community"
    r"|Get trending papers in your email inbox(?: once a day)?!)$"
)
# "Subscribe" glued to the first title, as some listings are saved.
_GLUED_SUBSCRIBE = re.compile(r"^Subscribe(?=\S)")

# Lengths that separate a title from an abstract when the layout is ambiguous.
_TITLE_MAX_CHARS = 300
_ABSTRACT_MIN_CHARS = 200


def _looks_like_title(line: str) -> bool:
    return len(line) <= _TITLE_MAX_CHARS


def _looks_like_abstract(line: str) -> bool:
    return len(line) >= _ABSTRACT_MIN_CHARS


def parse_listing(
    path: Path, report: LoadReport, *, display_name: str | None = None
) -> Iterator[Paper]:
    """Papers from a daily-papers listing: a header, then title and abstract lines.

    Both saved layouts are read: pairs separated by blank lines and pairs on
    consecutive lines. A line that breaks the title/abstract rhythm (a title with
    no abstract, an abstract with no title) is reported and skipped, and pairing
    resumes with the next line, so one damaged entry never shifts the others.
    """
    name = display_name or path.name
    numbered = [(n, clean(text)) for n, text in text_lines(path, report, universal=True)]
    lines = [(n, text) for n, text in numbered if text]

    date: str | None = None
    start = 0
    while start < len(lines):
        text = lines[start][1]
        if _DATE.match(text):
            date = text
        elif _GLUED_SUBSCRIBE.match(text):
            lines[start] = (lines[start][0], text[len("Subscribe") :])
            break
        elif not _HEADER.match(text):
            break
        start += 1

    dates = (date,) if date else ()
    i = start
    while i < len(lines):
        number, title = lines[i]
        if not _looks_like_title(title):
            report.problems.append(Problem(str(path), number, "abstract without a title; skipped"))
            i += 1
            continue
        if i + 1 >= len(lines):
            report.problems.append(Problem(str(path), number, "title without an abstract; skipped"))
            break
        abstract = lines[i + 1][1]
        # A short line followed by a long one: `title` lost its abstract and
        # the short line is the next title.
        following = lines[i + 2][1] if i + 2 < len(lines) else None
        if (
            not _looks_like_abstract(abstract)
            and following is not None
            and _looks_like_abstract(following)
            and _looks_like_title(abstract)
        ):
            report.problems.append(Problem(str(path), number, "title without an abstract; skipped"))
            i += 1
            continue
        report.entries += 1
        yield Paper(title_id(title), title, abstract, (name,), dates)
        i += 2
