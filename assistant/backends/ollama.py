"""Ollama over HTTP, through the `ollama` client, with errors a user can act on."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from pydantic import AliasChoices, BaseModel, Field, field_validator

from assistant.backends import AnswerRequest, interrupted
from assistant.errors import BackendFailedError, BackendUnavailableError, ModelMissingError

if TYPE_CHECKING:
    from assistant.diagnosis import Check
    from assistant.embedding.embedder import Embedder
    from assistant.settings import Settings

DEFAULT_OLLAMA_HOST = "http://127.0.0.1:11434"


def normalize_host(host: str) -> str:
    """Accept Ollama's own forms ("0.0.0.0", "host:port", full URL) and return a URL."""
    host = host.strip().rstrip("/")
    if "://" not in host:
        host = "http://" + host
    scheme, rest = host.split("://", 1)
    if ":" not in rest.rsplit("]", 1)[-1]:
        rest += ":11434"
    if rest.startswith("0.0.0.0"):
        rest = "127.0.0.1" + rest[len("0.0.0.0") :]
    return f"{scheme}://{rest}"


class OllamaSettings(BaseModel):
    """The ollama backend's settings (part of `Settings`)."""

    ollama_host: str = Field(
        DEFAULT_OLLAMA_HOST,
        validation_alias=AliasChoices("ASSISTANT_OLLAMA_HOST", "OLLAMA_HOST", "ollama_host"),
        description="URL of the Ollama server (also read from OLLAMA_HOST).",
    )
    ollama_model: str = Field("llama3.2", description="Model the Ollama backend asks for.")

    @field_validator("ollama_host")
    @classmethod
    def _host(cls, value: str) -> str:
        return normalize_host(value)


def _unreachable(host: str) -> BackendUnavailableError:
    return BackendUnavailableError(
        f"Ollama is not reachable at {host}",
        hint='Start it with "ollama serve", set OLLAMA_HOST, or use --backend llamacpp.',
    )


class OllamaBackend:
    name = "ollama"
    instruction_following = True
    max_abstracts: int | None = None
    evidence_sentences: int | None = None

    def __init__(self, settings: Settings, model: str) -> None:
        import httpx
        import ollama

        self.model = model
        self.host = settings.ollama_host
        self.settings = settings
        self._httpx = httpx
        self._ollama = ollama
        # The read timeout is the longest silence between two streamed pieces:
        # a CPU machine may think for minutes before the first token.
        timeout = httpx.Timeout(settings.timeout_s, connect=settings.connect_timeout_s)
        self.client = ollama.Client(host=self.host, timeout=timeout)
        # A quick probe must not wait for a busy server for minutes.
        self.probe_timeout_s = max(settings.connect_timeout_s, 1.0) * 2
        self.probe = ollama.Client(
            host=self.host,
            timeout=httpx.Timeout(self.probe_timeout_s, connect=settings.connect_timeout_s),
        )

    def _translate(self, exc: BaseException, during: str, timeout_s: float) -> Exception:
        httpx, ollama = self._httpx, self._ollama
        if isinstance(exc, ConnectionError | httpx.ConnectError | httpx.ConnectTimeout):
            return _unreachable(self.host)
        if isinstance(exc, ollama.ResponseError):
            if exc.status_code == 404 and "not found" in str(exc.error).lower():
                return self._missing()
            if exc.status_code < 0:
                # An {"error": ...} line inside a stream that began with HTTP 200.
                return BackendFailedError(
                    f"Ollama reported an error {during}: {exc.error}",
                    hint="Check the Ollama server's log; retry, or use --backend llamacpp.",
                )
            return BackendFailedError(
                f"Ollama answered HTTP {exc.status_code} {during}: {exc.error}",
                hint="Check the Ollama server's log; retry, or use --backend llamacpp.",
            )
        if isinstance(exc, httpx.TimeoutException):
            return BackendFailedError(
                f"Ollama sent nothing for {timeout_s:g} s {during}.",
                hint="Raise the limit with --timeout or ASSISTANT_TIMEOUT_S, "
                "or use a smaller model.",
            )
        if isinstance(exc, httpx.HTTPError | ValueError):
            return BackendFailedError(
                f"The connection to Ollama broke {during}: {exc}",
                hint="Check that the Ollama server is still running, then ask again.",
            )
        return BackendFailedError(f"Ollama failed {during}: {exc}")

    def _missing(self) -> ModelMissingError:
        return ModelMissingError(
            f"Ollama at {self.host} does not have the model {self.model!r}.",
            hint=f'Pull it with "ollama pull {self.model}", or choose another with --model.',
        )

    def check(self) -> None:
        try:
            self.probe.show(self.model)
        except Exception as exc:
            raise self._translate(exc, "while checking the model", self.probe_timeout_s) from exc

    def _options(self, max_tokens: int) -> dict[str, Any]:
        return {"temperature": self.settings.temperature, "num_predict": max_tokens}

    def stream(self, request: AnswerRequest) -> Iterator[str]:
        messages = [
            {"role": "system", "content": request.prompt.system},
            {"role": "user", "content": request.prompt.user},
        ]
        done = False
        try:
            parts = self.client.chat(
                model=self.model,
                messages=messages,
                stream=True,
                options=self._options(self.settings.max_answer_tokens),
            )
            for part in parts:
                content = part.message.content if part.message else None
                if content:
                    yield content
                if part.done:
                    done = True
        except Exception as exc:
            if interrupted(exc):
                raise KeyboardInterrupt from exc
            raise self._translate(exc, "while answering", self.settings.timeout_s) from exc
        if not done:
            raise BackendFailedError(
                "Ollama's stream ended before the answer was complete.",
                hint="Check that the Ollama server is still running, then ask again.",
            )

    def complete(self, prompt: str, max_tokens: int) -> str:
        try:
            reply = self.client.chat(
                model=self.model,
                messages=[{"role": "user", "content": prompt}],
                stream=False,
                options=self._options(max_tokens),
            )
        except Exception as exc:
            raise self._translate(
                exc, "while rewriting the question", self.settings.timeout_s
            ) from exc
        return str(reply.message.content or "")


def make(settings: Settings, embedder: Embedder, model: str | None) -> OllamaBackend:
    return OllamaBackend(settings, model or settings.ollama_model)


def diagnose(settings: Settings) -> Check:
    """doctor's check: the same probe as `ask` (the server, then the model)."""
    from assistant.diagnosis import Check
    from assistant.errors import AssistantError

    backend = OllamaBackend(settings, settings.ollama_model)
    try:
        backend.check()
    except AssistantError as exc:
        return Check("ollama", False, exc.message, exc.hint)
    return Check("ollama", True, f"reachable at {backend.host}, model {backend.model!r} present")
