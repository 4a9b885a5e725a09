"""The persistent Chroma collection of chunks, and its fingerprint.

The collection's metadata records how its vectors were made (embedder and
chunking); opening it with other settings is refused, because mixing vectors
from two models silently ruins retrieval.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.errors import StoreError
from assistant.integrity import CHROMA_DB, store_damage
from assistant.locking import store_access
from assistant.offline import enforce_offline

if TYPE_CHECKING:
    import numpy as np

SCHEMA_VERSION = 1
REBUILD_HINT = "Rebuild it with: assistant ingest --rebuild"
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


def chunk_id(paper_id: str, index: int) -> str:
    return f"{paper_id}#{index}"


def _as_tuple(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


class Store:
    """A Chroma collection of chunk vectors, opened against a fingerprint."""

    def __init__(self, path: Path, name: str, collection: Any, client: Any) -> None:
        self.path = path
        self.name = name
        self._collection = collection
        self._client = client

    @staticmethod
    def _client_for(path: Path) -> Any:
        enforce_offline()
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        path.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(
            path=str(path),
            settings=ChromaSettings(anonymized_telemetry=False, allow_reset=False),
        )

    @classmethod
    def open(
        cls,
        path: Path,
        name: str,
        fingerprint: Fingerprint,
        *,
        create: bool = False,
        rebuild: bool = False,
    ) -> Store:
        """Open (or create) the collection; refuse one made with other settings.

        Raises:
            StoreError: no index yet (and not `create`), or a fingerprint mismatch.
        """
        if not create and not (path / "chroma.sqlite3").exists():
            raise StoreError(
                f"No index found at {path}.",
                hint="Build it with: assistant ingest  (the bundled abstracts) "
                "or assistant ingest PATH...",
            )
        with store_access(path):
            if rebuild:
                _discard_damage(path, name)
            else:
                _refuse_damage(path, name)
            shared = _shared(path)
            try:
                collection, client = cls._open_collection(
                    shared, path, name, fingerprint, create=create, rebuild=rebuild
                )
            finally:
                shared.settle(wrote=True)
        store = cls(path, name, _SharedCollection(shared, name, collection), client)
        store._check(fingerprint)
        return store

    @classmethod
    def _open_collection(
        cls,
        shared: _Shared,
        path: Path,
        name: str,
        fingerprint: Fingerprint,
        *,
        create: bool,
        rebuild: bool,
    ) -> tuple[Any, Any]:
        try:
            client = shared.current()
            existing = {c.name for c in client.list_collections()}
            if rebuild and name in existing:
                client.delete_collection(name)
                existing.discard(name)
            if name not in existing:
                if not create:
                    raise StoreError(
                        f"The index at {path} has no collection {name!r}.",
                        hint="Build it with: assistant ingest",
                    )
                collection = client.create_collection(
                    name,
                    metadata=fingerprint.as_metadata(),
                    configuration={"hnsw": {"space": "cosine"}},
                    embedding_function=None,
                )
            else:
                collection = client.get_collection(name, embedding_function=None)
        except StoreError:
            raise
        except Exception as exc:  # chromadb raises many types for a damaged store
            raise StoreError(f"Cannot open the index at {path}: {exc}", hint=REBUILD_HINT) from exc
        return collection, client

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
                    _as_tuple(meta.get("source_files")),
                    _as_tuple(meta.get("dates")),
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


# Sharing the store between processes -------------------------------------------
#
# Chroma's local store assumes one process: every process caches the HNSW index
# in memory and readers write to the files too. So each call into Chroma holds
# the store's access lock (`locking.store_access`), and a process whose files
# were changed by another since its last call reopens its client first, rather
# than answer from a stale index (Chroma then fails with "Error finding id", or
# misses the new vectors).


def _file_state(path: Path) -> tuple[int, ...]:
    """Changes whenever any process commits to Chroma's SQLite file (cheap: two stats)."""
    state: list[int] = []
    for name in (CHROMA_DB, CHROMA_DB + "-wal"):
        try:
            with (path / name).open("rb") as f:
                head = f.read(28)
                info = os.fstat(f.fileno())
        except FileNotFoundError:
            state += [0, 0, 0, 0]
            continue
        # Bytes 24-27 of an SQLite file count its committed write transactions;
        # the mtime alone can miss two commits within one clock tick.
        counter = int.from_bytes(head[24:28], "big") if len(head) == 28 else 0
        state += [info.st_ino, info.st_size, info.st_mtime_ns, counter]
    return tuple(state)


