"""Inline [n] citations: kept only when they name a retrieved paper.

Citations are resolved while the answer streams: a marker is held back until
its closing bracket, then written with the paper's number in the Sources list
(numbered by first citation) or dropped if it names no retrieved paper.
Sources are built from these resolved ids only, never from text the model or
an abstract wrote; a list of sources the model writes itself (a line starting
"Sources:" or "References:") is left out of the answer.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

_MARKER_BODY = re.compile(r"^\d+(?:\s*[,;]\s*\d+|\s*[-\u2013]\s*\d+)*$")
_MARKER_CHARS = set("0123456789,; -\u2013")
# A bracket that has not closed after this many characters is ordinary text.
_MAX_MARKER = 32
_RANGE = re.compile(r"(\d+)\s*[-\u2013]\s*(\d+)")


# A resolved citation as it stands in an answer: [1], [2, 3], [1; 4].
CITATION = re.compile(r"\[\d+(?:\s*[,;]\s*\d+)*\]")
# A citation-like marker written inside an abstract: [7], [2][9], [1, 3], [4-6].
_QUOTED_MARKER = re.compile(r"\[(\s*\d+(?:\s*(?:[,;]|[-\u2013])\s*\d+)*\s*)\]")


def defuse(text: str) -> str:
    """Quoted abstract text with its own [n] markers made inert, as (n).

    An abstract is data: a marker it contains must never become a citation of
    whichever retrieved paper happens to carry that number.
    """
    return _QUOTED_MARKER.sub(r"(\1)", text)


def _numbers(body: str) -> list[int]:
    numbers: list[int] = []
    for part in re.split(r"\s*[,;]\s*", body.strip()):
        span = _RANGE.fullmatch(part)
        if span:
            low, high = int(span.group(1)), int(span.group(2))
            if 0 < high - low <= 20:
                numbers.extend(range(low, high + 1))
                continue
            numbers.extend([low, high])
        elif part:
            numbers.append(int(part))
    return numbers


HEADINGS = ("sources", "references", "bibliography", "citations", "works cited")
_DECORATION = " \t>*#_-"


def _heading(line: str) -> bool | None:
    """Is this line start a heading of a list of sources? None: cannot tell yet."""
    word = line.lstrip(_DECORATION).lower()
    if "\n" in line:
        return False
    if not word:
        return None
    for heading in HEADINGS:
        if heading.startswith(word):
            return None
        if word.startswith(heading):
            rest = word[len(heading) :].lstrip(" *_")
            if not rest:
                return None
            if rest.startswith(":"):
                return True
    return False


@dataclass
class CitationStream:
    """Rewrites streamed text so that every [n] shown resolves to a retrieved paper.

    `valid` maps the numbers the model was shown to paper ids.
    """

    valid: Mapping[int, str]
    cited: list[str] = field(default_factory=list)
    dropped: list[int] = field(default_factory=list)
    # The model wrote its own list of sources: everything from its heading on is
    # left out, since the Sources list comes from the retrieved papers alone.
    muted: bool = False
    _buffer: str = ""
    _last: str = ""
    _text: list[str] = field(default_factory=list)
    # The start of the current line, held back while it may be a "Sources:" heading.
    _head: str | None = ""

    def paper_at(self, number: int) -> str | None:
        """The paper shown as source `number`, if any."""
        return self.cited[number - 1] if 0 < number <= len(self.cited) else None

    def display_number(self, paper_id: str) -> int:
        if paper_id not in self.cited:
            self.cited.append(paper_id)
        return self.cited.index(paper_id) + 1

    def _resolve(self, body: str) -> str:
        shown: list[int] = []
        for n in _numbers(body):
            paper_id = self.valid.get(n)
            if paper_id is None:
                self.dropped.append(n)
                continue
            number = self.display_number(paper_id)
            if number not in shown:
                shown.append(number)
        return "".join(f"[{n}]" for n in shown)

    def _after_word(self, out: list[str]) -> bool:
        """`x[0]` is an index, not a citation: a marker never follows a letter or digit."""
        previous = out[-1][-1:] if out and out[-1] else self._last
        return previous.isalnum()

    def _consume(self, ch: str, out: list[str]) -> None:
        if self._buffer:
            if ch == "]":
                body = self._buffer[1:]
                if _MARKER_BODY.match(body.strip()):
                    out.append(self._resolve(body))
                else:
                    out.append(self._buffer + ch)
                self._buffer = ""
            elif ch in _MARKER_CHARS and len(self._buffer) < _MAX_MARKER:
                self._buffer += ch
            elif ch == "[":
                out.append(self._buffer)
                self._buffer = ch
            else:
                out.append(self._buffer + ch)
                self._buffer = ""
        elif ch == "[" and not self._after_word(out):
            self._buffer = ch
        else:
            out.append(ch)

    def feed(self, piece: str) -> str:
        out: list[str] = []
        for ch in piece:
            if self.muted:
                continue
            if self._head is None:
                self._consume(ch, out)
                if ch == "\n":
                    self._head = ""
                continue
            # At the start of a line: hold it until it cannot be a "Sources:" heading.
            self._head += ch
            verdict = _heading(self._head)
            if verdict is True:
                self.muted, self._head = True, None
            elif verdict is False:
                head, self._head = self._head, None
                for held in head:
                    self._consume(held, out)
                    if held == "\n":
                        self._head = ""
        text = "".join(out)
        self._text.append(text)
        if text:
            self._last = text[-1]
        return text

    def finish(self) -> str:
        """Flush an unclosed bracket (or a held line start) as plain text."""
        out: list[str] = []
        if self._head:
            for held in self._head:
                self._consume(held, out)
        self._head = None
        text = "".join(out) + self._buffer
        self._buffer = ""
        self._text.append(text)
        return text

    @property
    def text(self) -> str:
        return "".join(self._text)


def resolve_citations(text: str, valid: Mapping[int, str]) -> CitationStream:
    """Resolve a whole answer at once (the streamed path gives the same result)."""
    stream = CitationStream(valid)
    stream.feed(text)
    stream.finish()
    return stream
