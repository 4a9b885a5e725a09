"""The vectors on a shared Chroma server (`store_url`), and this client's BM25 copy.

The server holds one collection that every client reads and writes, with the
same fingerprint check as the embedded store. The lexical (BM25) index stays a
local SQLite file under each client's ASSISTANT_HOME: it is a copy of the
titles and abstracts the server already holds (each paper's first chunk
carries them), so a client whose copy is behind the server's `revision`
(a token every ingest through this module renews) rebuilds it from the
server before searching. Every client therefore ranks with the same BM25 over
the same papers, and returns the same results.

The local locks (`locking`) guard only this client's files: they do not stop
two clients from ingesting into one server at once.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from assistant.errors import ConfigError, StoreError
from assistant.index.base import fingerprint_mismatch, lexical_path, read_lexical
from assistant.index.server_copy import (
    copy_lexical,
    lexical_is_current,
    record_revision,
    refresh_lexical,
)
from assistant.index.store import Fingerprint, Store, create_collection
from assistant.offline import enforce_offline

if TYPE_CHECKING:
    from assistant.diagnosis import Check
    from assistant.index.lexical import LexicalIndex
    from assistant.settings import Settings

REVISION_KEY = "revision"
_START_HINT = (
    "Start it with: chroma run --path DIR --host 127.0.0.1 --port 8000, "
    "or unset ASSISTANT_STORE_URL to use the local index."
)


@dataclass(frozen=True)
class ServerAddress:
    host: str
    port: int
    ssl: bool


def parse_store_url(url: str) -> ServerAddress:
    """Host, port and TLS from `http[s]://host[:port]`.

    Raises:
        ConfigError: no host, a bad port, or a path after the port.
    """
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if not parts.hostname or port == -1 or parts.path not in ("", "/"):
        raise ConfigError(
            f"Invalid store_url {url!r}.",
            hint="Give the server's address only, e.g. ASSISTANT_STORE_URL=http://127.0.0.1:8000",
        )
    ssl = parts.scheme == "https"
    return ServerAddress(parts.hostname, port or (443 if ssl else 8000), ssl)


def auth_headers(settings: Settings) -> dict[str, str]:
    """The bearer token from the variable `store_token_env` names, if it is set."""
    name = settings.store_token_env
    token = os.environ.get(name, "") if name else ""
    return {"Authorization": f"Bearer {token}"} if token else {}


def unreachable(url: str, exc: BaseException) -> StoreError:
    return StoreError(f"The Chroma server at {url} is not reachable ({exc}).", hint=_START_HINT)


def _server_errors() -> tuple[type[BaseException], ...]:
    import httpx
    from chromadb.errors import ChromaError

    # chromadb reports a refused connection as ValueError, a dropped one as httpx's.
    return (ChromaError, httpx.HTTPError, ValueError, ConnectionError)


def connect(settings: Settings) -> Any:
    """A chromadb HttpClient for `store_url`, telemetry off.

    Raises:
        StoreError: the server does not answer.
    """
    enforce_offline()
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    address = parse_store_url(settings.store_url)
    try:
        return chromadb.HttpClient(
            host=address.host,
            port=address.port,
            ssl=address.ssl,
            headers=auth_headers(settings),
            settings=ChromaSettings(anonymized_telemetry=False),
        )
    except _server_errors() as exc:
        raise unreachable(settings.store_url, exc) from exc


class _ServerCollection:
    """A server collection whose failures are StoreErrors that name the server."""

    def __init__(self, url: str, collection: Any) -> None:
        self._url = url
        self._collection = collection
        self.metadata = collection.metadata

    def __getattr__(self, method: str) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return getattr(self._collection, method)(*args, **kwargs)
            except _server_errors() as exc:
                raise unreachable(self._url, exc) from exc

        return call


class ServerStore(Store):
    """The collection on a Chroma server; `path` is the local folder of the BM25 copy."""

    def __init__(self, settings: Settings, collection: Any, client: Any) -> None:
        self.url = settings.store_url
        super().__init__(
            settings.store_dir,
            collection.name,
            _ServerCollection(self.url, collection),
            client,
        )

    @property
    def location(self) -> str:
        return self.url

    @classmethod
    def connect(
        cls, settings: Settings, fingerprint: Fingerprint, *, create: bool, rebuild: bool
    ) -> ServerStore:
        """Open (or create) the server's collection; refuse one made with other settings.

        Raises:
            StoreError: server unreachable, no collection (and not `create`), or a
                fingerprint mismatch.
        """
        from assistant.index.rebuild import RebuildFiles, discard_staging, finish_swap

        client = connect(settings)
        name, url = settings.collection, settings.store_url
        files = RebuildFiles(name, lexical_path(settings))
        try:
            finish_swap(client, files)
            if rebuild:
                # Only a rebuild clears leftovers here: the ingest lock is this
                # client's, and another client's rebuild may be writing one.
                discard_staging(client, files)
                name = files.staging_name
            existing = {c.name for c in client.list_collections()}
            if name in existing:
                collection = client.get_collection(name, embedding_function=None)
            elif create:
                collection = create_collection(client, name, fingerprint)
            else:
                raise StoreError(
                    f"The Chroma server at {url} has no collection {name!r}.",
                    hint="Build it with: assistant ingest",
                )
        except _server_errors() as exc:
            raise unreachable(url, exc) from exc
        store = cls(settings, collection, client)
        store.rebuild = files if rebuild else None
        store._check(fingerprint)
        return store

    def commit(self) -> None:
        from assistant.index.rebuild import swap_in

        assert self.rebuild is not None
        name = self.rebuild.name
        try:
            swap_in(self._client, self.rebuild)
            collection = self._client.get_collection(name, embedding_function=None)
        except _server_errors() as exc:
            raise unreachable(self.url, exc) from exc
        self.name, self.rebuild = name, None
        self._collection = _ServerCollection(self.url, collection)

    def abandon(self) -> None:
        from assistant.index.rebuild import discard_staging

        assert self.rebuild is not None
        try:
            discard_staging(self._client, self.rebuild)
        except _server_errors():
            pass  # unreachable now: the next ingest removes the leftovers

    def revision(self) -> str:
        """The server's current revision token ('' if no ingest has set one)."""
        try:
            fresh = self._client.get_collection(self.name, embedding_function=None)
        except _server_errors() as exc:
            raise unreachable(self.url, exc) from exc
        return str((fresh.metadata or {}).get(REVISION_KEY, ""))

    def renew_revision(self) -> str:
        """Mark the collection changed, so that other clients refresh their BM25 copy."""
        token = uuid.uuid4().hex
        meta = {**(self._collection.metadata or {}), REVISION_KEY: token}
        self._collection.modify(metadata=meta)
        return token


