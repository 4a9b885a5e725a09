"""The composition root: builds store, embedder, retriever, prompts and backend
from one Settings object, each only when first needed."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from assistant.disk import LOW_SPACE, disk_full, out_of_space
from assistant.errors import DiskFullError, StoreError
from assistant.index import open_index
from assistant.index.base import Index, lexical_path
from assistant.index.chunking import ChunkSpec
from assistant.index.store import Fingerprint, Store
from assistant.settings import Settings

# What an entry takes in the index (vectors, Chroma's log and metadata, BM25):
# about 33 KB measured on the bundled abstracts, with a margin.
SPACE_PER_ENTRY = 48 << 10

if TYPE_CHECKING:
    from assistant.answering.chain import Answerer
    from assistant.answering.prompts import PromptSet
    from assistant.answering.support import SupportChecker
    from assistant.answering.verify import Unsupported
    from assistant.backends import Backend
    from assistant.embedding.embedder import MiniLMEmbedder
    from assistant.index.ingest import IngestResult
    from assistant.index.lexical import LexicalIndex
    from assistant.retrieval.filters import Filters
    from assistant.retrieval.retriever import Retriever


class Pipeline:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @cached_property
    def chunk_spec(self) -> ChunkSpec:
        return ChunkSpec(self.settings.chunk_tokens, self.settings.chunk_overlap_sentences)

    @cached_property
    def embedder(self) -> MiniLMEmbedder:
        from assistant.embedding.embedder import MiniLMEmbedder

        return MiniLMEmbedder(
            batch_size=self.settings.embed_batch_size,
            encoder=self.settings.embed_encoder,
            models_dir=self.settings.models_dir,
        )

    @property
    def fingerprint(self) -> Fingerprint:
        return Fingerprint(self.embedder.fingerprint, self.chunk_spec.describe())

    @cached_property
    def index(self) -> Index:
        """The local store or the Chroma server, with this home's BM25 index."""
        return open_index(self.settings)

    def open_store(self, *, create: bool = False, rebuild: bool = False) -> Store:
        return self.index.open_store(self.fingerprint, create=create, rebuild=rebuild)

    @cached_property
    def store(self) -> Store:
        return self.open_store()

    @property
    def store_location(self) -> str:
        """The Chroma server's URL, or the local store folder."""
        return self.index.location

    @property
    def lexical_path(self) -> Path:
        return lexical_path(self.settings)

    def open_lexical(self) -> LexicalIndex:
        from assistant.index.lexical import LexicalIndex

        return LexicalIndex(self.lexical_path)

    @cached_property
    def retriever(self) -> Retriever:
        from assistant.retrieval.retriever import Fusion, Retriever

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
        return self.index.reading_lexical(self.store)

    @cached_property
    def prompts(self) -> PromptSet:
        from assistant.answering.prompts import PromptSet

        return PromptSet.load()

    def backend(self, name: str | None = None, model: str | None = None) -> Backend:
        from assistant.backends import make_backend

        return make_backend(name or self.settings.backend, self.settings, self.embedder, model)

    def answerer(
        self, backend: Backend, filters: Filters | None = None, *, top_k: int | None = None
    ) -> Answerer:
        from assistant.answering.chain import Answerer

        return Answerer(
            self.retriever,
            backend,
            self.prompts,
            top_k=top_k or self.settings.top_k,
            min_support=self.settings.min_support,
            filters=filters,
            checker=self.support_checker if self.settings.check_answers else None,
            unsupported=self.unsupported_for(backend),
            strict_coverage=self.settings.support_min_coverage_dropping,
        )

    @cached_property
    def support_checker(self) -> SupportChecker:
        from assistant.answering.support import SupportChecker

        return SupportChecker.from_settings(self.embedder.encode_sentences, self.settings)

    def unsupported_for(self, backend: Backend) -> Unsupported:
        """What happens to an unsupported sentence: the setting, or for `auto`,
        dropped from the small embedded model (which writes many) and marked
        from the others."""
        if self.settings.unsupported != "auto":
            return self.settings.unsupported
        return "drop" if backend.name == "llamacpp" else "mark"

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
        from assistant.index.locking import ingest_lock

        # Taken before anything heavy is imported, so a second ingest is refused
        # at once, and before the store is opened, so a --rebuild never drops the
        # collection under another ingest's feet.
        with ingest_lock(self.settings.store_dir):
            try:
                return self._ingest(paths, rebuild, progress, limit, categories)
            except (OSError, sqlite3.Error, StoreError, DiskFullError) as exc:
                # Wherever the disk filled (Chroma, the BM25 file), say so, with
                # the room this ingest needs: the store's own message would call
                # the index damaged. (A model build names its own need.)
                store = str(self.settings.store_dir)
                if isinstance(exc, DiskFullError) and exc.folder != store:
                    raise
                if not isinstance(exc, DiskFullError) and not out_of_space(exc, self.settings.home):
                    raise
                from assistant.index.ingest import estimate_entries

                need = LOW_SPACE + estimate_entries(paths) * SPACE_PER_ENTRY
                raise disk_full(self.settings.store_dir, need) from exc

    def _ingest(
        self,
        paths: list[Path],
        rebuild: bool,
        progress: bool,
        limit: int | None,
        categories: Sequence[str],
    ) -> IngestResult:
        from assistant.index.ingest import ingest

        # A rebuild writes beside the index in use (index.rebuild): it is
        # swapped in only if it completed and read something.
        store = self.open_store(create=True, rebuild=rebuild)
        try:
            lexical = self.index.writing_lexical(store, rebuild=rebuild)
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
            finally:
                lexical.close()
            rebuilt = rebuild and result.papers > 0
            if rebuilt:
                store.commit()
                result.total_papers = store.paper_count()
                result.total_chunks = store.chunk_count()
            self.index.ingested(store, changed=result.changed, rebuild=rebuilt)
            return result
        finally:
            if store.rebuild is not None:
                store.abandon()
