"""JSON Lines (`.jsonl`, `.ndjson`) and `.json`: BEIR records (`_id`, `title`,
`text`) or arXiv metadata records; a `.json` is JSON Lines (as the arXiv snapshot
is, despite its name) or one JSON array of the same records."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

from assistant.domain import LoadReport, Paper, Problem
from assistant.readers.identifier import ArxivId, normalize_doi, parse_arxiv_id, title_id
from assistant.readers.text import (
    SNIFF_BYTES,
    SURROGATE,
    SURROGATE_ESCAPE,
    clean,
    not_text,
    parse_year,
    text_lines,
)

# A `.json` holding one array of records is read whole; past this, JSON Lines it must be.
MAX_JSON_ARRAY_BYTES = 256 * 1024 * 1024
_VERSION = re.compile(r"v\d+")


def _authors(value: object) -> tuple[str, ...]:
    if isinstance(value, list):
        return tuple(clean(str(a)) for a in value if str(a).strip())
    if isinstance(value, str) and value.strip():
        parts = re.split(r",\s*|\s+and\s+", clean(value))
        return tuple(p for p in parts if p)
    return ()


def parse_jsonl(
    path: Path, report: LoadReport, *, display_name: str | None = None
) -> Iterator[Paper]:
    """Papers from JSON Lines: BEIR (`_id`, `title`, `text`) or arXiv metadata records."""
    name = display_name or path.name
    for number, line in text_lines(path, report, universal=False):
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
        if SURROGATE_ESCAPE.search(line):
            # A \uD800-\uDFFF escape without its pair decodes to a lone surrogate,
            # which no UTF-8 text can hold: hashing or storing it would fail later.
            dumped = json.dumps(record, ensure_ascii=False)
            if SURROGATE.search(dumped):
                record = json.loads(SURROGATE.sub("\ufffd", dumped))
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
        head = raw.read(SNIFF_BYTES)
    if head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] != b"[" or not_text(head):
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
    if SURROGATE.search(dumped):  # as in parse_jsonl: no UTF-8 text holds a lone surrogate
        records = json.loads(SURROGATE.sub("\ufffd", dumped))
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


class _BadField(ValueError):
    """A field of a type its format does not allow: the record is skipped, saying why."""


def _text(record: dict[str, object], key: str, *, number: bool = False) -> str:
    """A text field ('' if absent); an identifier may also be a JSON number.

    str() of a list or an object would make up a title or id no source has.
    """
    value = record.get(key)
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if number and isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    kind = "a string or a number" if number else "a string"
    raise _BadField(f"`{key}` is not {kind}; skipped")


def _words(record: dict[str, object], key: str) -> tuple[str, ...]:
    """Space-separated words, as arXiv writes categories, or a list of strings."""
    value = record.get(key)
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(value.split())
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(word for v in value for word in v.split())
    raise _BadField(f"`{key}` is not a string or a list of strings; skipped")


def _record_to_paper(record: dict[str, object], name: str) -> Paper | str:
    """A Paper, or the reason the record cannot be one."""
    try:
        return _fields_to_paper(record, name)
    except _BadField as exc:
        return str(exc)


def _fields_to_paper(record: dict[str, object], name: str) -> Paper | str:
    title = clean(_text(record, "title"))
    if "abstract" in record:
        abstract = clean(_text(record, "abstract"))
        external = _text(record, "id", number=True).strip() or None
        arxiv = parse_arxiv_id(external) if external else None
        # Without its version, so that a new version replaces the stored one.
        external = arxiv.base if arxiv else external
        paper_id = f"arxiv:{external}" if external else title_id(title)
        categories = _words(record, "categories")
        update = _text(record, "update_date").strip()
        dates = (update,) if update else ()
        if not isinstance(record.get("authors"), str | list | None):
            raise _BadField("`authors` is not a string or a list; skipped")
        authors = _authors(record.get("authors"))
        year, version, doi = _arxiv_details(record, arxiv)
    elif "text" in record or "_id" in record:
        abstract = clean(_text(record, "text"))
        external = _text(record, "_id", number=True).strip() or None
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
    doi = next((d for d in map(normalize_doi, _words(record, "doi")) if d), None)
    return year, version, doi
