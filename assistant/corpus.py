"""Reading abstracts: the daily-papers listing format and JSON Lines records.

Readers yield `Paper` records and report `Problem`s for what they cannot use;
one bad record never stops the rest of a file from loading.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

from assistant.identifier import ArxivId, normalize_doi, parse_arxiv_id

LISTING_SUFFIXES = {".txt"}
JSONL_SUFFIXES = {".jsonl", ".ndjson"}
# The arXiv snapshot ships as `arxiv-metadata-oai-snapshot.json`, JSON Lines inside.
JSON_SUFFIXES = {".json"}
# A `.json` holding one array of records is read whole; past this, JSON Lines it must be.
MAX_JSON_ARRAY_BYTES = 256 * 1024 * 1024
BIBTEX_SUFFIXES = {".bib"}
TABULAR_SUFFIXES = {".csv", ".tsv"}
SUPPORTED = ".txt, .jsonl, .json, .bib, .csv or .tsv"

_MONTHS = "Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec"
_DATE = re.compile(rf"^(?:{_MONTHS})[a-z]* \d{{1,2}}(?:, \d{{4}})?$")
_HEADER = re.compile(
    r"^(?:new|Subscribe|Daily Papers|byAK and the research community"
    r"|Get trending papers in your email inbox(?: once a day)?!)$"
)
# "Subscribe" glued to the first title, as some listings are saved.
_GLUED_SUBSCRIBE = re.compile(r"^Subscribe(?=\S)")
_WS = re.compile(r"\s+")
_YEAR = re.compile(r"(?<!\d)(1[5-9]\d\d|2\d\d\d)(?!\d)")
_VERSION = re.compile(r"v\d+")

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
    # Year of publication (BibTeX, CSV) or of first submission (arXiv).
    year: int | None = None
    venue: str | None = None
    doi: str | None = None
    bibtex_key: str | None = None
    # The source's latest version (arXiv "v2"); the id stays the same across versions.
    version: str | None = None

    @property
    def content_hash(self) -> str:
        """Changes when anything we would show or embed changes."""
        # Files and dates are provenance, merged on their own; they are not content.
        # Nor is the BibTeX key: it only names the entry.
        blob = "\x1f".join([self.title, self.abstract, *self.authors, "|", *self.categories])
        described = [str(self.year or ""), self.venue or "", self.doi or "", self.version or ""]
        if any(described):
            # Only when present, so papers without them keep the hashes already stored.
            blob += "\x1f|\x1f" + "\x1f".join(described)
        return hashlib.sha1(blob.encode("utf-8")).hexdigest()

    def merged_with(self, other: Paper) -> Paper:
        """The same paper seen in another file: remember both files and dates."""
        files = tuple(dict.fromkeys(self.source_files + other.source_files))
        dates = tuple(dict.fromkeys(self.dates + other.dates))
        return replace(self, source_files=files, dates=dates)


def normalize_title(title: str) -> str:
    return _WS.sub(" ", title).strip().casefold()


def parse_year(text: str) -> int | None:
    """The first four-digit year in `text` ("2020", "2020a", "Mon, 2 Apr 2007 ..."), or None."""
    match = _YEAR.search(text)
    return int(match.group(1)) if match else None


def title_id(title: str) -> str:
    """Stable id for a paper known only by its title."""
    return "t:" + hashlib.sha1(normalize_title(title).encode("utf-8")).hexdigest()[:16]


@dataclass
class LoadReport:
    """What reading produced besides papers: counts and problems."""

    entries: int = 0
    files: int = 0
    problems: list[Problem] = field(default_factory=list)
    # Entries read but left out by a category filter (not counted in `entries`).
    filtered: int = 0


def _clean(text: str) -> str:
    return _WS.sub(" ", text).strip()


# The longest line read, in characters. Far above any real abstract (one of
# 100,000 characters loads whole, even as escaped JSON), yet a runaway line (a
# dump without newlines) is skipped instead of filling memory and taking hours
# to embed.
MAX_LINE_CHARS = 1_000_000
_SNIFF_BYTES = 8192
# Files that are not text at all, told apart by how they start, with what to do.
_NOT_TEXT = (
    (b"\x1f\x8b", "gzip-compressed file; decompress it first (gunzip); skipped"),
    (b"PK\x03\x04", "zip archive; unpack it first; skipped"),
    (b"%PDF-", "PDF file, not text; skipped"),
    (b"\xff\xfe", "UTF-16 text; save it as UTF-8; skipped"),
    (b"\xfe\xff", "UTF-16 text; save it as UTF-8; skipped"),
)
_SURROGATE = re.compile("[\ud800-\udfff]")
# A JSON escape of half a surrogate pair (\uD800-\uDFFF), paired or not.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _text_lines(path: Path, report: LoadReport, *, universal: bool) -> Iterator[tuple[int, str]]:
    """Numbered lines of a UTF-8 text file without their line ends, one bounded line at a time.

    An empty, binary or compressed file is reported and yields nothing. Undecodable
    bytes are replaced and reported, so a listing's pairing survives them. A line
    longer than MAX_LINE_CHARS is reported and skipped without being held whole.

    Args:
        universal: LF, CRLF and a lone CR (old Mac files) all end a line; else only LF.
    """
    with path.open("rb") as raw:
        head = raw.read(_SNIFF_BYTES)
        problem = _not_text(head)
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


def _not_text(head: bytes) -> str | None:
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
    while piece := handle.readline(_SNIFF_BYTES):
        if piece.endswith("\n"):
            return length + len(piece) - 1
        length += len(piece)
    return length


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
    numbered = [(n, _clean(text)) for n, text in _text_lines(path, report, universal=True)]
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
    for number, line in _text_lines(path, report, universal=False):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            report.problems.append(Problem(str(path), number, f"invalid JSON: {exc}"))
            continue
        except ValueError:  # Python's own limit on digits in an integer
            report.problems.append(Problem(str(path), number, "invalid JSON: a number too long"))
            continue
        except RecursionError:
            report.problems.append(Problem(str(path), number, "invalid JSON: nested too deeply"))
            continue
        if _SURROGATE_ESCAPE.search(line):
            # A \uD800-\uDFFF escape without its pair decodes to a lone surrogate,
            # which no UTF-8 text can hold: hashing or storing it would fail later.
            dumped = json.dumps(record, ensure_ascii=False)
            if _SURROGATE.search(dumped):
                record = json.loads(_SURROGATE.sub("\ufffd", dumped))
                message = "unpaired surrogate escape (\\uD800-\\uDFFF); replaced"
                report.problems.append(Problem(str(path), number, message))
        if not isinstance(record, dict):
            report.problems.append(Problem(str(path), number, "not a JSON object; skipped"))
            continue
        paper = _record_to_paper(record, name)
        if isinstance(paper, str):
            report.problems.append(Problem(str(path), number, paper))
            continue
        report.entries += 1
        yield paper


def parse_json(
    path: Path, report: LoadReport, *, display_name: str | None = None
) -> Iterator[Paper]:
    """A `.json` file: JSON Lines (as the arXiv snapshot is, despite its name), or one
    JSON array of the same records."""
    with path.open("rb") as raw:
        head = raw.read(_SNIFF_BYTES)
    if head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] != b"[" or _not_text(head):
        yield from parse_jsonl(path, report, display_name=display_name)
        return
    size = path.stat().st_size
    if size > MAX_JSON_ARRAY_BYTES:
        message = (
            f"a JSON array of {size / 2**20:,.0f} MiB, over the "
            f"{MAX_JSON_ARRAY_BYTES // 2**20} MiB that is read whole; "
            "write it as JSON Lines, one record per line (jq -c '.[]')"
        )
        report.problems.append(Problem(str(path), None, message))
        return
    try:
        records = json.loads(path.read_bytes().decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        report.problems.append(Problem(str(path), None, f"invalid UTF-8 at byte {exc.start}"))
        return
    except json.JSONDecodeError as exc:
        report.problems.append(Problem(str(path), exc.lineno, f"invalid JSON: {exc.msg}"))
        return
    except (ValueError, RecursionError):
        report.problems.append(Problem(str(path), None, "invalid JSON: too long or too deep"))
        return
    if not isinstance(records, list):
        report.problems.append(Problem(str(path), None, "not a JSON array of records"))
        return
    dumped = json.dumps(records, ensure_ascii=False)
    if _SURROGATE.search(dumped):  # as in parse_jsonl: no UTF-8 text holds a lone surrogate
        records = json.loads(_SURROGATE.sub("\ufffd", dumped))
        message = "unpaired surrogate escape (\\uD800-\\uDFFF); replaced"
        report.problems.append(Problem(str(path), None, message))
    name = display_name or path.name
    for position, record in enumerate(records, start=1):
        paper = (
            _record_to_paper(record, name)
            if isinstance(record, dict)
            else "not a JSON object; skipped"
        )
        if isinstance(paper, str):
            report.problems.append(Problem(str(path), None, f"record {position}: {paper}"))
            continue
        report.entries += 1
        yield paper


def _record_to_paper(record: dict[str, object], name: str) -> Paper | str:
    """A Paper, or the reason the record cannot be one."""
    # str() of a list or an object would make up a title no source has.
    for key in ("title", "abstract" if "abstract" in record else "text"):
        if not isinstance(record.get(key, ""), str | None):
            return f"`{key}` is not a string; skipped"
    title = _clean(str(record.get("title") or ""))
    if "abstract" in record:
        abstract = _clean(str(record.get("abstract") or ""))
        raw_id = record.get("id")
        external = str(raw_id).strip() if raw_id not in (None, "") else None
        arxiv = parse_arxiv_id(external) if external else None
        # Without its version, so that a new version replaces the stored one.
        external = arxiv.base if arxiv else external
        paper_id = f"arxiv:{external}" if external else title_id(title)
        categories = tuple(str(record.get("categories") or "").split())
        update = record.get("update_date")
        dates = (str(update),) if update else ()
        authors = _authors(record.get("authors"))
        year, version, doi = _arxiv_details(record, arxiv)
    elif "text" in record or "_id" in record:
        abstract = _clean(str(record.get("text") or ""))
        raw_id = record.get("_id")
        external = str(raw_id).strip() if raw_id not in (None, "") else None
        stem = Path(name).stem
        paper_id = f"{stem}:{external}" if external else title_id(title)
        categories, dates, authors = (), (), ()
        year, version, doi = None, None, None
    else:
        return "no abstract field (expected `abstract`, or BEIR `text`); skipped"
    if not title:
        return "record without a title; skipped"
    if not abstract:
        return "record without an abstract; skipped"
    return Paper(
        paper_id,
        title,
        abstract,
        (name,),
        dates,
        external,
        authors,
        categories,
        year=year,
        doi=doi,
        version=version,
    )


def _arxiv_details(
    record: dict[str, object], arxiv: ArxivId | None
) -> tuple[int | None, str | None, str | None]:
    """Year of first submission, latest version and DOI of an arXiv metadata record."""
    numbered: list[tuple[int, str, str]] = []
    versions = record.get("versions")
    if isinstance(versions, list):
        for entry in versions:
            if isinstance(entry, dict) and _VERSION.fullmatch(str(entry.get("version", ""))):
                label = str(entry["version"])
                numbered.append((int(label[1:]), label, str(entry.get("created") or "")))
    numbered.sort()
    version = numbered[-1][1] if numbered else (arxiv.version if arxiv else None)
    # The first version's date, not `update_date`, which moves whenever metadata is edited.
    year = parse_year(numbered[0][2]) if numbered else None
    if year is None and arxiv is not None:
        year = arxiv.year
    doi = next((d for d in map(normalize_doi, str(record.get("doi") or "").split()) if d), None)
    return year, version, doi


Reader = Callable[..., Iterator[Paper]]


def reader_for(path: Path) -> Reader | None:
    suffix = path.suffix.lower()
    if suffix in LISTING_SUFFIXES:
        return parse_listing
    if suffix in JSONL_SUFFIXES:
        return parse_jsonl
    if suffix in JSON_SUFFIXES:
        return parse_json
    # Imported here: these modules build on this one.
    if suffix in BIBTEX_SUFFIXES:
        from assistant.bibtex import parse_bibtex

        return parse_bibtex
    if suffix in TABULAR_SUFFIXES:
        from assistant.tabular import parse_table

        return parse_table
    return None


def expand_paths(paths: Iterable[Path], report: LoadReport) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and reader_for(p) is not None)
            if not found:
                report.problems.append(Problem(str(path), None, f"no {SUPPORTED} files inside"))
            yield from found
        elif path.is_file():
            if reader_for(path) is None:
                report.problems.append(
                    Problem(str(path), None, f"unsupported file type (use {SUPPORTED})")
                )
                continue
            yield path
        elif path.exists():
            report.problems.append(Problem(str(path), None, "not a regular file; skipped"))
        else:
            report.problems.append(Problem(str(path), None, "no such file or directory"))


def in_categories(paper: Paper, wanted: Iterable[str]) -> bool:
    """Whether `paper` has one of the `wanted` categories or one under it (`cs` takes `cs.LG`)."""
    have = [c.casefold() for c in paper.categories]
    for category in wanted:
        w = category.casefold().removesuffix(".*")
        if any(c == w or c.startswith(w + ".") for c in have):
            return True
    return False


def iter_papers(
    paths: Iterable[Path],
    report: LoadReport,
    *,
    limit: int | None = None,
    categories: Sequence[str] = (),
) -> Iterator[Paper]:
    """Every entry of every readable file, in order; duplicates are not merged here.

    Args:
        limit: stop after this many accepted entries, reading no further.
        categories: keep only entries `in_categories` of these; empty keeps all.
    """
    if limit is not None and limit <= 0:
        return
    accepted = 0
    for path in expand_paths(paths, report):
        reader = reader_for(path)
        assert reader is not None
        try:
            report.files += 1
            entries = reader(path, report)
            try:
                for paper in entries:
                    if categories and not in_categories(paper, categories):
                        # Readers count what they read; `entries` counts what is passed on.
                        report.entries -= 1
                        report.filtered += 1
                        continue
                    yield paper
                    accepted += 1
                    if limit is not None and accepted >= limit:
                        return
            finally:
                # Closes the file now, not when the reader is garbage-collected.
                if isinstance(entries, Generator):
                    entries.close()
        except OSError as exc:
            report.problems.append(Problem(str(path), None, f"cannot read: {exc.strerror or exc}"))


def load_abstracts(
    paths: Iterable[Path], *, limit: int | None = None, categories: Sequence[str] = ()
) -> tuple[list[Paper], LoadReport]:
    """All distinct papers under `paths`, a paper seen in several files stored once.

    `limit` and `categories` are as for `iter_papers`.
    """
    report = LoadReport()
    papers: dict[str, Paper] = {}
    for paper in iter_papers(paths, report, limit=limit, categories=categories):
        seen = papers.get(paper.paper_id)
        papers[paper.paper_id] = seen.merged_with(paper) if seen else paper
    return list(papers.values()), report
