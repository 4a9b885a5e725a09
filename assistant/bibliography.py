"""Writing BibTeX: cited papers, search hits or stored papers as entries, from stored
metadata only.

Nothing is looked up: an entry has what the source gave (title, authors, year,
venue, DOI, arXiv id, abstract). Values are plain text in the store, so LaTeX's
special characters are escaped, and a stray brace cannot unbalance the entry.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import Protocol


class Citable(Protocol):
    """What an entry is made of: a `PaperHit` or a stored `Paper` (domain.py)."""

    @property
    def paper_id(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def abstract(self) -> str: ...
    @property
    def authors(self) -> tuple[str, ...]: ...
    @property
    def categories(self) -> tuple[str, ...]: ...
    @property
    def year(self) -> int | None: ...
    @property
    def venue(self) -> str | None: ...
    @property
    def doi(self) -> str | None: ...
    @property
    def bibtex_key(self) -> str | None: ...


def described(paper: Citable) -> str:
    """Authors, year, venue and DOI or arXiv id, as far as the source gave them:
    "A. Vaswani, N. Shazeer, N. Parmar et al., 2017, NeurIPS, arXiv:1706.03762"."""
    parts = []
    if paper.authors:
        shown = ", ".join(paper.authors[:3])
        parts.append(shown + (" et al." if len(paper.authors) > 3 else ""))
    parts += [str(paper.year)] if paper.year else []
    parts += [paper.venue] if paper.venue else []
    if paper.doi:
        parts.append(f"doi:{paper.doi}")
    elif paper.paper_id.startswith("arxiv:"):
        parts.append(paper.paper_id.replace("arxiv:", "arXiv:", 1))
    return ", ".join(parts)


_SPECIAL = {
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "$": r"\$",
    "&": r"\&",
    "%": r"\%",
    "#": r"\#",
    "_": r"\_",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}
_SPECIAL_RE = re.compile("|".join(re.escape(c) for c in _SPECIAL))
_KEY_WORD = re.compile(r"[a-z0-9]+")
# Title words too common to name an entry by.
_SKIP = frozenset(
    [
        "a",
        "an",
        "the",
        "on",
        "of",
        "for",
        "in",
        "to",
        "and",
        "with",
        "from",
        "towards",
        "toward",
        "is",
        "are",
    ]
)
_PROCEEDINGS = re.compile(
    r"proceedings|proc\.|conference|workshop|symposium|neurips|nips|icml|iclr|cvpr|iccv|eccv"
    r"|acl|emnlp|naacl|aaai|ijcai|kdd|sigir|interspeech|icassp",
    re.IGNORECASE,
)


_UNBALANCED = {"{": r"\textbraceleft{}", "}": r"\textbraceright{}"}


def _balanced(text: str) -> bool:
    depth = 0
    for ch in text:
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth < 0:
            return False
    return depth == 0


def escape(text: str) -> str:
    """Plain text as a BibTeX/LaTeX value: every special character escaped once.

    BibTeX counts braces even after a backslash, so `\\{` is used only when the
    braces balance; otherwise they become commands with no brace of their own.
    """
    table = _SPECIAL if _balanced(text) else {**_SPECIAL, **_UNBALANCED}
    return _SPECIAL_RE.sub(lambda m: table[m.group(0)], " ".join(text.split()))


def _identifier(text: str) -> str:
    # DOIs and arXiv ids are used verbatim (in URLs): only what would break the entry.
    return text.replace("{", "").replace("}", "").replace("\\", "").replace("%", r"\%")


def _ascii_words(text: str) -> list[str]:
    plain = unicodedata.normalize("NFKD", text.casefold()).encode("ascii", "ignore").decode()
    return _KEY_WORD.findall(plain)


def generated_key(hit: Citable) -> str:
    """`firstauthorYEARfirstword`, e.g. hinton2015distilling, from what is known."""
    surname = ""
    if hit.authors:
        # "First von Last", "First Last, Jr" or "Last, First": the last word before a comma.
        words = _ascii_words(hit.authors[0].split(",")[0])
        surname = words[-1] if words else ""
    title_words = [w for w in _ascii_words(hit.title) if w not in _SKIP]
    key = surname + (str(hit.year) if hit.year else "") + (title_words[0] if title_words else "")
    return key or "paper"


def _arxiv_id(hit: Citable) -> str | None:
    if hit.paper_id.startswith("arxiv:"):
        return hit.paper_id.removeprefix("arxiv:")
    return None


def _author_field(authors: Sequence[str]) -> str:
    names = []
    for name in authors:
        value = escape(name)
        # A name with the word "and" in it (a company) must not be split into two people.
        if "and" in value.casefold().split():
            value = "{" + value + "}"
        names.append(value)
    return " and ".join(names)


def entry(hit: Citable, key: str) -> str:
    """One BibTeX entry for a paper."""
    arxiv = _arxiv_id(hit)
    fields: list[tuple[str, str]] = [("title", escape(hit.title))]
    if hit.authors:
        fields.append(("author", _author_field(hit.authors)))
    if hit.year:
        fields.append(("year", str(hit.year)))
    kind = "misc"
    if hit.venue:
        if _PROCEEDINGS.search(hit.venue):
            kind = "inproceedings"
            fields.append(("booktitle", escape(hit.venue)))
        else:
            kind = "article"
            fields.append(("journal", escape(hit.venue)))
    if hit.doi:
        fields.append(("doi", _identifier(hit.doi)))
    if arxiv:
        fields += [("eprint", _identifier(arxiv)), ("archivePrefix", "arXiv")]
        if hit.categories:
            fields.append(("primaryClass", _identifier(hit.categories[0])))
    if hit.abstract:
        fields.append(("abstract", escape(hit.abstract)))
    body = ",\n".join(f"  {name} = {{{value}}}" for name, value in fields)
    return f"@{kind}{{{key},\n{body}\n}}"


def bibliography(hits: Sequence[Citable]) -> str:
    """Entries for `hits` in order, each key unique (a, b, ... appended when repeated)."""
    used: set[str] = set()
    entries = []
    for hit in hits:
        base = hit.bibtex_key or generated_key(hit)
        # A stored key may hold characters a key cannot: keep it readable and valid.
        base = re.sub(r"[\s,{}()\"#%'=\\]", "", base) or generated_key(hit)
        key, n = base, 0
        while key in used:
            key = base + chr(ord("a") + n % 26) + ("" if n < 26 else str(n // 26))
            n += 1
        used.add(key)
        entries.append(entry(hit, key))
    return "\n\n".join(entries) + ("\n" if entries else "")
