"""Reading abstracts: the daily-papers listing format and JSON Lines records.

Readers yield `Paper` records and report `Problem`s for what they cannot use;
one bad record never stops the rest of a file from loading.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

LISTING_SUFFIXES = {".txt"}
JSONL_SUFFIXES = {".jsonl", ".ndjson"}

_MONTHS = "Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec"
_DATE = re.compile(rf"^(?:{_MONTHS})[a-z]* \d{{1,2}}(?:, \d{{4}})?$")
_HEADER = re.compile(
    r"^(?:new|Subscribe|Daily Papers|byAK and the research community"
    r"|Get trending papers in your email inbox(?: once a day)?!)$"
)
# "Subscribe" glued to the first title, as some listings are saved.
_GLUED_SUBSCRIBE = re.compile(r"^Subscribe(?=\S)")
_WS = re.compile(r"\s+")

# Lengths that separate a title from an abstract when the layout is ambiguous.
_TITLE_MAX_CHARS = 300
_ABSTRACT_MIN_CHARS = 200


@dataclass(frozen=True)
class Problem:
    """Something in the input that could not be used, with where it is."""

    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class Paper:
    """One abstract, with what we know about where it came from."""

    paper_id: str
    title: str
    abstract: str
    source_files: tuple[str, ...]
    dates: tuple[str, ...] = ()
    external_id: str | None = None
    authors: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()

    @property
    def content_hash(self) -> str:
        """Changes when anything we would show or embed changes."""
        # Files and dates are provenance, merged on their own; they are not content.
        blob = "\x1f".join([self.title, self.abstract, *self.authors, "|", *self.categories])
        return hashlib.sha1(blob.encode("utf-8")).hexdigest()

    def merged_with(self, other: Paper) -> Paper:
        """The same paper seen in another file: remember both files and dates."""
        files = tuple(dict.fromkeys(self.source_files + other.source_files))
        dates = tuple(dict.fromkeys(self.dates + other.dates))
        return Paper(
            self.paper_id,
            self.title,
            self.abstract,
            files,
            dates,
            self.external_id,
            self.authors,
            self.categories,
        )


def normalize_title(title: str) -> str:
    return _WS.sub(" ", title).strip().casefold()


def title_id(title: str) -> str:
    """Stable id for a paper known only by its title."""
    return "t:" + hashlib.sha1(normalize_title(title).encode("utf-8")).hexdigest()[:16]


@dataclass
class LoadReport:
    """What reading produced besides papers: counts and problems."""

    entries: int = 0
    files: int = 0
    problems: list[Problem] = field(default_factory=list)


def _clean(text: str) -> str:
    return _WS.sub(" ", text).strip()


def _decoded_lines(path: Path, report: LoadReport) -> list[str]:
    """The file's lines; undecodable bytes are replaced and reported, so pairing survives."""
    raw = path.read_bytes()
    if b"\x00" in raw[:8192]:
        report.problems.append(Problem(str(path), None, "binary file (NUL bytes); skipped"))
        return []
    lines: list[str] = []
    # \n, \r\n and a lone \r (old Mac files) all end a line.
    for number, chunk in enumerate(raw.splitlines(), start=1):
        try:
            lines.append(chunk.decode("utf-8"))
        except UnicodeDecodeError:
            lines.append(chunk.decode("utf-8", errors="replace"))
            report.problems.append(
                Problem(str(path), number, "invalid UTF-8; undecodable bytes replaced")
            )
    return lines


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
    numbered = [(n, _clean(text)) for n, text in enumerate(_decoded_lines(path, report), start=1)]
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


def _authors(value: object) -> tuple[str, ...]:
    if isinstance(value, list):
        return tuple(_clean(str(a)) for a in value if str(a).strip())
    if isinstance(value, str) and value.strip():
        parts = re.split(r",\s*|\s+and\s+", _clean(value))
        return tuple(p for p in parts if p)
    return ()


def parse_jsonl(
    path: Path, report: LoadReport, *, display_name: str | None = None
) -> Iterator[Paper]:
    """Papers from JSON Lines: BEIR (`_id`, `title`, `text`) or arXiv metadata records."""
    name = display_name or path.name
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                report.problems.append(Problem(str(path), number, f"invalid JSON: {exc}"))
                continue
            if not isinstance(record, dict):
                report.problems.append(Problem(str(path), number, "not a JSON object; skipped"))
                continue
            paper = _record_to_paper(record, name)
            if isinstance(paper, str):
                report.problems.append(Problem(str(path), number, paper))
                continue
            report.entries += 1
            yield paper


def _record_to_paper(record: dict[str, object], name: str) -> Paper | str:
    """A Paper, or the reason the record cannot be one."""
    title = _clean(str(record.get("title") or ""))
    if "abstract" in record:
        abstract = _clean(str(record.get("abstract") or ""))
        raw_id = record.get("id")
        external = str(raw_id).strip() if raw_id not in (None, "") else None
        paper_id = f"arxiv:{external}" if external else title_id(title)
        categories = tuple(str(record.get("categories") or "").split())
        update = record.get("update_date")
        dates = (str(update),) if update else ()
        authors = _authors(record.get("authors"))
    elif "text" in record or "_id" in record:
        abstract = _clean(str(record.get("text") or ""))
        raw_id = record.get("_id")
        external = str(raw_id).strip() if raw_id not in (None, "") else None
        stem = Path(name).stem
        paper_id = f"{stem}:{external}" if external else title_id(title)
        categories, dates, authors = (), (), ()
    else:
        return "no abstract field (expected `abstract`, or BEIR `text`); skipped"
    if not title:
        return "record without a title; skipped"
    if not abstract:
        return "record without an abstract; skipped"
    return Paper(paper_id, title, abstract, (name,), dates, external, authors, categories)


Reader = Callable[..., Iterator[Paper]]


def reader_for(path: Path) -> Reader | None:
    suffix = path.suffix.lower()
    if suffix in LISTING_SUFFIXES:
        return parse_listing
    if suffix in JSONL_SUFFIXES:
        return parse_jsonl
    return None


def _expand(paths: Iterable[Path], report: LoadReport) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and reader_for(p) is not None)
            if not found:
                report.problems.append(Problem(str(path), None, "no .txt or .jsonl files inside"))
            yield from found
        elif path.is_file():
            if reader_for(path) is None:
                report.problems.append(
                    Problem(str(path), None, "unsupported file type (use .txt listings or .jsonl)")
                )
                continue
            yield path
        elif path.exists():
            report.problems.append(Problem(str(path), None, "not a regular file; skipped"))
        else:
            report.problems.append(Problem(str(path), None, "no such file or directory"))


def iter_papers(paths: Iterable[Path], report: LoadReport) -> Iterator[Paper]:
    """Every entry of every readable file, in order; duplicates are not merged here."""
    for path in _expand(paths, report):
        reader = reader_for(path)
        assert reader is not None
        try:
            report.files += 1
            yield from reader(path, report)
        except OSError as exc:
            report.problems.append(Problem(str(path), None, f"cannot read: {exc.strerror or exc}"))


def load_abstracts(paths: Iterable[Path]) -> tuple[list[Paper], LoadReport]:
    """All distinct papers under `paths`, a paper seen in several files stored once."""
    report = LoadReport()
    papers: dict[str, Paper] = {}
    for paper in iter_papers(paths, report):
        seen = papers.get(paper.paper_id)
        papers[paper.paper_id] = seen.merged_with(paper) if seen else paper
    return list(papers.values()), report
