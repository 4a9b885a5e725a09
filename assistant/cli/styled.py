"""Answers and search results drawn for a terminal, with Rich.

Only when standard output is a terminal: through a pipe, and with --json,
`cli.render` prints the plain text it always has (golden files hold it). Here
words wrap at the terminal's width and are never split, citations and the
checker's marks stand out, Sources is a list with a hanging indent, and search
is a table. Rich honours NO_COLOR (no colours; bold and italics stay).

Text from documents and models reaches Rich already through
`terminal.for_terminal`, and only as `Text` objects: Rich markup (`[bold]`) or
emoji codes in a title are shown as written, never interpreted.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich import box
from rich.cells import cell_len
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from assistant.answering.citations import CITATION
from assistant.bibliography import described
from assistant.domain import ADDED_MARK, CORRECTED_MARK, UNSUPPORTED_MARK
from assistant.errors import OutputError
from assistant.terminal import for_terminal, listed

if TYPE_CHECKING:
    from assistant.domain import Answer, PaperHit

CITATION_STYLE = "bold cyan"
MARK_STYLES = {UNSUPPORTED_MARK: "bold red", CORRECTED_MARK: "yellow", ADDED_MARK: "yellow"}
# A line break, a run of spaces, a bracketed group kept whole (a citation or a
# mark, with what sticks to it: "[2]."), or a word.
_TOKEN = re.compile(r"\n|[^\S\n]+|\[[^\[\]\n]{0,40}\]\S*|\S+")
# How far an open "[" may be from its "]" to wait for it before wrapping.
_BRACKET = 40


def is_terminal() -> bool:
    """Whether stdout is a terminal (then answers and results are drawn with Rich)."""
    try:
        return sys.stdout.isatty()
    except (ValueError, OSError):
        return False


def console() -> Console:
    # markup and emoji off: nothing in a document is read as Rich syntax.
    return Console(file=sys.stdout, highlight=False, markup=False, emoji=False)


def _print(renderable: RenderableType, *, end: str = "\n") -> None:
    try:
        console().print(renderable, end=end, soft_wrap=end == "")
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise OutputError.writing(exc) from exc


def styled(token: str) -> Text:
    """One word or bracketed group, its citations and marks styled."""
    mark = MARK_STYLES.get(token.strip())
    if mark:
        return Text(token, style=mark)
    text = Text(token)
    for match in CITATION.finditer(token):
        text.stylize(CITATION_STYLE, match.start(), match.end())
    return text


class WrappedStream:
    """A streamed answer, wrapped at the terminal's width between words.

    A word is shown once the space after it arrives (the stream may cut a word
    in two), so it can go to the next line whole. A line that starts a list item
    ("- ") continues under the item's text.
    """

    def __init__(self, width: int | None = None) -> None:
        self._fixed = width
        self.width = width or console().width
        self._pending = ""
        self._column = 0
        self._indent = 0
        self._gap = ""

    @property
    def line_open(self) -> bool:
        return bool(self._column or self._pending.strip())

    def write(self, text: str) -> None:
        if text:
            self._pending += for_terminal(text)
            self._drain(final=False)

    def end_line(self) -> None:
        """Show what is held back, and end the line if one is open."""
        self._drain(final=True)
        if self._column:
            _print(Text("\n"), end="")
        self._column = self._indent = 0
        self._gap = ""
        # The terminal may have been resized before the next answer (chat).
        self.width = self._fixed or console().width

    def _drain(self, *, final: bool) -> None:
        out = Text()
        position = 0
        for match in _TOKEN.finditer(self._pending):
            token = match.group()
            at_end = match.end() == len(self._pending)
            # The checker's marks are whole when they come, and shown at once.
            waits = (at_end and token not in MARK_STYLES) or self._bracket_open(match.start())
            if not final and not token.isspace() and waits:
                break  # the word may go on in the next piece
            position = match.end()
            if token == "\n":
                out.append("\n")
                self._column = self._indent = 0
                self._gap = ""
            elif token.isspace():
                self._gap = token
            else:
                self._word(out, token)
        self._pending = self._pending[position:]
        if out:
            _print(out, end="")

    def _bracket_open(self, start: int) -> bool:
        # "[1, " may be the start of "[1, 2]": wait for the "]" to keep it whole.
        rest = self._pending[start:]
        return rest.startswith("[") and "]" not in rest and len(rest) <= _BRACKET

    def _word(self, out: Text, word: str) -> None:
        width = cell_len(word)
        gap = self._gap if self._column else ""
        if self._column and self._column + cell_len(gap) + width > self.width:
            out.append("\n" + " " * self._indent)
            self._column = self._indent
            gap = ""
        elif not self._column and word == "-":
            self._indent = 2
        out.append(gap)
        out.append_text(styled(word))
        self._column += cell_len(gap) + width
        self._gap = ""


def _field(text: str) -> str:
    return for_terminal(text, one_line=True)


def _where(hit: PaperHit) -> str:
    where = listed(hit.source_files, 3)
    if hit.dates:
        where += "; " + listed(hit.dates, 3)
    return where


def sources(answer: Answer) -> RenderableType:
    """Sources as a list: number, title, then authors/year/venue and file, then quotes."""
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True)
    grid.add_column()
    for source in answer.sources:
        hit = source.hit
        lines: list[RenderableType] = [Text(_field(hit.title), style="bold")]
        details = (_field(described(hit)), _where(hit))
        lines.append(Text(" · ".join(p for p in details if p), style="dim"))
        lines += [Text(f"“{_field(q)}”", style="italic") for q in source.evidence]
        grid.add_row(Text(f"[{source.number}]", style=CITATION_STYLE), Group(*lines))
    return Group(Text("\nSources", style="bold"), grid)


def print_sources(answer: Answer) -> None:
    _print(sources(answer))


def search_table(hits: Sequence[PaperHit]) -> None:
    """Search results as a table: rank, score, the paper (title, then who/when/where),
    and the files it was read from (a name too long for its column is shortened
    with an ellipsis rather than split; --json has it whole)."""
    files = [[_field(n) for n in hit.source_files[:2]] for hit in hits]
    longest = max((cell_len(n) for names in files for n in names), default=4)
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold")
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("Score", justify="right", no_wrap=True)
    table.add_column("Paper", ratio=3)
    table.add_column("File", no_wrap=True, overflow="ellipsis", min_width=min(longest, 24))
    for rank, hit in enumerate(hits, start=1):
        paper = Text(_field(hit.title), style="bold")
        if details := _field(described(hit)):
            paper.append("\n" + details, style="dim")
        where = Text("\n".join(files[rank - 1]))
        more = len(hit.source_files) - 2
        if more > 0:
            where.append(f"\nand {more:,} more")
        if hit.dates:
            where.append("\n" + ", ".join(_field(d) for d in hit.dates[:2]), style="dim")
        table.add_row(str(rank), f"{hit.score:.3f}", paper, where)
    _print(table)
