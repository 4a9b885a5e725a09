"""The composition root: builds store, embedder, retriever, prompts and backend
from one Settings object, each only when first needed."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from assistant.chunking import ChunkSpec
from assistant.settings import Settings
from assistant.store import Fingerprint, Store

if TYPE_CHECKING:
    from assistant.answer import Answerer
    from assistant.backends import Backend
    from assistant.embedder import MiniLMEmbedder
    from assistant.ingest import IngestResult
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

        return MiniLMEmbedder(batch_size=self.settings.embed_batch_size)

    @property
    def fingerprint(self) -> Fingerprint:
        return Fingerprint(self.embedder.fingerprint, self.chunk_spec.describe())

    def open_store(self, *, create: bool = False, rebuild: bool = False) -> Store:
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

    @cached_property
    def retriever(self) -> Retriever:
        from assistant.retrieval import Retriever

        return Retriever(self.store, self.embedder, self.settings.candidate_chunks)

    @cached_property
    def prompts(self) -> PromptSet:
        from assistant.prompts import PromptSet

        return PromptSet.load()

    def backend(self, name: str | None = None, model: str | None = None) -> Backend:
        from assistant.backends import make_backend

        return make_backend(name or self.settings.backend, self.settings, self.embedder, model)

    def answerer(self, backend: Backend) -> Answerer:
        from assistant.answer import Answerer

        return Answerer(
            self.retriever,
            backend,
            self.prompts,
            top_k=self.settings.top_k,
            min_relevance=self.settings.min_relevance,
        )

    def ingest(self, paths: list[Path], *, rebuild: bool, progress: bool) -> IngestResult:
        from assistant.ingest import ingest

        store = self.open_store(create=True, rebuild=rebuild)
        return ingest(paths, store, self.embedder, self.chunk_spec, progress=progress)
