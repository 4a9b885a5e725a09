"""A fake Ollama server on loopback, speaking Ollama's HTTP API shapes.

No Ollama binary can run here, so tests talk to this instead: the real
`ollama` client and httpx on one side, a real socket in between. Streams are
NDJSON over HTTP/1.1 chunked transfer encoding, as Ollama sends them, so a
cut stream is a real protocol error for the client, not a patched exception.

    with FakeOllama(reply=["Dropout helps [1]."]) as server:
        os.environ["OLLAMA_HOST"] = server.url
        ...
        assert server.chat_requests()[0]["stream"] is True

The server plumbing (thread, recording, chunked writes, cuts) is in fake_http.py,
shared with the fake OpenAI-compatible server.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Literal

from fake_http import FakeHandler, LoopbackServer, Recorded

__all__ = ["DEFAULT_MODEL", "FakeOllama", "Fault", "Recorded"]

Fault = Literal["http_500", "cut", "stall", "error_line"]

VERSION = "0.6.5"
DEFAULT_MODEL = "llama3.2:latest"


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _details() -> dict[str, Any]:
    return {
        "parent_model": "",
        "format": "gguf",
        "family": "llama",
        "families": ["llama"],
        "parameter_size": "3.2B",
        "quantization_level": "Q4_K_M",
    }


class FakeOllama(LoopbackServer):
    """A scripted Ollama server in a daemon thread; a context manager.

    Args:
        reply: the content pieces /api/chat streams, one NDJSON line each.
        models: model names the server has ("x" also matches "x:latest").
        fault: None, or how /api/chat misbehaves:
            "http_500"   answers HTTP 500 with an Ollama error body;
            "cut"        streams `fault_after` pieces, then closes the socket
                         without the terminating chunk and without a done line;
            "stall"      streams `fault_after` pieces, then sends nothing for
                         `stall_s` seconds (longer than the client's timeout);
            "error_line" streams `fault_after` pieces, then an {"error": ...}
                         line, as Ollama does when its runner dies mid-answer.
        fault_after: pieces sent before the fault strikes.
        stall_s: how long "stall" stays silent (stop() ends it early).
    """

    thread_name = "fake-ollama"

    def __init__(
        self,
        reply: Iterable[str] = ("The abstracts do not say.",),
        *,
        models: Iterable[str] = (DEFAULT_MODEL,),
        fault: Fault | None = None,
        fault_after: int = 1,
        stall_s: float = 30.0,
    ) -> None:
        super().__init__()
        self.reply = list(reply)
        self.models = list(models)
        self.fault = fault
        self.fault_after = fault_after
        self.stall_s = stall_s

    def chat_requests(self) -> list[dict[str, Any]]:
        return self.bodies("/api/chat")

    def has(self, name: str) -> bool:
        return name in self.models or (":" not in name and f"{name}:latest" in self.models)


class _Handler(FakeHandler):
    fake: FakeOllama
    server_version = "FakeOllama/" + VERSION

    def _chunk(self, payload: dict[str, Any]) -> None:
        self._write_chunk((json.dumps(payload) + "\n").encode())

    # -- routes ------------------------------------------------------------

    def do_GET(self) -> None:
        self._record("GET")
        if self.path == "/":
            self._send_text(200, "Ollama is running")
        elif self.path == "/api/version":
            self._send_json(200, {"version": VERSION})
        elif self.path == "/api/tags":
            self._send_json(200, {"models": [self._tag(name) for name in self.fake.models]})
        else:
            self._send_text(404, "404 page not found")

    def do_POST(self) -> None:
        body = self._body()
        self._record("POST", body)
        if not isinstance(body, dict):
            self._send_json(400, {"error": "invalid request body"})
        elif self.path == "/api/show":
            self._show(body)
        elif self.path == "/api/chat":
            self._chat(body)
        else:
            self._send_text(404, "404 page not found")

    def _tag(self, name: str) -> dict[str, Any]:
        return {
            "name": name,
            "model": name,
            "modified_at": _now(),
            "size": 2019393189,
            "digest": "a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72",
            "details": _details(),
        }

    def _show(self, body: dict[str, Any]) -> None:
        name = str(body.get("model") or body.get("name") or "")
        if not self.fake.has(name):
            self._send_json(404, {"error": f"model '{name}' not found"})
            return
        self._send_json(
            200,
            {
                "license": "LLAMA 3.2 COMMUNITY LICENSE AGREEMENT",
                "modelfile": f"FROM {name}\n",
                "parameters": 'stop "<|eot_id|>"',
                "template": "{{ .Prompt }}",
                "details": _details(),
                "model_info": {
                    "general.architecture": "llama",
                    "general.parameter_count": 3212749888,
                    "llama.context_length": 131072,
                },
                "capabilities": ["completion", "tools"],
                "modified_at": _now(),
            },
        )

    def _part(self, model: str, content: str) -> dict[str, Any]:
        return {
            "model": model,
            "created_at": _now(),
            "message": {"role": "assistant", "content": content},
            "done": False,
        }

    def _final(self, model: str, content: str) -> dict[str, Any]:
        return {
            "model": model,
            "created_at": _now(),
            "message": {"role": "assistant", "content": content},
            "done": True,
            "done_reason": "stop",
            "total_duration": 4883583458,
            "load_duration": 1334875,
            "prompt_eval_count": 26,
            "prompt_eval_duration": 342546000,
            "eval_count": max(1, len(self.fake.reply)),
            "eval_duration": 4535599000,
        }

    def _chat(self, body: dict[str, Any]) -> None:
        fake = self.fake
        model = str(body.get("model") or "")
        if not fake.has(model):
            self._send_json(404, {"error": f'model "{model}" not found, try pulling it first'})
            return
        if fake.fault == "http_500":
            self._send_json(500, {"error": "llama runner process has terminated: signal: killed"})
            return
        if body.get("stream") is False:  # Ollama streams unless told not to
            self._send_json(200, self._final(model, "".join(fake.reply)))
            return

        self._start_stream("application/x-ndjson")
        pieces = fake.reply if fake.fault is None else fake.reply[: fake.fault_after]
        for piece in pieces:
            self._chunk(self._part(model, piece))
        if fake.fault == "cut":
            self._cut()
        elif fake.fault == "stall":
            self._stall(fake.stall_s)
        elif fake.fault == "error_line":
            self._chunk({"error": "an error was encountered while running the model"})
            self._end_stream()
        else:
            self._chunk(self._final(model, ""))
            self._end_stream()


FakeOllama.handler = _Handler
