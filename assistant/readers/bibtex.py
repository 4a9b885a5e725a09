"""Reading BibTeX: every entry with an `abstract` field becomes a paper.

bibtexparser (v2) splits the file into entries, keeps going past a malformed
one and says on which line each starts; pylatexenc turns the LaTeX in titles,
abstracts and names into plain text. A .bib file is parsed whole: bibliographies
are small, unlike the arXiv snapshot, which is JSON Lines and read line by line.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path

from bibtexparser.entrypoint import parse_string
from bibtexparser.middlewares import NormalizeFieldKeys
from bibtexparser.middlewares.names import (
    parse_single_name_into_parts,
    split_multiple_persons_names,
)
from bibtexparser.model import (
    DuplicateBlockKeyBlock,
    DuplicateFieldKeyBlock,
    Entry,
    ParsingFailedBlock,
)
from pylatexenc.latex2text import LatexNodes2Text

from assistant.domain import LoadReport, Paper, Problem
from assistant.readers.identifier import (
    ArxivId,
    arxiv_id_of_doi,
    find_arxiv_id,
    normalize_doi,
    parse_arxiv_id,
)
from assistant.readers.text import parse_year

# Each failed entry becomes a Problem; the parser's own log lines would say it twice.
logging.getLogger("bibtexparser").addHandler(logging.NullHandler())

# In a .bib value a bare % or & is text pasted from elsewhere, not LaTeX's comment
# sign or column separator: escape it, or everything after a % would be lost.
_BARE_SPECIAL = re.compile(r"(?<!\\)([%&])")
_ESCAPED = re.compile(r"\\([_%&#$])")
# Real entries nest braces a few levels ({\"{o}}, {{DNA}}); far beyond is not BibTeX.
MAX_BRACE_DEPTH = 50
_ENTRY_KEY = re.compile(r"@\s*\w+\s*[{(]\s*([^,\s]+)")


@cache
def _latex() -> LatexNodes2Text:
    # Math as text: "$\alpha$-stable" reads as a Greek letter, not as TeX source.
    return LatexNodes2Text(math_mode="text")


def _text(value: object) -> str:
    """A field value as readable text: accents, dashes and quotes decoded, braces gone."""
    if value is None:
        return ""
    latex = _BARE_SPECIAL.sub(r"\\\1", str(value))
    return " ".join(str(_latex().latex_to_text(latex)).split())


def _verbatim(value: object) -> str:
    """An identifier field (DOI, eprint) with braces and escapes removed, nothing decoded."""
    if value is None:
        return ""
    return _ESCAPED.sub(r"\1", str(value)).replace("{", "").replace("}", "").strip()


def _authors(value: object) -> tuple[str, ...]:
    """Names as "First von Last, Jr"; `and others` (BibTeX's et al.) is dropped."""
    if value is None:
        return ()
    names: list[str] = []
    for person in split_multiple_persons_names(str(value)):
        # Not strict: an odd name (too many commas) should not cost the whole paper.
        parts = parse_single_name_into_parts(person, strict=False)
        words = [" ".join(p) for p in (parts.first, parts.von, parts.last, parts.jr) if p]
        name = _text(" ".join(words))
        if name and name.casefold() != "others":
            names.append(name)
    return tuple(names)


def _arxiv(fields: dict[str, object]) -> ArxivId | None:
    """The entry's arXiv id: `eprint` (arXiv or unspecified archive), else one cited in text."""
    eprint = _verbatim(fields.get("eprint"))
    archive = _verbatim(fields.get("archiveprefix") or fields.get("eprinttype")).casefold()
    if eprint and archive in ("", "arxiv"):
        found = parse_arxiv_id(eprint)
        if found:
            return found
    # Google Scholar writes `journal = {arXiv preprint arXiv:2101.00001}`.
    for name in ("journal", "note", "url", "howpublished"):
        found = find_arxiv_id(_verbatim(fields.get(name)))
        if found:
            return found
    return None


def _brace_depth(text: str) -> int:
    depth = deepest = 0
    for ch in text:
        if ch == "{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch == "}":
            depth = max(depth - 1, 0)
    return deepest


