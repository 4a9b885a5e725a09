"""Identifiers that sources give papers: DOIs and arXiv ids, normalised.

A paper's id must not change when its source is updated, so that a new version
replaces the stored one: arXiv ids are kept without their version suffix (the
version is metadata), and DOIs are case-folded, as DOIs are case-insensitive.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

# New-style ids (0704.0001 onwards: YYMM.NNNN or YYMM.NNNNN) and old-style ids
# (archive[.SUBJECT]/YYMMNNN, before April 2007), each with an optional version.
_NEW_ARXIV = r"(?P<new>\d{4}\.\d{4,5})"
_OLD_ARXIV = r"(?P<old>[a-z][a-z-]*(?:\.[A-Z]{2})?/\d{7})"
_VERSION = r"(?P<version>v\d+)?"
_ARXIV_ID = re.compile(rf"(?:{_NEW_ARXIV}|{_OLD_ARXIV}){_VERSION}")
_ARXIV_PREFIX = re.compile(r"^(?:arxiv:|https?://(?:www\.)?arxiv\.org/(?:abs|pdf)/)", re.IGNORECASE)
# "arXiv:2101.00001" or an arxiv.org link inside free text (a journal or note field).
_ARXIV_IN_TEXT = re.compile(
    rf"(?:arxiv:\s*|arxiv\.org/(?:abs|pdf)/)(?:{_NEW_ARXIV}|{_OLD_ARXIV}){_VERSION}",
    re.IGNORECASE,
)

_DOI_PREFIX = re.compile(r"^(?:doi:\s*|https?://(?:dx\.)?doi\.org/)", re.IGNORECASE)
_DOI = re.compile(r"^10\.\d{4,9}/\S+$")
# arXiv registers a DOI for every paper (10.48550/arXiv.<id>); it names the arXiv id.
_ARXIV_DOI = re.compile(r"^10\.48550/arxiv\.(.+)$")


@dataclass(frozen=True)
class ArxivId:
    """An arXiv id split into the stable part and the version, e.g. 2101.00001 and v2."""

    base: str
    version: str | None = None

    @property
    def year(self) -> int | None:
        """Year of first submission, which the id encodes as YYMM."""
        digits = self.base.split("/")[-1][:2]
        if not digits.isdigit():
            return None
        yy = int(digits)
        # arXiv started in 1991; two-digit years from 91 are the 1990s.
        return 1900 + yy if yy >= 91 else 2000 + yy


def _arxiv_from_match(match: re.Match[str]) -> ArxivId:
    return ArxivId(match.group("new") or match.group("old"), match.group("version"))


def parse_arxiv_id(text: str) -> ArxivId | None:
    """The arXiv id that `text` is (with or without `arXiv:` or an arxiv.org link), or None."""
    candidate = _ARXIV_PREFIX.sub("", text.strip())
    match = _ARXIV_ID.fullmatch(candidate)
    return _arxiv_from_match(match) if match else None


def find_arxiv_id(text: str) -> ArxivId | None:
    """An arXiv id cited in free text such as "arXiv preprint arXiv:2101.00001", or None."""
    match = _ARXIV_IN_TEXT.search(text)
    return _arxiv_from_match(match) if match else None


def normalize_doi(text: str) -> str | None:
    """The DOI in `text` (bare, `doi:` or a doi.org link), case-folded; None if it is not one."""
    candidate = _DOI_PREFIX.sub("", text.strip()).casefold()
    return candidate if _DOI.match(candidate) else None


def arxiv_id_of_doi(doi: str) -> ArxivId | None:
    """The arXiv id behind an arXiv DOI (10.48550/arXiv.2101.00001), or None."""
    match = _ARXIV_DOI.match(doi.casefold())
    return parse_arxiv_id(match.group(1)) if match else None


_WS = re.compile(r"\s+")


def normalize_title(title: str) -> str:
    return _WS.sub(" ", title).strip().casefold()


def title_id(title: str) -> str:
    """Stable id for a paper known only by its title."""
    return "t:" + hashlib.sha1(normalize_title(title).encode("utf-8")).hexdigest()[:16]
