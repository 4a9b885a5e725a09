"""Reading CSV and TSV tables: a header row naming the columns, then a paper per row.

Column names are matched case-insensitively; `title` and `abstract` (or `summary`)
are required, the rest optional. Fields may be quoted as spreadsheets and pandas
write them, so a quoted abstract can span lines. The file is read row by row.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from assistant.domain import LoadReport, Paper, Problem
from assistant.readers.identifier import arxiv_id_of_doi, normalize_doi, title_id
from assistant.readers.text import parse_year

# Accepted header names for each field, in order of preference.
COLUMNS: dict[str, tuple[str, ...]] = {
    "title": ("title",),
    "abstract": ("abstract", "summary"),
    "authors": ("authors", "author"),
    "year": ("year",),
    "doi": ("doi",),
    "id": ("id", "paper_id"),
    "categories": ("categories", "category"),
    "venue": ("venue", "journal"),
}

# csv's default limit (128 KiB a field) is below what a pasted full text can reach;
# a field past this is almost surely a quote left open, and is reported.
FIELD_LIMIT_CHARS = 16 * 1024 * 1024

_AUTHOR_SPLIT = re.compile(r",\s*|\s+and\s+")
_CATEGORY_SPLIT = re.compile(r"[\s,;]+")


def _lines(handle: IO[bytes], path: Path, report: LoadReport) -> Iterator[str]:
    """Decoded lines, ends kept for csv; undecodable bytes replaced and reported."""
    for number, raw in enumerate(handle, start=1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("utf-8", errors="replace")
            report.problems.append(
                Problem(str(path), number, "invalid UTF-8; undecodable bytes replaced")
            )
        yield text.removeprefix("\ufeff") if number == 1 else text


def _authors(value: str) -> tuple[str, ...]:
    # "Lovelace, Ada; Turing, Alan" keeps each name whole; without semicolons,
    # commas and "and" separate names, as in arXiv's author lists.
    parts = value.split(";") if ";" in value else _AUTHOR_SPLIT.split(value)
    return tuple(" ".join(p.split()) for p in parts if p.strip())


def _columns(header: list[str]) -> dict[str, int]:
    """Field name to column index for the header's recognised columns."""
    names = [h.strip().casefold() for h in header]
    found: dict[str, int] = {}
    for field, accepted in COLUMNS.items():
        for name in accepted:
            if name in names:
                found[field] = names.index(name)
                break
    return found


def _row_to_paper(row: list[str], columns: dict[str, int], name: str) -> Paper | str:
    def get(field: str) -> str:
        index = columns.get(field)
        return " ".join(row[index].split()) if index is not None else ""

    title, abstract = get("title"), get("abstract")
    if not title:
        return "row without a title; skipped"
    if not abstract:
        return "row without an abstract; skipped"
    doi = normalize_doi(get("doi"))
    arxiv = arxiv_id_of_doi(doi) if doi else None
    row_id = get("id")
    if arxiv:
        paper_id, external = f"arxiv:{arxiv.base}", arxiv.base
    elif doi:
        paper_id, external = f"doi:{doi}", doi
    elif row_id:
        # Scoped by file, like BEIR ids: a bare row id means nothing elsewhere.
        paper_id, external = f"{Path(name).stem}:{row_id}", row_id
    else:
        paper_id, external = title_id(title), None
    categories = tuple(c for c in _CATEGORY_SPLIT.split(get("categories")) if c)
    return Paper(
        paper_id,
        title,
        abstract,
        (name,),
        external_id=external,
        authors=_authors(get("authors")),
        categories=categories,
        year=parse_year(get("year")),
        venue=get("venue") or None,
        doi=doi,
        version=arxiv.version if arxiv else None,
    )


def parse_table(
    path: Path, report: LoadReport, *, display_name: str | None = None
) -> Iterator[Paper]:
    """Papers from a .csv or .tsv file whose header names title and abstract columns."""
    name = display_name or path.name
    csv.field_size_limit(max(csv.field_size_limit(), FIELD_LIMIT_CHARS))
    dialect = "excel-tab" if path.suffix.lower() == ".tsv" else "excel"
    with path.open("rb") as handle:
        if b"\x00" in handle.read(8192):
            report.problems.append(Problem(str(path), None, "binary file (NUL bytes); skipped"))
            return
        handle.seek(0)
        rows = csv.reader(_lines(handle, path, report), dialect=dialect)
        columns: dict[str, int] | None = None
        width = 0
        end = 0  # last line of the previous row: a quoted field can span lines
        while True:
            start = end + 1
            try:
                row = next(rows)
            except StopIteration:
                break
            except csv.Error as exc:
                end = rows.line_num
                report.problems.append(Problem(str(path), start, f"malformed row: {exc}; skipped"))
                continue
            end = rows.line_num
            if not any(cell.strip() for cell in row):
                continue
            if columns is None:
                columns, width = _columns(row), len(row)
                missing = [f for f in ("title", "abstract") if f not in columns]
                if missing:
                    wanted = " and ".join(
                        f"no {f} column ({' or '.join(COLUMNS[f])})" for f in missing
                    )
                    report.problems.append(
                        Problem(str(path), start, f"header has {wanted}; file skipped")
                    )
                    return
                continue
            if len(row) != width:
                # Shifted columns would put text in the wrong field.
                report.problems.append(
                    Problem(
                        str(path), start, f"row has {len(row)} fields, header has {width}; skipped"
                    )
                )
                continue
            paper = _row_to_paper(row, columns, name)
            if isinstance(paper, str):
                report.problems.append(Problem(str(path), start, paper))
                continue
            report.entries += 1
            yield paper