def _data_state(path: Path) -> tuple[object, ...]:
    """Changes when the data changes: not when a reader merely touched the file.

    Chroma's log position, what its segments have applied, and its collections.
    """
    try:
        db = sqlite3.connect(f"file:{path / CHROMA_DB}?mode=ro", uri=True, timeout=30.0)
        try:
            return (
                db.execute("SELECT MAX(seq_id) FROM embeddings_queue").fetchone()[0],
                tuple(db.execute("SELECT segment_id, seq_id FROM max_seq_id ORDER BY 1")),
                tuple(db.execute("SELECT id FROM collections ORDER BY 1")),
            )
        finally:
            db.close()
    except sqlite3.Error:
        return ("unknown", *_file_state(path))  # any change to the file counts


class _Shared:
    """This process's one Chroma client for a store folder."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.client: Any = None
        self.seen_files: tuple[int, ...] | None = None
        self.seen_data: tuple[object, ...] | None = None
        # Bumped whenever the client is replaced; collections compare it.
        self.epoch = 0

    def current(self) -> Any:
        """The client, reopened if another process changed the data (call under the lock)."""
        # Someone else touched the file (readers do too): did the data change?
        if (
            self.client is not None
            and _file_state(self.path) != self.seen_files
            and _data_state(self.path) != self.seen_data
        ):
            self.client.close()
            self.client = None
        if self.client is None:
            self.client = Store._client_for(self.path)
            self.seen_data = None
            self.epoch += 1
        return self.client

    def settle(self, wrote: bool) -> None:
        """Remember the files as this process left them (call under the lock)."""
        self.seen_files = _file_state(self.path)
        if wrote or self.seen_data is None:
            self.seen_data = _data_state(self.path)


_SHARED: dict[Path, _Shared] = {}


def _shared(path: Path) -> _Shared:
    return _SHARED.setdefault(path.resolve(), _Shared(path))


_WRITES = frozenset({"add", "upsert", "update", "delete", "modify"})


class _SharedCollection:
    """A Chroma collection whose every call holds the access lock, on a fresh client."""

    def __init__(self, shared: _Shared, name: str, collection: Any) -> None:
        self._shared = shared
        self._name = name
        self._collection = collection
        self._epoch = shared.epoch
        self.metadata = collection.metadata

    def _reattach(self, client: Any) -> None:
        path = self._shared.path
        _refuse_damage(path, self._name)
        try:
            collection = client.get_collection(self._name, embedding_function=None)
        except Exception as exc:  # chromadb: NotFoundError, or a damaged store
            raise StoreError(
                f"The index at {path} changed under this session: {exc}",
                hint="Start the command again; if it fails again, rebuild the index with: "
                "assistant ingest --rebuild",
            ) from exc
        if collection.metadata != self.metadata:
            raise StoreError(
                f"The index at {path} was rebuilt with other settings during this session.",
                hint="Start the command again.",
            )
        self._collection, self._epoch = collection, self._shared.epoch

    def __getattr__(self, method: str) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            from chromadb.errors import ChromaError

            shared = self._shared
            with store_access(shared.path):
                try:
                    client = shared.current()
                    if self._epoch != shared.epoch:
                        self._reattach(client)
                    return getattr(self._collection, method)(*args, **kwargs)
                except ChromaError as exc:
                    raise StoreError(
                        f"The index at {shared.path} cannot be read: {exc}", hint=REBUILD_HINT
                    ) from exc
                finally:
                    shared.settle(wrote=method in _WRITES)

        return call


def _refuse_damage(path: Path, name: str) -> None:
    """Fail before Chroma loads damaged files (it may crash on them)."""
    damage = store_damage(path, name)
    if damage is not None:
        raise StoreError(f"The index at {path} is damaged: {damage.detail}.", hint=REBUILD_HINT)


def _discard_damage(path: Path, name: str) -> None:
    """Before a rebuild, remove what Chroma could not open, so that it starts afresh."""
    damage = store_damage(path, name, deep=True)
    if damage is None:
        return
    if damage.segment is not None:
        print(
            f"Warning: {damage.detail}; removing that vector segment to rebuild.",
            file=sys.stderr,
            flush=True,
        )
        shutil.rmtree(damage.segment, ignore_errors=True)
        return
    print(
        f"Warning: {damage.detail}; removing the index (every collection in {path}) to rebuild it.",
        file=sys.stderr,
        flush=True,
    )
    shared = _SHARED.pop(path.resolve(), None)
    if shared is not None and shared.client is not None:
        shared.client.close()
    for entry in path.iterdir():
        if entry.name.startswith(CHROMA_DB):
            entry.unlink()
        elif entry.is_dir() and (entry / "header.bin").exists():
            shutil.rmtree(entry, ignore_errors=True)
