"""Any OpenAI-compatible server (vLLM, llama.cpp's llama-server, LM Studio).

Plain httpx rather than the `openai` SDK: two endpoints and a Server-Sent
Events stream are a few dozen lines, httpx is already installed, and the SDK
would add its own dependencies, retries (which multiply a timeout) and
exception types to translate, and it insists on an API key that local
servers do not need.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import httpx
from pydantic import BaseModel, Field, field_validator

from assistant.backends import AnswerRequest, interrupted
from assistant.errors import (
    AssistantError,
    BackendFailedError,
    BackendUnavailableError,
    ModelMissingError,
)

if TYPE_CHECKING:
    from assistant.diagnosis import Check
    from assistant.embedding.embedder import Embedder
    from assistant.settings import Settings

_LOG_HINT = "Check the server's log; retry, or use --backend llamacpp."
_URL_HINT = (
    "Check ASSISTANT_OPENAI_BASE_URL: it is the URL the server's API lives under, "
    "usually ending in /v1."
)
_MODEL_HINT = "Choose one with --model NAME or ASSISTANT_OPENAI_MODEL."


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class OpenAISettings(BaseModel):
    """The openai backend's settings (part of `Settings`)."""

    openai_base_url: str = Field(
        "http://127.0.0.1:8000/v1",
        description="Base URL of the OpenAI-compatible server (vLLM, llama-server, "
        "LM Studio) for the openai backend, usually ending in /v1.",
    )
    openai_model: str = Field(
        "",
        description="Model the openai backend asks for; empty means the one model "
        "the server serves.",
    )
    openai_api_key_env: str = Field(
        "OPENAI_API_KEY",
        description="Name of the environment variable holding the openai backend's "
        "API key (the key is never stored here); unset or empty sends no key.",
    )

    @field_validator("openai_base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://, e.g. http://127.0.0.1:8000/v1")
        return value

    @field_validator("openai_api_key_env")
    @classmethod
    def _key_env(cls, value: str) -> str:
        # Catches a key pasted here by mistake (keys hold '-' and the like) before
        # `config show` prints it; the error message does not echo the value.
        if not _ENV_NAME.fullmatch(value):
            raise ValueError(
                "must be the name of an environment variable (letters, digits, _), "
                "not the key itself"
            )
        return value


def sse_data(lines: Iterable[str]) -> Iterator[str]:
    """The data of each Server-Sent Event, from the body's lines.

    Comments (":") and other fields (event:, id:) are skipped; several data
    lines in one event are joined with newlines, as the SSE standard says.
    """
    data: list[str] = []
    for line in lines:
        if not line:
            if data:
                yield "\n".join(data)
                data = []
        elif line.startswith("data:"):
            value = line[len("data:") :]
            data.append(value[1:] if value.startswith(" ") else value)
    if data:  # a last event without its blank line
        yield "\n".join(data)


