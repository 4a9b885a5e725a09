"""The values that flow through the pipeline, in one place.

Readers turn files into `Paper`s and report `Problem`s in a `LoadReport`; the
index stores papers as chunks; retrieval returns `PaperHit`s; answering gives an
`Answer` citing `Source`s.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace


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


@dataclass
class LoadReport:
    """What reading produced besides papers: counts and problems."""

    entries: int = 0
    files: int = 0
    problems: list[Problem] = field(default_factory=list)
    # Entries read but left out by a category filter (not counted in `entries`).
    filtered: int = 0