def _entry_to_paper(entry: Entry, name: str) -> Paper | str:
    """A Paper, or the reason the entry cannot be one."""
    fields: dict[str, object] = {f.key: f.value for f in entry.fields}
    key = entry.key
    # The LaTeX decoder recurses once per brace: hundreds of nested braces
    # would exhaust Python's stack (RecursionError) and end the whole ingest.
    deep = [k for k, v in fields.items() if _brace_depth(str(v)) > MAX_BRACE_DEPTH]
    if deep:
        return (
            f"entry `{key}` nests braces over {MAX_BRACE_DEPTH} deep in {', '.join(deep)}; skipped"
        )
    abstract = _text(fields.get("abstract"))
    if not abstract:
        return f"entry `{key}` has no abstract; skipped"
    title = _text(fields.get("title"))
    if not title:
        return f"entry `{key}` has no title; skipped"
    doi = normalize_doi(_verbatim(fields.get("doi")))
    arxiv = _arxiv(fields) or (arxiv_id_of_doi(doi) if doi else None)
    # Most stable first: a DOI names the published paper; an arXiv DOI names the preprint.
    if doi and arxiv_id_of_doi(doi) is None:
        paper_id, external = f"doi:{doi}", doi
    elif arxiv:
        paper_id, external = f"arxiv:{arxiv.base}", arxiv.base
    else:
        paper_id, external = f"bib:{key}", key
    venue = _text(fields.get("journal") or fields.get("booktitle") or fields.get("journaltitle"))
    year = parse_year(_verbatim(fields.get("year"))) or parse_year(_verbatim(fields.get("date")))
    primary = _verbatim(fields.get("primaryclass"))
    return Paper(
        paper_id,
        title,
        abstract,
        (name,),
        external_id=external,
        authors=_authors(fields.get("author")),
        categories=(primary,) if primary else (),
        year=year,
        venue=venue or None,
        doi=doi,
        bibtex_key=key,
        version=arxiv.version if arxiv else None,
    )


def _read_text(path: Path, report: LoadReport) -> str | None:
    """The file as text, undecodable bytes replaced and reported; None for a binary file."""
    raw = path.read_bytes()
    if b"\x00" in raw[:8192]:
        report.problems.append(Problem(str(path), None, "binary file (NUL bytes); skipped"))
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        report.problems.append(
            Problem(str(path), line, "invalid UTF-8; undecodable bytes replaced")
        )
        text = raw.decode("utf-8", errors="replace")
    return text.removeprefix("\ufeff")


def _failure(block: ParsingFailedBlock) -> str:
    if isinstance(block, DuplicateBlockKeyBlock):
        return f"entry `{block.key}` repeats an earlier citation key; skipped"
    key_match = _ENTRY_KEY.match(block.raw or "")
    key = f" `{key_match.group(1)}`" if key_match else ""
    if isinstance(block, DuplicateFieldKeyBlock):
        repeated = ", ".join(sorted(block.duplicate_keys))
        return f"entry{key} has field(s) {repeated} more than once; skipped"
    # Some parse errors carry no message; the line of the entry is still known.
    detail = " ".join(str(block.error).split()) or "malformed BibTeX (check its braces and commas)"
    return f"cannot parse entry{key}: {detail}; skipped"


def parse_bibtex(
    path: Path, report: LoadReport, *, display_name: str | None = None
) -> Iterator[Paper]:
    """Papers from a BibTeX file; entries without an abstract are reported and skipped."""
    name = display_name or path.name
    text = _read_text(path, report)
    if text is None:
        return
    # Lower-case field names (`Title`, `archivePrefix`); @string macros are resolved.
    library = parse_string(text, append_middleware=[NormalizeFieldKeys()])
    for block in library.blocks:
        line = None if block.start_line is None else block.start_line + 1
        if isinstance(block, Entry):
            paper = _entry_to_paper(block, name)
            if isinstance(paper, str):
                report.problems.append(Problem(str(path), line, paper))
                continue
            report.entries += 1
            yield paper
        elif isinstance(block, ParsingFailedBlock):
            report.problems.append(Problem(str(path), line, _failure(block)))
