"""LLM backends behind one small protocol, chosen by name from a registry.

Each factory imports its own dependencies, so choosing `none` never loads
llama.cpp and `--help` loads nothing at all.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:
    from assistant.answering.prompts import RenderedPrompt
    from assistant.diagnosis import Check
    from assistant.domain import PaperHit
    from assistant.embedding.embedder import Embedder
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
    # Shown single sentences (this many, closest to the question) instead of
    # whole abstracts, each numbered for citing; None: whole abstracts.
    evidence_sentences: int | None

    def check(self) -> None:
        """Raise BackendUnavailableError or ModelMissingError if it cannot answer."""

    def stream(self, request: AnswerRequest) -> Iterator[str]:
        """Pieces of the answer as they are generated."""

    def complete(self, prompt: str, max_tokens: int) -> str:
        """A short, whole completion (used to rewrite follow-up questions)."""


def interrupted(exc: BaseException) -> bool:
    """Whether `exc` was raised while handling Ctrl-C: an HTTP client that closes its
    stream on the way out of a KeyboardInterrupt can raise a connection error
    instead (the server "closed" the connection it was reading)."""
    seen: BaseException | None = exc.__context__
    while seen is not None:
        if isinstance(seen, KeyboardInterrupt):
            return True
        seen = seen.__context__
    return False


class BackendModule(Protocol):
    """What a backend module offers the registry: a factory and a health check."""

    def make(self, settings: Settings, embedder: Embedder, model: str | None) -> Backend: ...

    def diagnose(self, settings: Settings) -> Check: ...


# The names `--backend` and the `backend` setting accept: `auto` and the registry's.
# (A Literal, for typing and `--help`; tests/test_architecture.py holds it to REGISTRY.)
BackendName = Literal["auto", "ollama", "llamacpp", "openai", "none"]

# Name -> the module that implements the backend, imported only when chosen, so
# that `--help` loads nothing and `none` never loads llama.cpp. A new backend is
# one module (with `make` and `diagnose`) and one line here; `--backend`'s
# choices and doctor follow from it.
REGISTRY: dict[str, str | BackendModule] = {
    "ollama": "assistant.backends.ollama",
    "llamacpp": "assistant.backends.llamacpp",
    "openai": "assistant.backends.openai",
    "none": "assistant.backends.extractive",
}


def backend_module(name: str) -> BackendModule:
    from importlib import import_module

    entry = REGISTRY[name]
    module: BackendModule = import_module(entry) if isinstance(entry, str) else entry
    return module


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

        ollama = backend_module("ollama").make(settings, embedder, model)
        try:
            ollama.check()
            return ollama
        except (BackendUnavailableError, ModelMissingError, BackendFailedError):
            return backend_module("llamacpp").make(settings, embedder, None)
    return backend_module(name).make(settings, embedder, model)


def diagnose(name: str, settings: Settings) -> list[Check]:
    """The health checks of backend `name` (for `auto`: Ollama, then llama.cpp)."""
    if name != "auto":
        return [_diagnose(name, settings)]
    from assistant.diagnosis import Check

    ollama = _diagnose("ollama", settings)
    if not ollama.ok:
        ollama = Check(
            "ollama", True, f"not used ({ollama.detail}); auto will answer with llamacpp"
        )
    return [ollama, _diagnose("llamacpp", settings)]


def _diagnose(name: str, settings: Settings) -> Check:
    from assistant.diagnosis import Check

    try:
        return backend_module(name).diagnose(settings)
    except OSError as exc:  # e.g. the model copied into a read-only home
        return Check(name, False, f"cannot be checked: {exc}", "Check ASSISTANT_HOME.")
