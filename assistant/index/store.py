"""The persistent Chroma collection of chunks, and its fingerprint.

The collection's metadata records how its vectors were made (embedder and
chunking); opening it with other settings is refused, because mixing vectors
from two models silently ruins retrieval.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.disk import disk_full, out_of_space
from assistant.domain import Paper
from assistant.errors import StoreError
from assistant.index.chroma_files import has_store, tidy_after_drop
from assistant.index.lexical import lexical_file
from assistant.index.locking import store_access
from assistant.index.rebuild import RebuildFiles
from assistant.index.records import as_tuple, paper_from_record
from assistant.index.sharing import (
    REBUILD_HINT,
    SharedClient,
    SharedCollection,
    discard_damage,
    refuse_damage,
    shared_client,
)

if TYPE_CHECKING:
    import numpy as np

SCHEMA_VERSION = 1
# Chroma rejects very large writes; stay well under its limit.
_WRITE_BATCH = 1000


@dataclass(frozen=True)
class Fingerprint:
    """How the vectors in a collection were made."""

    embedder: str
    chunking: str

    def as_metadata(self) -> dict[str, str | int]:
        return {"embedder": self.embedder, "chunking": self.chunking, "schema": SCHEMA_VERSION}


@dataclass(frozen=True)
class StoredPaper:
    """What the store remembers of a paper, to decide whether to re-ingest it."""

    paper_id: str
    content_hash: str
    source_files: tuple[str, ...]
    dates: tuple[str, ...]
    chunks: int


@dataclass(frozen=True)
class ChunkHit:
    paper_id: str
    chunk_id: str
    similarity: float
    text: str
    metadata: Mapping[str, Any]


def create_collection(client: Any, name: str, fingerprint: Fingerprint) -> Any:
    """A new collection, local or on a server: cosine HNSW, stamped with how its
    vectors are made, and no embedding function (we embed ourselves)."""
    return client.create_collection(
        name,
        metadata=fingerprint.as_metadata(),
        configuration={"hnsw": {"space": "cosine"}},
        embedding_function=None,
    )


def chunk_id(paper_id: str, index: int) -> str:
    return f"{paper_id}#{index}"


class Store:
    """A Chroma collection of chunk vectors, opened against a fingerprint."""

    def __init__(self, path: Path, name: str, collection: Any, client: Any) -> None:
        self.path = path
        self.name = name
        self._collection = collection
        self._client = client
        # Set while this store is a rebuild's staging collection.
        self.rebuild: RebuildFiles | None = None

    @classmethod
    def open(
        cls,
        path: Path,
        name: str,
        fingerprint: Fingerprint,
        *,
        create: bool = False,
        rebuild: RebuildFiles | None = None,
    ) -> Store:
        """Open (or create) the collection; refuse one made with other settings.

        Any swap a crash interrupted is finished first. With `rebuild`, the store
        opened is a new, empty staging collection beside the one in use (see
        `index.rebuild`); `commit` swaps it in, `abandon` drops it.

        Raises:
            StoreError: no index yet (and not `create`), or a fingerprint mismatch.
        """
        if not create and not has_store(path):
            raise StoreError(
                f"No index found at {path}.",
                hint="Build it with: assistant ingest  (the bundled abstracts) "
                "or assistant ingest PATH...",
            )
        with store_access(path):
            if rebuild is not None:
                discard_damage(path, name)
            else:
                refuse_damage(path, name)
            shared = shared_client(path)
            try:
                collection, client = cls._open_collection(
                    shared, path, name, fingerprint, create=create, rebuild=rebuild
                )
            finally:
                shared.settle(wrote=True)
        opened = rebuild.staging_name if rebuild else name
        store = cls(path, opened, SharedCollection(shared, opened, collection), client)
        store.rebuild = rebuild
        store._check(fingerprint)
        return store

    @classmethod
    def _open_collection(
        cls,
        shared: SharedClient,
        path: Path,
        name: str,
        fingerprint: Fingerprint,
        *,
        create: bool,
        rebuild: RebuildFiles | None,
    ) -> tuple[Any, Any]:
        from assistant.index.rebuild import discard_staging, finish_swap

        try:
            client = shared.current()
            files = rebuild or RebuildFiles(name, lexical_file(path, name))
            if finish_swap(client, files):
                tidy_after_drop(path)
            # Opening to write means holding the ingest lock: no rebuild is running,
            # so a staging collection is what a killed one left. Tidied every
            # time: a drop whose tidying failed (a full disk) left files too.
            if create:
                discard_staging(client, files)
                tidy_after_drop(path)
            if rebuild is not None:
                name = rebuild.staging_name
            existing = {c.name for c in client.list_collections()}
            if name not in existing:
                if not create:
                    raise StoreError(
                        f"The index at {path} has no collection {name!r}.",
                        hint="Build it with: assistant ingest",
                    )
                collection = create_collection(client, name, fingerprint)
            else:
                collection = client.get_collection(name, embedding_function=None)
        except StoreError:
            raise
        except Exception as exc:  # chromadb raises many types for a damaged store
            if out_of_space(exc, path):
                raise disk_full(path) from exc
            raise StoreError(f"Cannot open the index at {path}: {exc}", hint=REBUILD_HINT) from exc
        return collection, client

    def commit(self) -> None:
        """Put this rebuilt (staging) collection and its BM25 file in place of the old."""
        from assistant.index.rebuild import swap_in

        assert self.rebuild is not None
        name = self.rebuild.name
        with store_access(self.path):
            shared = shared_client(self.path)
            try:
                client = shared.current()
                if swap_in(client, self.rebuild):
                    tidy_after_drop(self.path)
                collection = client.get_collection(name, embedding_function=None)
            finally:
                shared.settle(wrote=True)
        self.name, self.rebuild = name, None
        self._collection = SharedCollection(shared, name, collection)

    def abandon(self) -> None:
        """Drop this unfinished rebuild's staging collection and BM25 file."""
        from assistant.index.rebuild import discard_staging

        assert self.rebuild is not None
        try:
            with store_access(self.path):
                shared = shared_client(self.path)
                try:
                    if discard_staging(shared.current(), self.rebuild):
                        tidy_after_drop(self.path)
                finally:
                    shared.settle(wrote=True)
        except Exception:
            # Best effort, often while another error is on its way to the user
            # (disk full, Ctrl-C): the next ingest removes what is left.
            pass

    @property
    def location(self) -> str:
        """Where the vectors live, for messages (a server store gives its URL)."""
        return str(self.path)

    def _check(self, expected: Fingerprint) -> None:
        meta = self._collection.metadata or {}
        found = Fingerprint(str(meta.get("embedder", "?")), str(meta.get("chunking", "?")))
        if meta.get("schema") != SCHEMA_VERSION or found != expected:
            differences = [
                f"{label}: index has {a!r}, settings ask for {b!r}"
                for label, a, b in (
                    ("embedder", found.embedder, expected.embedder),
                    ("chunking", found.chunking, expected.chunking),
                    ("schema", meta.get("schema"), SCHEMA_VERSION),
                )
                if a != b
            ]
            raise StoreError(
                f"The index at {self.location} was built with other settings ("
                + "; ".join(differences)
                + ").",
                hint=REBUILD_HINT,
            )

    # Reading ---------------------------------------------------------------

    def chunk_count(self) -> int:
        return int(self._collection.count())

    def paper_count(self) -> int:
        return len(self._collection.get(where={"chunk_index": 0}, include=[])["ids"])

    def stored_papers(self, paper_ids: Sequence[str]) -> dict[str, StoredPaper]:
        found: dict[str, StoredPaper] = {}
        for start in range(0, len(paper_ids), _WRITE_BATCH):
            batch = [chunk_id(p, 0) for p in paper_ids[start : start + _WRITE_BATCH]]
            got = self._collection.get(ids=batch, include=["metadatas"])
            for meta in got["metadatas"] or []:
                pid = str(meta["paper_id"])
                found[pid] = StoredPaper(
                    pid,
                    str(meta["content_hash"]),
                    as_tuple(meta.get("source_files")),
                    as_tuple(meta.get("dates")),
                    int(meta["n_chunks"]),
                )
        return found

    def query(
        self, embedding: Sequence[float], n: int, where: Mapping[str, Any] | None = None
    ) -> list[ChunkHit]:
        total = self.chunk_count()
        if total == 0:
            return []
        result = self._collection.query(
            query_embeddings=[list(embedding)],
            n_results=min(n, total),
            where=dict(where) if where else None,
            include=["documents", "metadatas", "distances"],
        )
        hits: list[ChunkHit] = []
        for cid, doc, meta, dist in zip(
            result["ids"][0],
            result["documents"][0],
            result["metadatas"][0],
            result["distances"][0],
            strict=True,
        ):
            hits.append(ChunkHit(str(meta["paper_id"]), cid, 1.0 - float(dist), doc or "", meta))
        return hits

    def paper_records(self, paper_ids: Sequence[str]) -> dict[str, Mapping[str, Any]]:
        """Metadata of each paper's first chunk, which also holds the full abstract."""
        if not paper_ids:
            return {}
        got = self._collection.get(ids=[chunk_id(p, 0) for p in paper_ids], include=["metadatas"])
        return {str(m["paper_id"]): m for m in got["metadatas"] or []}

    def paper(self, paper_id: str) -> Paper | None:
        """The stored paper with this id, or None."""
        record = self.paper_records([paper_id]).get(paper_id)
        return paper_from_record(record) if record else None

    def tally(self, keys: Sequence[str]) -> tuple[int, dict[str, Counter[str]]]:
        """The number of papers and, for each list-valued metadata key (source_files),
        how many papers carry each of its values: one pass over the papers."""
        papers = 0
        counts: dict[str, Counter[str]] = {key: Counter() for key in keys}
        for meta in self.iter_paper_records():
            papers += 1
            for key in keys:
                counts[key].update(set(as_tuple(meta.get(key))))
        return papers, counts

    def iter_paper_records(self, batch: int = 1000) -> Iterator[Mapping[str, Any]]:
        offset = 0
        while True:
            got = self._collection.get(
                where={"chunk_index": 0}, include=["metadatas"], limit=batch, offset=offset
            )
            metas = got["metadatas"] or []
            yield from metas
            if len(metas) < batch:
                return
            offset += batch

    def count_papers(self, where: Mapping[str, Any]) -> int:
        """How many papers' first chunks match a Chroma `where`."""
        clause = {"$and": [{"chunk_index": 0}, dict(where)]}
        return len(self._collection.get(where=clause, include=[])["ids"])

    # Writing ---------------------------------------------------------------

    def add_chunks(
        self,
        ids: Sequence[str],
        embeddings: np.ndarray,
        documents: Sequence[str],
        metadatas: Sequence[Mapping[str, Any]],
    ) -> None:
        for start in range(0, len(ids), _WRITE_BATCH):
            end = start + _WRITE_BATCH
            self._collection.upsert(
                ids=list(ids[start:end]),
                embeddings=embeddings[start:end],
                documents=list(documents[start:end]),
                metadatas=[dict(m) for m in metadatas[start:end]],
            )

    def papers_from(self, source_file: str) -> list[str]:
        """The ids of the stored papers read from a file of this name."""
        clause = {"$and": [{"chunk_index": 0}, {"source_files": {"$contains": source_file}}]}
        ids = self._collection.get(where=clause, include=[])["ids"]
        return [chunk.rsplit("#", 1)[0] for chunk in ids]

    def delete_papers(self, paper_ids: Sequence[str]) -> None:
        for start in range(0, len(paper_ids), _WRITE_BATCH):
            batch = list(paper_ids[start : start + _WRITE_BATCH])
            self._collection.delete(where={"paper_id": {"$in": batch}})

    def update_sources(self, updates: Mapping[str, StoredPaper]) -> None:
        """Record more source files and dates for papers that are otherwise unchanged."""
        for paper in updates.values():
            ids = [chunk_id(paper.paper_id, i) for i in range(paper.chunks)]
            got = self._collection.get(ids=ids, include=["metadatas"])
            metas = []
            for meta in got["metadatas"] or []:
                meta = dict(meta)
                meta["source_files"] = list(paper.source_files)
                if paper.dates:
                    meta["dates"] = list(paper.dates)
                metas.append(meta)
            self._collection.update(ids=got["ids"], metadatas=metas)
