"""Reading abstracts from files: one reader per format, chosen by file suffix.

`FORMATS` is the single list of what can be read; help texts, messages and the
README's list derive from it (tests/test_readers.py holds the README to it).
Readers yield `Paper`s and report `Problem`s; one bad record never stops the
rest of a file from loading. Each reader's module is imported only when a file
of its format is read.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import Literal

from assistant.domain import LoadReport, Paper, Problem
from assistant.readers.text import MAX_LINE_CHARS

Reader = Callable[..., Iterator[Paper]]


@dataclass(frozen=True)
class Format:
    """One input format: the suffixes it is read from, and its reader."""

    name: str
    suffixes: tuple[str, ...]
    # "module:function", imported when a file of this format is read.
    reader: str
    # The suffixes named in messages and help (the rest are accepted quietly).
    named: tuple[str, ...]
    # How to estimate its entries without parsing, for the progress bar: one per
    # line, one per two non-blank lines (title and abstract), one per `@`, or not
    # at all (a database).
    entries: Literal["lines", "line pairs", "at signs", "unknown"] = "lines"
    # The only names a folder walk takes (case ignored); empty: any with the suffix.
    # A Zotero data directory holds other programs' .sqlite files (better-bibtex.sqlite).
    in_folders: tuple[str, ...] = ()


FORMATS: tuple[Format, ...] = (
    Format(
        "listing", (".txt",), "assistant.readers.listing:parse_listing", (".txt",), "line pairs"
    ),
    Format("JSON Lines", (".jsonl", ".ndjson"), "assistant.readers.jsonl:parse_jsonl", (".jsonl",)),
    Format("JSON", (".json",), "assistant.readers.jsonl:parse_json", (".json",)),
    Format("BibTeX", (".bib",), "assistant.readers.bibtex:parse_bibtex", (".bib",), "at signs"),
    Format("CSV/TSV", (".csv", ".tsv"), "assistant.readers.tabular:parse_table", (".csv", ".tsv")),
    Format(
        "Zotero",
        (".sqlite",),
        "assistant.readers.zotero:parse_zotero",
        (".sqlite",),
        "unknown",
        in_folders=("zotero.sqlite",),
    ),
)


def _named() -> str:
    names = [suffix for f in FORMATS for suffix in f.named]
    return ", ".join(names[:-1]) + " or " + names[-1]


# ".txt, .jsonl, .json, .bib, .csv, .tsv or .sqlite"
SUPPORTED = _named()


def format_of(path: Path) -> Format | None:
    suffix = path.suffix.lower()
    return next((f for f in FORMATS if suffix in f.suffixes), None)


def reader_for(path: Path) -> Reader | None:
    fmt = format_of(path)
    if fmt is None:
        return None
    module, _, function = fmt.reader.partition(":")
    reader: Reader = getattr(import_module(module), function)
    return reader


def _is_readable(path: Path) -> bool:
    return format_of(path) is not None


def _in_folder_walk(path: Path) -> bool:
    fmt = format_of(path)
    return fmt is not None and (not fmt.in_folders or path.name.casefold() in fmt.in_folders)


def expand_paths(paths: Iterable[Path], report: LoadReport) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and _in_folder_walk(p))
            if not found:
                report.problems.append(Problem(str(path), None, f"no {SUPPORTED} files inside"))
            yield from found
        elif path.is_file():
            if not _is_readable(path):
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


def _too_long(path: Path, paper: Paper) -> Problem:
    title = paper.title if len(paper.title) <= 60 else paper.title[:57] + "..."
    return Problem(
        str(path),
        None,
        f"{title!r}: the abstract is {len(paper.abstract):,} characters, over the "
        f"{MAX_LINE_CHARS:,}-character limit (a full text, or a quote left open?); skipped",
    )


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
                    if len(paper.abstract) > MAX_LINE_CHARS:
                        # Embedding it would take minutes with no progress shown.
                        report.entries -= 1
                        report.problems.append(_too_long(path, paper))
                        continue
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
