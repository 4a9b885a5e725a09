"""Filters on paper metadata (year, author, category, source file, Zotero collection and
tag) for search and ask.

A `Filters` value is parsed from the command line and translated twice: into a
Chroma `where` on chunk metadata, and into SQL over the lexical index's facet
table, so that dense and BM25 retrieval see the same papers. Within one kind
of filter any value may match (`--category cs.LG --category stat`); different
kinds must all match. An author filter matches when every word of it is a word
of one of the paper's author names, ignoring case and accents (`--author hinton`,
`--author "geoffrey hinton"`). A collection or tag filter matches a whole name,
ignoring case; a paper's collection names include its collections' parents, so
`--collection ML` finds what is filed in ML's subcollections.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

from assistant.errors import UsageError

if TYPE_CHECKING:
    from assistant.index.store import Store

# Written on every chunk by an ingest that knows the filter keys; an index
# built before them lacks it (and `author_keys`, `category_keys`).
FILTER_KEYS = "filter_keys"
FILTER_KEYS_VERSION = 1
AUTHOR_KEYS = "author_keys"
CATEGORY_KEYS = "category_keys"
COLLECTION_KEYS = "collection_keys"
TAG_KEYS = "tag_keys"
SOURCE_FILES = "source_files"
YEAR = "year"
# The lexical index's side table: one row per (paper, kind, value).
FACET_TABLE = "facets"

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_YEAR_RANGE = re.compile(r"^\s*(\d{4})?\s*(\.\.)?\s*(\d{4})?\s*$")
_CATEGORY = re.compile(r"^[\w-]+(?:\.[\w-]+)*$")
YEAR_SYNTAX = "--year 2023, 2023..2024, 2023.. or ..2024"


def name_words(text: str) -> list[str]:
    """Lower-case, accent-free words of a name: "Jürgen Schmidhuber" -> jurgen, schmidhuber."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _WORD.findall(plain)


def author_keys(authors: Iterable[str]) -> list[str]:
    """Every distinct word of every author's name, as author filters match them."""
    return list(dict.fromkeys(w for name in authors for w in name_words(name)))


def category_keys(categories: Iterable[str]) -> list[str]:
    """Each category lower-cased, with every dotted prefix: cs.LG -> cs, cs.lg."""
    keys: dict[str, None] = {}
    for category in categories:
        parts = category.strip().casefold().split(".")
        for end in range(1, len(parts) + 1):
            if parts[end - 1]:
                keys.setdefault(".".join(parts[:end]), None)
    return list(keys)


def name_key(name: str) -> str:
    """A collection or tag name as filters compare it: case-folded, spaces collapsed."""
    return " ".join(unicodedata.normalize("NFC", name).casefold().split())


def name_keys(names: Iterable[str]) -> list[str]:
    return [k for k in dict.fromkeys(map(name_key, names)) if k]


def filter_metadata(
    authors: Sequence[str],
    categories: Sequence[str],
    collections: Sequence[str] = (),
    tags: Sequence[str] = (),
) -> dict[str, Any]:
    """The chunk metadata filters need besides year and source_files (no empty lists:
    Chroma refuses them)."""
    meta: dict[str, Any] = {FILTER_KEYS: FILTER_KEYS_VERSION}
    keys = {
        AUTHOR_KEYS: author_keys(authors),
        CATEGORY_KEYS: category_keys(categories),
        COLLECTION_KEYS: name_keys(collections),
        TAG_KEYS: name_keys(tags),
    }
    meta.update({kind: values for kind, values in keys.items() if values})
    return meta


def facet_rows(
    year: int | None,
    authors: Sequence[str],
    categories: Sequence[str],
    source_files: Sequence[str],
    collections: Sequence[str] = (),
    tags: Sequence[str] = (),
) -> list[tuple[str, str | int]]:
    """(kind, value) rows for the lexical index's facet table, one paper's worth."""
    rows: list[tuple[str, str | int]] = [(YEAR, year)] if year is not None else []
    rows += [(AUTHOR_KEYS, k) for k in author_keys(authors)]
    rows += [(CATEGORY_KEYS, k) for k in category_keys(categories)]
    rows += [(SOURCE_FILES, f) for f in dict.fromkeys(source_files)]
    rows += [(COLLECTION_KEYS, k) for k in name_keys(collections)]
    rows += [(TAG_KEYS, k) for k in name_keys(tags)]
    return rows