def _server_message(response: httpx.Response) -> str:
    """The error text a server put in its body, in any of the shapes servers use."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:200] or response.reason_phrase
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])  # OpenAI, llama-server
        if isinstance(error, str):
            return error  # vLLM's API-key check
        for key in ("message", "detail"):  # vLLM's other errors, FastAPI
            if body.get(key):
                return str(body[key])
    return json.dumps(body)[:200]


def _listing(models: list[str]) -> str:
    shown = ", ".join(models[:10])
    return shown + (f" and {len(models) - 10} more" if len(models) > 10 else "")


class OpenAIBackend:
    name = "openai"
    instruction_following = True
    max_abstracts: int | None = None
    evidence_sentences: int | None = None

    def __init__(self, settings: Settings, model: str) -> None:
        """A client for the server in `settings`; `model` empty means the server's
        only model, which costs one quick request to the server now."""
        self.settings = settings
        self.base_url = settings.openai_base_url
        self.key_env = settings.openai_api_key_env
        # Read here and kept only in the client's headers, never in settings or messages.
        key = os.environ.get(self.key_env, "").strip()
        self.has_key = bool(key)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        # The read timeout is the longest silence between two streamed pieces:
        # a CPU machine may think for minutes before the first token.
        self.client = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(settings.timeout_s, connect=settings.connect_timeout_s),
        )
        # A quick probe must not wait for a busy server for minutes.
        self.probe_timeout_s = max(settings.connect_timeout_s, 1.0) * 2
        self.probe_timeout = httpx.Timeout(self.probe_timeout_s, connect=settings.connect_timeout_s)
        self.model = model or self._only_model()

    # -- errors --------------------------------------------------------------

    def _translate(self, exc: Exception, during: str, timeout_s: float) -> AssistantError:
        where = f"the server at {self.base_url}"
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
            return BackendUnavailableError(
                f"No OpenAI-compatible server is reachable at {self.base_url}",
                hint="Start it (e.g. vllm serve MODEL, or llama-server -m FILE --port 8000), "
                "set ASSISTANT_OPENAI_BASE_URL, or use --backend llamacpp.",
            )
        if isinstance(exc, httpx.TimeoutException):
            return BackendFailedError(
                f"The server at {self.base_url} sent nothing for {timeout_s:g} s {during}.",
                hint="Raise the limit with --timeout or ASSISTANT_TIMEOUT_S, "
                "or use a smaller model.",
            )
        if isinstance(exc, httpx.HTTPError):
            return BackendFailedError(
                f"The connection to {where} broke {during}: {exc}",
                hint="Check that the server is still running, then ask again.",
            )
        return BackendFailedError(f"The server at {self.base_url} failed {during}: {exc}")

    def _refused(self, response: httpx.Response) -> BackendUnavailableError:
        status, message = response.status_code, _server_message(response)
        other = "or name another variable with ASSISTANT_OPENAI_API_KEY_ENV."
        if not self.has_key:
            return BackendUnavailableError(
                f"The server at {self.base_url} wants an API key (HTTP {status}: {message}), "
                f"and ${self.key_env} is not set.",
                hint=f"Put the key in the environment variable {self.key_env}, {other}",
            )
        return BackendUnavailableError(
            f"The server at {self.base_url} refused the API key in ${self.key_env} "
            f"(HTTP {status}: {message}).",
            hint=f"Check the key in {self.key_env}, {other}",
        )

    def _raise_for_status(self, response: httpx.Response, during: str) -> None:
        """Turn an HTTP error status into the error a user can act on."""
        if response.status_code < 400:
            return
        response.read()  # a streamed response has not read its error body yet
        if response.status_code in (401, 403):
            raise self._refused(response)
        if response.status_code == 404:
            # Servers word an unknown model differently; the model list is plain.
            # (_served_models answers its own 404 before it gets here.)
            served = self._served_models()
            if self.model not in served:
                raise self._missing(served)
        message = _server_message(response)
        raise BackendFailedError(
            f"The server at {self.base_url} answered HTTP {response.status_code} "
            f"{during}: {message}",
            hint=_URL_HINT if response.status_code == 404 else _LOG_HINT,
        )

    def _missing(self, served: list[str]) -> ModelMissingError:
        return ModelMissingError(
            f"The server at {self.base_url} does not serve the model {self.model!r}.",
            hint=f"It serves: {_listing(served)}. {_MODEL_HINT}"
            if served
            else "It serves no model yet: load one in the server, or point "
            "ASSISTANT_OPENAI_BASE_URL at another server.",
        )

    # -- models --------------------------------------------------------------

    def _served_models(self) -> list[str]:
        during = "while listing models"
        try:
            response = self.client.get("/models", timeout=self.probe_timeout)
        except httpx.HTTPError as exc:
            raise self._translate(exc, during, self.probe_timeout_s) from exc
        if response.status_code == 404:
            raise BackendUnavailableError(
                f"{self.base_url}/models does not exist: this is not the base URL "
                "of an OpenAI-compatible API.",
                hint=_URL_HINT,
            )
        self._raise_for_status(response, during)
        try:
            return [str(entry["id"]) for entry in response.json()["data"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise BackendUnavailableError(
                f"{self.base_url}/models did not answer like an OpenAI-compatible API.",
                hint=_URL_HINT,
            ) from exc

    def _only_model(self) -> str:
        served = self._served_models()
        if len(served) == 1:
            return served[0]
        if not served:
            raise ModelMissingError(
                f"The server at {self.base_url} serves no model.",
                hint="Load one in the server, or point ASSISTANT_OPENAI_BASE_URL elsewhere.",
            )
        raise ModelMissingError(
            f"No model chosen, and the server at {self.base_url} serves {len(served)}: "
            f"{_listing(served)}.",
            hint=_MODEL_HINT,
        )

    def check(self) -> None:
        served = self._served_models()
        if self.model not in served:
            raise self._missing(served)

    # -- answering -----------------------------------------------------------

    def _body(
        self, messages: list[dict[str, str]], max_tokens: int, stream: bool
    ) -> dict[str, Any]:
        # max_tokens, not max_completion_tokens: the one every compatible server reads.
        return {
            "model": self.model,
            "messages": messages,
            "stream": stream,
            "temperature": self.settings.temperature,
            "max_tokens": max_tokens,
        }

    def stream(self, request: AnswerRequest) -> Iterator[str]:
        messages = [
            {"role": "system", "content": request.prompt.system},
            {"role": "user", "content": request.prompt.user},
        ]
        body = self._body(messages, self.settings.max_answer_tokens, stream=True)
        during = "while answering"
        done = False
        try:
            with self.client.stream("POST", "/chat/completions", json=body) as response:
                self._raise_for_status(response, during)
                for data in sse_data(response.iter_lines()):
                    if data == "[DONE]":
                        done = True
                        break
                    content, finished = self._delta(data, during)
                    if content:
                        yield content
                    if finished:
                        # The answer is whole; whatever follows ([DONE]) adds nothing.
                        done = True
                        break
        except AssistantError:
            raise
        except httpx.HTTPError as exc:
            if interrupted(exc):
                raise KeyboardInterrupt from exc
            raise self._translate(exc, during, self.settings.timeout_s) from exc
        if not done:
            raise BackendFailedError(
                f"The stream from {self.base_url} ended before the answer was complete.",
                hint="Check that the server is still running, then ask again.",
            )

    def _delta(self, data: str, during: str) -> tuple[str, bool]:
        """The text one stream event adds, and whether it ends the answer."""
        try:
            event = json.loads(data)
        except ValueError as exc:
            raise BackendFailedError(
                f"The server at {self.base_url} sent an event that is not JSON {during}: "
                f"{data[:80]!r}",
                hint=_LOG_HINT,
            ) from exc
        if not isinstance(event, dict):
            return "", False
        if "error" in event:
            # vLLM and llama-server report a failure inside a stream that began with 200.
            error = event["error"]
            message = error.get("message", error) if isinstance(error, dict) else error
            raise BackendFailedError(
                f"The server at {self.base_url} reported an error {during}: {message}",
                hint=_LOG_HINT,
            )
        choices = event.get("choices") or []
        if not choices or not isinstance(choices[0], dict):
            return "", False  # e.g. a usage-only event
        choice = choices[0]
        delta = choice.get("delta") or {}
        content = delta.get("content") if isinstance(delta, dict) else None
        return (content if isinstance(content, str) else ""), bool(choice.get("finish_reason"))

    def complete(self, prompt: str, max_tokens: int) -> str:
        during = "while rewriting the question"
        body = self._body([{"role": "user", "content": prompt}], max_tokens, stream=False)
        try:
            response = self.client.post("/chat/completions", json=body)
        except httpx.HTTPError as exc:
            raise self._translate(exc, during, self.settings.timeout_s) from exc
        self._raise_for_status(response, during)
        try:
            return str(response.json()["choices"][0]["message"]["content"] or "")
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise BackendFailedError(
                f"The server at {self.base_url} sent a reply without a message {during}.",
                hint=_LOG_HINT,
            ) from exc


def make(settings: Settings, embedder: Embedder, model: str | None) -> OpenAIBackend:
    return OpenAIBackend(settings, model or settings.openai_model)


def diagnose(settings: Settings) -> Check:
    # The backend's own probe: one GET /models, with the errors `ask` would give.
    from assistant.diagnosis import Check
    from assistant.errors import AssistantError

    try:
        backend = OpenAIBackend(settings, settings.openai_model)
        backend.check()
    except AssistantError as exc:
        return Check("openai", False, exc.message, exc.hint)
    key = (
        f"API key from ${backend.key_env}"
        if backend.has_key
        else f"no API key (${backend.key_env} is not set)"
    )
    return Check(
        "openai", True, f"reachable at {backend.base_url}, model {backend.model!r} served; {key}"
    )
