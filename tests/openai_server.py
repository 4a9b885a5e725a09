"""A fake OpenAI-compatible server on loopback (the API vLLM, llama-server and
LM Studio serve under /v1).

No such server can run here, so tests talk to this instead: the real httpx
client on one side, a real socket in between. Streams are Server-Sent Events
(`data: {...}` events, then `data: [DONE]`) over HTTP/1.1 chunked transfer
encoding, as vLLM sends them, so a cut stream is a real protocol error for the
client. Error bodies follow the shapes these servers use. The thread, request
recording and chunked-body plumbing are shared with the fake Ollama
(fake_http.py).

    with FakeOpenAI(["Dropout helps [1]."], api_key="sk-test") as server:
        os.environ["ASSISTANT_OPENAI_BASE_URL"] = server.base_url
        ...
        assert server.headers("/v1/chat/completions")[0]["authorization"] == "Bearer sk-test"
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import Any, Literal

from fake_http import FakeHandler, LoopbackServer

Fault = Literal["http_500", "cut", "stall", "error_event"]

DEFAULT_MODEL = "Qwen/Qwen2.5-1.5B-Instruct"
PREFIX = "/v1"


class FakeOpenAI(LoopbackServer):
    """A scripted OpenAI-compatible server in a daemon thread; a context manager.

    Args:
        reply: the content pieces /v1/chat/completions streams, one event each.
        models: model ids /v1/models lists; chat refuses any other with 404.
        api_key: None accepts every request; otherwise each /v1 request must
            carry "Authorization: Bearer <api_key>" or gets HTTP 401.
        fault: None, or how /v1/chat/completions misbehaves:
            "http_500"    answers HTTP 500 with an OpenAI error body;
            "cut"         streams `fault_after` pieces, then closes the socket
                          without [DONE] and without the terminating chunk;
            "stall"       streams `fault_after` pieces, then sends nothing for
                          `stall_s` seconds (longer than the client's timeout);
            "error_event" streams `fault_after` pieces, then a `data: {"error":...}`
                          event and [DONE], as vLLM does when generation fails.
        fault_after: pieces sent before the fault strikes.
        stall_s: how long "stall" stays silent (stop() ends it early).
        completion: the text of a non-streaming reply; None joins `reply`.
    """

    thread_name = "fake-openai"

    def __init__(
        self,
        reply: Iterable[str] = ("The abstracts do not say.",),
        *,
        models: Iterable[str] = (DEFAULT_MODEL,),
        api_key: str | None = None,
        fault: Fault | None = None,
        fault_after: int = 1,
        stall_s: float = 30.0,
        completion: str | None = None,
    ) -> None:
        super().__init__()
        self.reply = list(reply)
        self.models = list(models)
        self.api_key = api_key
        self.fault = fault
        self.fault_after = fault_after
        self.stall_s = stall_s
        self.completion = "".join(self.reply) if completion is None else completion

    @property
    def base_url(self) -> str:
        return self.url + PREFIX

    def chat_requests(self) -> list[dict[str, Any]]:
        return self.bodies(PREFIX + "/chat/completions")

    def authorizations(self) -> list[str | None]:
        """The Authorization header of every request, in order (None: not sent)."""
        with self._lock:
            return [r.headers.get("authorization") for r in self.requests]


class _Handler(FakeHandler):
    fake: FakeOpenAI
    server_version = "FakeOpenAI/1.0"

    def _error(self, status: int, message: str, kind: str, code: Any = None) -> None:
        """An error in OpenAI's shape, which vLLM and llama-server also use."""
        error = {"message": message, "type": kind, "param": None, "code": code or status}
        self._send_json(status, {"error": error})

    def _authorized(self) -> bool:
        expected = self.fake.api_key
        if expected is None or self.headers.get("Authorization") == f"Bearer {expected}":
            return True
        self._error(401, "Invalid API Key", "authentication_error", "invalid_api_key")
        return False

    # -- routes ------------------------------------------------------------

    def do_GET(self) -> None:
        self._record("GET")
        if self.path == PREFIX + "/models":
            if self._authorized():
                self._send_json(
                    200, {"object": "list", "data": [self._model(m) for m in self.fake.models]}
                )
        else:
            self._error(404, f"Route {self.path} not found", "not_found_error")

    def do_POST(self) -> None:
        body = self._body()
        self._record("POST", body)
        if self.path != PREFIX + "/chat/completions":
            self._error(404, f"Route {self.path} not found", "not_found_error")
        elif not self._authorized():
            pass
        elif not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            self._error(400, "'messages' is a required property", "invalid_request_error")
        else:
            self._chat(body)

    # -- shapes ------------------------------------------------------------

    def _model(self, name: str) -> dict[str, Any]:
        return {"id": name, "object": "model", "created": 1735689600, "owned_by": "vllm"}

    def _chunk(self, model: str, delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }

    def _event(self, payload: Any) -> None:
        data = payload if isinstance(payload, str) else json.dumps(payload)
        self._write_chunk(f"data: {data}\n\n".encode())

    def _chat(self, body: dict[str, Any]) -> None:
        fake = self.fake
        model = str(body.get("model") or "")
        if model not in fake.models:
            # vLLM's wording; other servers word it differently.
            self._error(404, f"The model `{model}` does not exist.", "NotFoundError")
            return
        if fake.fault == "http_500":
            self._error(500, "CUDA error: an illegal memory access was encountered", "server_error")
            return
        if not body.get("stream"):  # OpenAI answers whole unless asked to stream
            message = {"role": "assistant", "content": fake.completion}
            choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}
            self._send_json(
                200,
                {
                    "id": "chatcmpl-fake",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": model,
                    "choices": [choice],
                    "usage": {"prompt_tokens": 26, "completion_tokens": 8, "total_tokens": 34},
                },
            )
            return

        self._start_stream("text/event-stream; charset=utf-8")
        self._event(self._chunk(model, {"role": "assistant", "content": ""}, None))
        pieces = fake.reply if fake.fault is None else fake.reply[: fake.fault_after]
        for piece in pieces:
            self._event(self._chunk(model, {"content": piece}, None))
        if fake.fault == "cut":
            self._cut()
        elif fake.fault == "stall":
            self._stall(fake.stall_s)
        elif fake.fault == "error_event":
            self._event(
                {
                    "error": {
                        "message": "Engine loop has died",
                        "type": "InternalServerError",
                        "code": 500,
                    }
                }
            )
            self._event("[DONE]")
            self._end_stream()
        else:
            self._event(self._chunk(model, {}, "stop"))
            self._event("[DONE]")
            self._end_stream()


FakeOpenAI.handler = _Handler
