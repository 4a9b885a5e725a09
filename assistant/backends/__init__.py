"""LLM backends behind one small protocol, chosen by name from a registry.

Each factory imports its own dependencies, so choosing `none` never loads
llama.cpp and `--help` loads nothing at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from assistant.embedder import Embedder
    from assistant.prompts import RenderedPrompt
    from assistant.retrieval import PaperHit
    from assistant.settings import Settings


@dataclass(frozen=True)
class AnswerRequest:
    question: str
    hits: Sequence[PaperHit]
    prompt: RenderedPrompt


class Backend(Protocol):
    """Streams an answer to a prompt."""

    name: str
    model: str
    # Follows instructions well enough to rewrite a follow-up question.
    instruction_following: bool
    # How many of the retrieved abstracts go into its prompt; None: all of them.
    max_abstracts: int | None

    def check(self) -> None:
        """Raise BackendUnavailableError or ModelMissingError if it cannot answer."""

    def stream(self, request: AnswerRequest) -> Iterator[str]:
        """Pieces of the answer as they are generated."""

    def complete(self, prompt: str, max_tokens: int) -> str:
        """A short, whole completion (used to rewrite follow-up questions)."""


BackendFactory = Callable[["Settings", "Embedder", str | None], Backend]


def _ollama(settings: Settings, embedder: Embedder, model: str | None) -> Backend:
    from assistant.backends.ollama import OllamaBackend

    return OllamaBackend(settings, model or settings.ollama_model)


def _llamacpp(settings: Settings, embedder: Embedder, model: str | None) -> Backend:
    from assistant.backends.llamacpp import LlamaCppBackend

    return LlamaCppBackend(settings, model)


def _openai(settings: Settings, embedder: Embedder, model: str | None) -> Backend:
    from assistant.backends.openai import OpenAIBackend

    return OpenAIBackend(settings, model or settings.openai_model)


def _none(settings: Settings, embedder: Embedder, model: str | None) -> Backend:
    from assistant.backends.extractive import ExtractiveBackend

    return ExtractiveBackend(embedder)


REGISTRY: dict[str, BackendFactory] = {
    "ollama": _ollama,
    "llamacpp": _llamacpp,
    "openai": _openai,
    "none": _none,
}


def make_backend(
    name: str, settings: Settings, embedder: Embedder, model: str | None = None
) -> Backend:
    """The backend `name`; `auto` is Ollama when it has the model, else llama.cpp."""
    if name == "auto":
        from assistant.errors import (
            BackendFailedError,
            BackendUnavailableError,
            ModelMissingError,
        )

        ollama = _ollama(settings, embedder, model)
        try:
            ollama.check()
            return ollama
        except (BackendUnavailableError, ModelMissingError, BackendFailedError):
            return _llamacpp(settings, embedder, None)
    return REGISTRY[name](settings, embedder, model)