def parse_year(text: str) -> tuple[int | None, int | None]:
    """`2023` -> (2023, 2023); `2023..2024`; `2023..` and `..2024` are open-ended.

    Raises:
        UsageError: anything else, or a range that ends before it starts.
    """
    match = _YEAR_RANGE.match(text)
    if not match or not (match.group(1) or match.group(3)):
        raise UsageError(f"Invalid --year {text!r}.", hint=f"Use {YEAR_SYNTAX}.")
    start = int(match.group(1)) if match.group(1) else None
    end = int(match.group(3)) if match.group(3) else None
    if not match.group(2):
        if start is None or end is not None:
            raise UsageError(f"Invalid --year {text!r}.", hint=f"Use {YEAR_SYNTAX}.")
        return start, start
    if start is not None and end is not None and start > end:
        raise UsageError(
            f"Invalid --year {text!r}: the range ends before it starts.",
            hint=f"Write the earlier year first: --year {end}..{start}.",
        )
    return start, end


def _all_of(clauses: list[dict[str, Any]]) -> dict[str, Any]:
    # Chroma refuses an $and or $or of fewer than two clauses.
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def _any_of(clauses: list[dict[str, Any]]) -> dict[str, Any]:
    return clauses[0] if len(clauses) == 1 else {"$or": clauses}


