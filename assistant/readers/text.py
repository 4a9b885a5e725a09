"""Reading text files safely, and cleaning the fields read from them.

Every reader goes through `text_lines` (bounded lines, undecodable bytes
reported, binary and compressed files refused) or `not_text`, so a bad file is
a reported problem, never a crash or an unbounded read.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from functools import partial
from pathlib import Path

from assistant.domain import LoadReport, Problem

_WS = re.compile(r"\s+")
_YEAR = re.compile(r"(?<!\d)(1[5-9]\d\d|2\d\d\d)(?!\d)")


def clean(text: str) -> str:
    return _WS.sub(" ", text).strip()


def parse_year(text: str) -> int | None:
    """The first four-digit year in `text` ("2020", "2020a", "Mon, 2 Apr 2007 ..."), or None."""
    match = _YEAR.search(text)
    return int(match.group(1)) if match else None


# The longest line read, in characters. Far above any real abstract (one of
# 100,000 characters loads whole, even as escaped JSON), yet a runaway line (a
# dump without newlines) is skipped instead of filling memory and taking hours
# to embed.
MAX_LINE_CHARS = 1_000_000
SNIFF_BYTES = 8192
# Files that are not text at all, told apart by how they start, with what to do.
_NOT_TEXT = (
    (b"\x1f\x8b", "gzip-compressed file; decompress it first (gunzip); skipped"),
    (b"PK\x03\x04", "zip archive; unpack it first; skipped"),
    (b"%PDF-", "PDF file, not text; skipped"),
    (b"\xff\xfe", "UTF-16 text; save it as UTF-8; skipped"),
    (b"\xfe\xff", "UTF-16 text; save it as UTF-8; skipped"),
)
SURROGATE = re.compile("[\ud800-\udfff]")
# A JSON escape of half a surrogate pair (\uD800-\uDFFF), paired or not.
SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def text_lines(path: Path, report: LoadReport, *, universal: bool) -> Iterator[tuple[int, str]]:
    """Numbered lines of a UTF-8 text file without their line ends, one bounded line at a time.

    An empty, binary or compressed file is reported and yields nothing. Undecodable
    bytes are replaced and reported, so a listing's pairing survives them. A line
    longer than MAX_LINE_CHARS is reported and skipped without being held whole.

    Args:
        universal: LF, CRLF and a lone CR (old Mac files) all end a line; else only LF.
    """
    with path.open("rb") as raw:
        head = raw.read(SNIFF_BYTES)
        problem = not_text(head)
        if problem:
            report.problems.append(Problem(str(path), None, problem))
            return
        raw.seek(0)
        newline = None if universal else "\n"
        with io.TextIOWrapper(
            raw, encoding="utf-8-sig", errors="surrogateescape", newline=newline
        ) as handle:
            lines = iter(partial(handle.readline, MAX_LINE_CHARS + 1), "")
            for number, line in enumerate(lines, start=1):
                if line.endswith("\n"):
                    line = line[:-1]
                elif len(line) > MAX_LINE_CHARS:
                    length = len(line) + _skip_line(handle)
                    report.problems.append(
                        Problem(
                            str(path),
                            number,
                            f"line of {length:,} characters, over the "
                            f"{MAX_LINE_CHARS:,}-character limit; skipped",
                        )
                    )
                    continue
                if not _is_utf8(line):
                    line = line.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
                    report.problems.append(
                        Problem(str(path), number, "invalid UTF-8; undecodable bytes replaced")
                    )
                yield number, line


def not_text(head: bytes) -> str | None:
    """Why a file starting with `head` cannot be read as text, or None if it can."""
    if not head:
        return "empty file; nothing to read"
    for magic, problem in _NOT_TEXT:
        if head.startswith(magic):
            return problem
    if b"\x00" in head:
        return "binary file (NUL bytes); skipped"
    return None


def _is_utf8(line: str) -> bool:
    """Whether `line` decoded cleanly: `surrogateescape` leaves surrogates for bad bytes."""
    if line.isascii():  # constant time, and most lines are
        return True
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _skip_line(handle: io.TextIOWrapper) -> int:
    """Read past the rest of the current line, a bounded piece at a time; its length."""
    length = 0
    while piece := handle.readline(SNIFF_BYTES):
        if piece.endswith("\n"):
            return length + len(piece) - 1
        length += len(piece)
    return length
