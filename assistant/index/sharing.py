"""One Chroma client per store folder in this process, shared safely with others.

Chroma's local store assumes one process: every process caches the HNSW index
in memory and readers write to the files too. So each call into Chroma holds
the store's access lock (`locking.store_access`), and a process whose files
were changed by another since its last call reopens its client first, rather
than answer from a stale index (Chroma then fails with "Error finding id", or
misses the new vectors).
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from assistant.disk import disk_full, out_of_space
from assistant.errors import StoreError
from assistant.index.chroma_files import (
    data_state,
    file_state,
    remove_store_files,
    store_damage,
)
from assistant.index.locking import store_access
from assistant.offline import enforce_offline

REBUILD_HINT = "Rebuild it with: assistant ingest --rebuild"


def client_for(path: Path) -> Any:
    enforce_offline()
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(
        path=str(path),
        settings=ChromaSettings(anonymized_telemetry=False, allow_reset=False),
    )


class SharedClient:
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
            and file_state(self.path) != self.seen_files
            and data_state(self.path) != self.seen_data
        ):
            self.client.close()
            self.client = None
        if self.client is None:
            self.client = client_for(self.path)
            self.seen_data = None
            self.epoch += 1
        return self.client

    def settle(self, wrote: bool) -> None:
        """Remember the files as this process left them (call under the lock)."""
        self.seen_files = file_state(self.path)
        if wrote or self.seen_data is None:
            self.seen_data = data_state(self.path)


_SHARED: dict[Path, SharedClient] = {}


def shared_client(path: Path) -> SharedClient:
    return _SHARED.setdefault(path.resolve(), SharedClient(path))


_WRITES = frozenset({"add", "upsert", "update", "delete", "modify"})


class SharedCollection:
    """A Chroma collection whose every call holds the access lock, on a fresh client."""

    def __init__(self, shared: SharedClient, name: str, collection: Any) -> None:
        self._shared = shared
        self._name = name
        self._collection = collection
        self._epoch = shared.epoch
        self.metadata = collection.metadata

    def _reattach(self, client: Any) -> None:
        path = self._shared.path
        refuse_damage(path, self._name)
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
                    if out_of_space(exc, shared.path):
                        raise disk_full(shared.path) from exc
                    raise StoreError(
                        f"The index at {shared.path} cannot be read: {exc}", hint=REBUILD_HINT
                    ) from exc
                finally:
                    shared.settle(wrote=method in _WRITES)

        return call


def refuse_damage(path: Path, name: str) -> None:
    """Fail before Chroma loads damaged files (it may crash on them)."""
    damage = store_damage(path, name)
    if damage is not None:
        raise StoreError(f"The index at {path} is damaged: {damage.detail}.", hint=REBUILD_HINT)


def discard_damage(path: Path, name: str) -> None:
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
    remove_store_files(path)