class ServerIndex:
    """The collection on a Chroma server, with this home's BM25 copy of its papers."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @property
    def location(self) -> str:
        return self.settings.store_url

    @property
    def _lexical_path(self) -> Path:
        return lexical_path(self.settings)

    def open_store(self, fingerprint: Fingerprint, *, create: bool, rebuild: bool) -> Store:
        return ServerStore.connect(self.settings, fingerprint, create=create, rebuild=rebuild)

    def reading_lexical(self, store: Store) -> LexicalIndex:
        assert isinstance(store, ServerStore)
        refresh_lexical(store, self._lexical_path)
        return read_lexical(self.settings, store)

    def writing_lexical(self, store: Store, *, rebuild: bool) -> LexicalIndex:
        """Emptied for a rebuild; else this client's copy, first brought up to the
        server's papers (without that, an ingest here would mark a copy that lacks
        other clients' papers as current)."""
        from assistant.index.lexical import LexicalIndex

        assert isinstance(store, ServerStore)
        if rebuild:
            assert store.rebuild is not None
            return LexicalIndex.emptied(store.rebuild.staging_lexical)
        LexicalIndex(self._lexical_path).close()
        if lexical_is_current(store, self._lexical_path):
            return LexicalIndex(self._lexical_path)
        return copy_lexical(store, self._lexical_path)

    def ingested(self, store: Store, *, changed: bool, rebuild: bool) -> None:
        assert isinstance(store, ServerStore)
        if changed or rebuild:
            record_revision(self._lexical_path, store.renew_revision())

    def health(self, expected: Fingerprint) -> Check:
        """The collection on the Chroma server, over its REST API (chromadb not imported)."""
        import httpx

        from assistant.diagnosis import Check

        settings = self.settings
        url, name = settings.store_url, settings.collection
        parse_store_url(url)
        base = f"{url}/api/v2/tenants/default_tenant/databases/default_database/collections"
        try:
            with httpx.Client(
                headers=auth_headers(settings), timeout=settings.connect_timeout_s * 2
            ) as client:
                client.get(f"{url}/api/v2/heartbeat").raise_for_status()
                found = client.get(f"{base}/{name}")
                if found.status_code >= 400:
                    return Check(
                        "index",
                        False,
                        f"the Chroma server at {url} has no collection {name!r} "
                        f"(HTTP {found.status_code})",
                        "Run: assistant ingest",
                    )
                collection = found.json()
                chunks = client.get(f"{base}/{collection['id']}/count").json()
                firsts = client.post(
                    f"{base}/{collection['id']}/get",
                    json={"where": {"chunk_index": 0}, "include": []},
                ).json()
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            return Check(
                "index",
                False,
                f"the Chroma server at {url} is not reachable ({exc})",
                "Start it with: chroma run --path DIR --host 127.0.0.1 --port 8000, "
                "or unset ASSISTANT_STORE_URL.",
            )
        meta = collection.get("metadata") or {}
        mismatch = fingerprint_mismatch(expected, meta)
        if mismatch:
            return mismatch
        return Check(
            "index",
            True,
            f"{chunks} chunks of {len(firsts.get('ids', []))} papers "
            f"on the Chroma server at {url}, "
            "settings match; the local BM25 copy is refreshed from it when behind",
        )