@dataclass(frozen=True)
class Filters:
    """Which papers a search may return; the empty value lets every paper through."""

    year_from: int | None = None
    year_to: int | None = None
    # One entry per --author: the words all of which must be author-name words.
    authors: tuple[tuple[str, ...], ...] = ()
    categories: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    # Name keys (`name_key`) of Zotero collections and tags.
    collections: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()

    @classmethod
    def parse(
        cls,
        year: str | None = None,
        authors: Sequence[str] = (),
        categories: Sequence[str] = (),
        sources: Sequence[str] = (),
        collections: Sequence[str] = (),
        tags: Sequence[str] = (),
    ) -> Filters:
        """Filters from command-line strings.

        Raises:
            UsageError: a malformed year, or an author, category, source, collection
                or tag with no text.
        """
        year_from, year_to = parse_year(year) if year is not None else (None, None)
        parsed_authors = []
        for author in authors:
            words = tuple(name_words(author))
            if not words:
                raise UsageError(
                    f"Invalid --author {author!r}: it has no letters.",
                    hint='Give a name or part of one, e.g. --author hinton or --author "G Hinton".',
                )
            parsed_authors.append(words)
        parsed_categories = []
        for category in categories:
            key = category.strip().casefold().removesuffix(".*")
            if not _CATEGORY.match(key):
                raise UsageError(
                    f"Invalid --category {category!r}.",
                    hint="Use an arXiv category such as cs.LG, or a group such as cs.",
                )
            parsed_categories.append(key)
        parsed_sources = []
        for source in sources:
            # A path works too: the index knows files by name.
            name = PurePath(source.strip()).name
            if not name:
                raise UsageError(
                    f"Invalid --source {source!r}.",
                    hint="Give a file name as ingested, e.g. --source refs.bib.",
                )
            parsed_sources.append(name)
        return cls(
            year_from,
            year_to,
            tuple(dict.fromkeys(parsed_authors)),
            tuple(dict.fromkeys(parsed_categories)),
            tuple(dict.fromkeys(parsed_sources)),
            _names("--collection", collections, '--collection "Reading list"'),
            _names("--tag", tags, "--tag review"),
        )

    def __bool__(self) -> bool:
        return bool(
            self.year_from is not None
            or self.year_to is not None
            or self.authors
            or self.categories
            or self.sources
            or self.collections
            or self.tags
        )

    @property
    def needs_filter_keys(self) -> bool:
        """Whether these filters use metadata that older indexes do not have."""
        return bool(self.authors or self.categories)

    def describe(self) -> str:
        """The filters as the user would write them, for messages."""
        parts: list[str] = []
        if self.year_from is not None or self.year_to is not None:
            if self.year_from == self.year_to:
                parts.append(f"--year {self.year_from}")
            else:
                start = self.year_from if self.year_from is not None else ""
                end = self.year_to if self.year_to is not None else ""
                parts.append(f"--year {start}..{end}")
        parts += [f"--author {_quoted(' '.join(words))}" for words in self.authors]
        parts += [f"--category {c}" for c in self.categories]
        parts += [f"--source {_quoted(s)}" for s in self.sources]
        parts += [f"--collection {_quoted(c)}" for c in self.collections]
        parts += [f"--tag {_quoted(t)}" for t in self.tags]
        return " ".join(parts)

    def _groups(self) -> list[list[list[tuple[str, str]]]]:
        """Each kind of filter: alternatives (any may match), each a list of (key, value)
        terms that must all match."""
        groups: list[list[list[tuple[str, str]]]] = []
        if self.authors:
            groups.append([[(AUTHOR_KEYS, w) for w in words] for words in self.authors])
        if self.categories:
            groups.append([[(CATEGORY_KEYS, c)] for c in self.categories])
        if self.sources:
            groups.append([[(SOURCE_FILES, s)] for s in self.sources])
        if self.collections:
            groups.append([[(COLLECTION_KEYS, c)] for c in self.collections])
        if self.tags:
            groups.append([[(TAG_KEYS, t)] for t in self.tags])
        return groups

    def where(self) -> dict[str, Any] | None:
        """The filters as a Chroma `where` on chunk metadata; None when there are none."""
        clauses: list[dict[str, Any]] = []
        if self.year_from is not None:
            clauses.append({YEAR: {"$gte": self.year_from}})
        if self.year_to is not None:
            clauses.append({YEAR: {"$lte": self.year_to}})
        for group in self._groups():
            clauses.append(
                _any_of([_all_of([{k: {"$contains": v}} for k, v in alt]) for alt in group])
            )
        return _all_of(clauses) if clauses else None

    def sql(self, column: str = "paper_id") -> tuple[str, list[str | int]]:
        """A SQL condition on `column` (a paper id) over the facet table, and its parameters.

        "1" with no parameters when there are no filters.
        """
        select = f"{column} IN (SELECT paper_id FROM {FACET_TABLE} WHERE kind = ? AND "
        clauses: list[str] = []
        params: list[str | int] = []
        if self.year_from is not None or self.year_to is not None:
            low = self.year_from if self.year_from is not None else -(10**9)
            high = self.year_to if self.year_to is not None else 10**9
            clauses.append(select + "value BETWEEN ? AND ?)")
            params += [YEAR, low, high]
        for group in self._groups():
            alternatives = []
            for alt in group:
                alternatives.append("(" + " AND ".join(select + "value = ?)" for _ in alt) + ")")
                for key, value in alt:
                    params += [key, value]
            clauses.append("(" + " OR ".join(alternatives) + ")")
        return (" AND ".join(clauses) if clauses else "1"), params


def _names(option: str, names: Sequence[str], example: str) -> tuple[str, ...]:
    keys = []
    for name in names:
        key = name_key(name)
        if not key:
            raise UsageError(
                f"Invalid {option} {name!r}: it is empty.",
                hint=f"Give a name as Zotero shows it, e.g. {example}.",
            )
        keys.append(key)
    return tuple(dict.fromkeys(keys))


def _quoted(text: str) -> str:
    return f'"{text}"' if " " in text else text


NO_FILTERS = Filters()


def stale_warning(store: Store, filters: Filters) -> str | None:
    """A warning when the index has papers these filters can never match, because
    they were ingested before the filter keys existed; else None."""
    if not filters.needs_filter_keys:
        return None
    total = store.paper_count()
    stale = total - store.count_papers({FILTER_KEYS: {"$gte": FILTER_KEYS_VERSION}})
    if stale <= 0:
        return None
    return (
        f"{stale:,} of {total:,} papers in the index were ingested before --author and "
        "--category filters existed, and never match them. "
        "Rebuild the index to include them: assistant ingest --rebuild"
    )
