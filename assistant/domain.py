"""The values that flow through the pipeline, in one place.

Readers turn files into `Paper`s and report `Problem`s in a `LoadReport`; the
index stores papers as chunks; retrieval returns `PaperHit`s; answering gives an
`Answer` citing `Source`s.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from assistant.answering.abstention import Assessment

Abstention = Literal["retrieval", "model"]

# What the assistant answers when the abstracts do not answer the question; the
# prompts ask the model for the same words ({decline} in prompts/).
DECLINE = "The abstracts do not say."


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
    url: str | None = None
    # Where a reference manager files it (Zotero): the names of the collections
    # holding it and of their parent collections, and its tags.
    collections: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()

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
        if self.url or self.collections or self.tags:
            # Likewise: filed elsewhere, the paper must be stored again, or its filters go stale.
            filed = [self.url or "", "|", *self.collections, "|", *self.tags]
            blob += "\x1f||\x1f" + "\x1f".join(filed)
        return hashlib.sha1(blob.encode("utf-8")).hexdigest()

    def as_json(self) -> dict[str, Any]:
        """Everything known of the paper, as stored."""
        return {
            "paper_id": self.paper_id,
            "title": self.title,
            "authors": list(self.authors),
            "year": self.year,
            "venue": self.venue,
            "doi": self.doi,
            "url": self.url,
            "external_id": self.external_id,
            "version": self.version,
            "bibtex_key": self.bibtex_key,
            "categories": list(self.categories),
            "collections": list(self.collections),
            "tags": list(self.tags),
            "source_files": list(self.source_files),
            "dates": list(self.dates),
            "abstract": self.abstract,
        }

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
    # A library read to its end (Zotero's database): its file name, and the ids of
    # every paper in it. A stored paper from that file whose id is not among them
    # was trashed or deleted there, and ingest removes it.
    whole: dict[str, set[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class PaperHit:
    """A retrieved paper and why: its best-matching chunk and that chunk's similarity."""

    paper_id: str
    title: str
    score: float
    abstract: str
    source_files: tuple[str, ...]
    dates: tuple[str, ...]
    external_id: str | None
    authors: tuple[str, ...]
    best_chunk: str
    # The signals behind `score`: cosine similarity of the best chunk (None if
    # the paper was not among the dense candidates) and BM25 (None if no term matched).
    dense: float | None = None
    lexical: float | None = None
    # Bibliographic metadata, when the source gave it (for Sources and BibTeX).
    year: int | None = None
    venue: str | None = None
    doi: str | None = None
    bibtex_key: str | None = None
    categories: tuple[str, ...] = ()
    # Kept on the record but not in `as_json`, whose schema scripts rely on.
    url: str | None = None
    collections: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {
            "paper_id": self.paper_id,
            "title": self.title,
            "score": round(self.score, 4),
            "dense": None if self.dense is None else round(self.dense, 4),
            "lexical": None if self.lexical is None else round(self.lexical, 4),
            "source_files": list(self.source_files),
            "dates": list(self.dates),
            "external_id": self.external_id,
            "authors": list(self.authors),
            "year": self.year,
            "venue": self.venue,
            "doi": self.doi,
            "bibtex_key": self.bibtex_key,
            "categories": list(self.categories),
            "abstract": self.abstract,
        }


@dataclass(frozen=True)
class IndexContents:
    """What an index holds: where it is, its collection, and its papers per source file,
    Zotero collection and Zotero tag."""

    location: str
    collection: str
    papers: int
    chunks: int
    # (file name, papers read from it), most papers first; a paper read from
    # several files counts in each.
    source_files: tuple[tuple[str, int], ...]
    # The same for Zotero collections (a paper also counts in those above its
    # own) and tags; empty when nothing came from Zotero.
    zotero_collections: tuple[tuple[str, int], ...] = ()
    zotero_tags: tuple[tuple[str, int], ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {
            "location": self.location,
            "collection": self.collection,
            "papers": self.papers,
            "chunks": self.chunks,
            "source_files": [{"name": n, "papers": c} for n, c in self.source_files],
            "zotero_collections": [{"name": n, "papers": c} for n, c in self.zotero_collections],
            "zotero_tags": [{"name": n, "papers": c} for n, c in self.zotero_tags],
        }


# How a sentence of an answer stands against the abstracts (answering.verify).
Outcome = Literal["supported", "corrected", "unsupported", "not checked"]
# What is shown after a sentence the check flagged or whose citation it changed.
UNSUPPORTED_MARK = "[unsupported]"
CORRECTED_MARK = "[citation corrected]"
ADDED_MARK = "[citation added]"


@dataclass(frozen=True)
class Quote:
    """An abstract sentence backing a sentence of the answer; `number` is its source's."""

    number: int
    sentence: str

    def as_json(self) -> dict[str, Any]:
        return {"number": self.number, "sentence": self.sentence}


@dataclass(frozen=True)
class CheckedSentence:
    text: str  # as shown, a corrected citation already in place, without its mark
    citations: tuple[int, ...]  # source numbers, after correction
    verdict: Outcome
    score: float | None
    evidence: tuple[Quote, ...]
    reason: str
    cited_before: tuple[int, ...] = ()  # the model's own citations, when corrected

    def as_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "citations": list(self.citations),
            "verdict": self.verdict,
            "score": None if self.score is None else round(self.score, 4),
            "evidence": [q.as_json() for q in self.evidence],
            "reason": self.reason,
            "cited_before": list(self.cited_before),
        }

    def mark(self) -> str:
        """What the terminal shows after the sentence."""
        if self.verdict == "unsupported":
            return " " + UNSUPPORTED_MARK
        if self.verdict == "corrected":
            return " " + (CORRECTED_MARK if self.cited_before else ADDED_MARK)
        return ""


@dataclass(frozen=True)
class Source:
    number: int
    hit: PaperHit
    # Abstract sentences backing what the answer said with this citation.
    evidence: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {"number": self.number, **self.hit.as_json(), "evidence": list(self.evidence)}


@dataclass
class Answer:
    question: str
    search_query: str
    backend: str
    model: str
    text: str = ""
    abstention: Abstention | None = None
    abstention_detail: str | None = None
    sources: list[Source] = field(default_factory=list)
    retrieved: list[PaperHit] = field(default_factory=list)
    dropped_citations: list[int] = field(default_factory=list)
    # Sentences kept from the model because they read as instructions, by abstract number.
    withheld: dict[int, tuple[str, ...]] = field(default_factory=dict)
    incomplete: bool = False
    interrupted: bool = False
    error: str | None = None
    error_hint: str | None = None
    assessment: Assessment | None = None
    # Each sentence of the text with its verdict (empty when not checked).
    sentences: list[CheckedSentence] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def answered(self) -> bool:
        return self.abstention is None

    def as_json(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "search_query": self.search_query,
            "answer": self.text,
            "answered": self.answered,
            "abstention": self.abstention,
            "abstention_detail": self.abstention_detail,
            "backend": self.backend,
            "model": self.model,
            "sources": [s.as_json() for s in self.sources],
            "retrieved": [h.as_json() for h in self.retrieved],
            "dropped_citations": self.dropped_citations,
            "withheld": [
                {"number": n, "paper_id": self.retrieved[n - 1].paper_id, "sentences": list(s)}
                for n, s in sorted(self.withheld.items())
            ],
            "support": self.assessment.as_json() if self.assessment else None,
            "sentences": [s.as_json() for s in self.sentences],
            "incomplete": self.incomplete,
            "error": self.error,
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
        }
