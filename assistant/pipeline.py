"""The composition root: builds store, embedder, retriever, prompts and backend
from one Settings object, each only when first needed."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from assistant.chunking import ChunkSpec
from assistant.settings import Settings
from assistant.store import Fingerprint, Store

if TYPE_CHECKING:
    from assistant.answer import Answerer
    from assistant.backends import Backend
    from assistant.chroma_server import ServerStore
    from assistant.embedder import MiniLMEmbedder
    from assistant.filters import Filters
    from assistant.ingest import IngestResult
    from assistant.lexical import LexicalIndex
    from assistant.prompts import PromptSet
    from assistant.retrieval import Retriever


class Pipeline:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @cached_property
    def chunk_spec(self) -> ChunkSpec:
        return ChunkSpec(self.settings.chunk_tokens, self.settings.chunk_overlap_sentences)

    @cached_property
    def embedder(self) -> MiniLMEmbedder:
        from assistant.embedder import MiniLMEmbedder

        return MiniLMEmbedder(
            batch_size=self.settings.embed_batch_size,
            encoder=self.settings.embed_encoder,
            models_dir=self.settings.models_dir,
        )

    @property
    def fingerprint(self) -> Fingerprint:
        return Fingerprint(self.embedder.fingerprint, self.chunk_spec.describe())

    def open_store(self, *, create: bool = False, rebuild: bool = False) -> Store:
        if self.settings.store_url:
            from assistant.chroma_server import ServerStore

            return ServerStore.connect(
                self.settings, self.fingerprint, create=create, rebuild=rebuild
            )
        return Store.open(
            self.settings.store_dir,
            self.settings.collection,
            self.fingerprint,
            create=create,
            rebuild=rebuild,
        )

    @cached_property
    def store(self) -> Store:
        return self.open_store()

    @property
    def store_location(self) -> str:
        """The Chroma server's URL, or the local store folder."""
        return self.settings.store_url or str(self.settings.store_dir)

    @property
    def lexical_path(self) -> Path:
        return self.settings.store_dir / f"lexical-{self.settings.collection}.sqlite3"

    def open_lexical(self) -> LexicalIndex:
        from assistant.lexical import LexicalIndex

        return LexicalIndex(self.lexical_path)

    @cached_property
    def retriever(self) -> Retriever:
        from assistant.retrieval import Fusion, Retriever

        fusion = Fusion(
            self.settings.retrieval_mode, self.settings.dense_weight, self.settings.fusion_pool
        )
        return Retriever(
            self.store,
            self.embedder,
            self.settings.candidate_chunks,
            self.reading_lexical() if fusion.mode != "dense" else None,
            fusion,
        )

    def reading_lexical(self) -> LexicalIndex:
        """The BM25 index for searching: it must exist, and hold rows if the vectors do."""
        from assistant.chroma_server import ServerStore, refresh_lexical
        from assistant.lexical import LexicalIndex
        from assistant.locking import ingest_running

        store = self.store
        if isinstance(store, ServerStore):
            refresh_lexical(store, self.lexical_path)
        lexical = LexicalIndex.for_reading(self.lexical_path)
        lexical.require_rows(
            self.store.chunk_count(), lambda: ingest_running(self.settings.store_dir)
        )
        return lexical

    @cached_property
    def prompts(self) -> PromptSet:
        from assistant.prompts import PromptSet

        return PromptSet.load()

    def backend(self, name: str | None = None, model: str | None = None) -> Backend:
        from assistant.backends import make_backend

        return make_backend(name or self.settings.backend, self.settings, self.embedder, model)

    def answerer(self, backend: Backend, filters: Filters | None = None) -> Answerer:
        from assistant.answer import Answerer

        return Answerer(
            self.retriever,
            backend,
            self.prompts,
            top_k=self.settings.top_k,
            min_support=self.settings.min_support,
            filters=filters,
        )

    def ingest(
        self,
        paths: list[Path],
        *,
        rebuild: bool,
        progress: bool,
        limit: int | None = None,
        categories: Sequence[str] = (),
    ) -> IngestResult:
        """Ingest `paths` while holding the store's single-writer lock.

        `limit` and `categories` select entries as in `corpus.iter_papers`.

        Raises:
            IngestLockedError: another ingest is writing to the same store.
        """
        from assistant.locking import ingest_lock

        # Taken before anything heavy is imported, so a second ingest is refused
        # at once, and before the store is opened, so a --rebuild never drops the
        # collection under another ingest's feet.
        with ingest_lock(self.settings.store_dir):
            from assistant.chroma_server import ServerStore, record_revision
            from assistant.ingest import ingest
            from assistant.lexical import LexicalIndex

            store = self.open_store(create=True, rebuild=rebuild)
            lexical = LexicalIndex.emptied(self.lexical_path) if rebuild else self.open_lexical()
            if isinstance(store, ServerStore) and not rebuild:
                lexical.close()
                lexical = self._current_lexical_copy(store)
            try:
                result = ingest(
                    paths,
                    store,
                    self.embedder,
                    self.chunk_spec,
                    lexical,
                    progress=progress,
                    limit=limit,
                    categories=categories,
                )
                if isinstance(store, ServerStore) and (result.changed or rebuild):
                    record_revision(self.lexical_path, store.renew_revision())
                return result
            finally:
                lexical.close()

    def _current_lexical_copy(self, store: ServerStore) -> LexicalIndex:
        """This client's BM25 copy, first brought up to the server's papers.

        Without that, an ingest here would mark a copy that lacks other
        clients' papers as current.
        """
        from assistant.chroma_server import copy_lexical, lexical_is_current

        if lexical_is_current(store, self.lexical_path):
            return self.open_lexical()
        return copy_lexical(store, self.lexical_path)
