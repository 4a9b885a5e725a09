"""The Ollama backend through the real CLI, against a fake Ollama on loopback.

Retrieval is real (the bundled index, MiniLM, Chroma); only the Ollama server
is fake (tests/ollama_server.py), and it speaks the real HTTP protocol, so the
real `ollama` client and httpx meet real status codes, cut streams and silence.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import closed_port, run_cli
from ollama_server import FakeOllama
from typer.testing import CliRunner

from assistant.cli.app import app

QUESTION = "What are neural differential equations?"
MODEL = "llama3.2"
# "[2" and "]" arrive in different pieces; [9] names no retrieved abstract.
REPLY = [
    "Neural differential equations join dynamical systems and deep learning [2",
    "]. A survey covers the field [1][9]. ",
    "They are trained with adjoint methods [2].",
]
# [2] is cited first, so it is shown as [1]; [1] becomes [2]; [9] is dropped.
SHOWN = (
    "Neural differential equations join dynamical systems and deep learning [1]. "
    "A survey covers the field [2]. They are trained with adjoint methods [1]."
)

Serve = Callable[..., FakeOllama]


@pytest.fixture(autouse=True)
def answers_as_the_backend_sent_them(monkeypatch: pytest.MonkeyPatch) -> None:
    # These tests hold the transport and the citation stream to what the server
    # sent; checking each sentence against the abstracts (which would mark these
    # scripted sentences) is tested in tests/test_verify.py, on this backend too.
    monkeypatch.setenv("ASSISTANT_CHECK_ANSWERS", "false")


@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch) -> Iterator[Serve]:
    """Start a FakeOllama configured by the test and point OLLAMA_HOST at it."""
    started: list[FakeOllama] = []

    def start(reply: list[str] = REPLY, **options: Any) -> FakeOllama:
        server = FakeOllama(reply, **options).start()
        started.append(server)
        monkeypatch.setenv("OLLAMA_HOST", server.url)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def invoke(bundled_home: Path) -> Callable[..., Any]:
    """`assistant ...` in-process on the bundled index."""
    runner = CliRunner()

    def call(*args: str) -> Any:
        return runner.invoke(app, list(args))

    return call


def ask_ollama(*extra: str) -> list[str]:
    return ["ask", QUESTION, "--backend", "ollama", "--model", MODEL, *extra]


def titles(server: FakeOllama) -> dict[int, str]:
    """The numbered titles the app sent to Ollama, from the recorded request."""
    (request,) = server.chat_requests()
    user = request["messages"][-1]["content"]
    found = dict(re.findall(r'<abstract number="(\d+)">\nTitle: (.*)\n', user))
    return {int(n): title for n, title in found.items()}


def sources_block(stdout: str) -> list[str]:
    """The lines of the Sources list."""
    assert "\nSources:\n" in stdout, stdout
    tail = stdout.split("\nSources:\n", 1)[1]
    return [line for line in tail.splitlines() if line.startswith("  [")]


def assert_sources(stdout: str, expected: list[str]) -> None:
    lines = sources_block(stdout)
    assert len(lines) == len(expected), lines
    for number, (line, title) in enumerate(zip(lines, expected, strict=True), start=1):
        assert line.startswith(f"  [{number}] {title} ("), (line, title)


# -- a normal answer -----------------------------------------------------------


def test_streamed_answer_keeps_only_resolving_citations(serve: Serve, invoke: Any) -> None:
    server = serve()

    result = invoke(*ask_ollama())

    assert result.exit_code == 0, result.stderr
    named = titles(server)
    assert sorted(named) == [1, 2, 3, 4, 5]
    assert result.stdout.startswith(SHOWN + "\n")
    assert "[9]" not in result.stdout
    assert_sources(result.stdout, [named[2], named[1]])
    for unused in (3, 4, 5):
        assert named[unused] not in result.stdout
    assert f"Backend: ollama ({MODEL})" in result.stderr
    assert "Note: dropped citation(s) [9]: they name no retrieved abstract." in result.stderr
    assert "Error" not in result.stderr


def test_json_answer_schema(serve: Serve, invoke: Any) -> None:
    server = serve()

    result = invoke(*ask_ollama("--json"))

    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    named = titles(server)
    assert data["answer"] == SHOWN
    assert data["answered"] is True
    assert data["backend"] == "ollama"
    assert data["model"] == MODEL
    assert data["incomplete"] is False
    assert data["error"] is None
    assert data["dropped_citations"] == [9]
    assert [(s["number"], s["title"]) for s in data["sources"]] == [
        (1, named[2]),
        (2, named[1]),
    ]
    assert [h["title"] for h in data["retrieved"]] == [named[n] for n in range(1, 6)]
    # --json keeps stdout to the JSON document alone.
    assert "Backend:" not in result.stderr


def test_request_sent_to_ollama(serve: Serve, invoke: Any) -> None:
    server = serve()

    result = invoke(*ask_ollama())

    assert result.exit_code == 0, result.stderr
    (request,) = server.chat_requests()
    assert request["model"] == MODEL
    assert request["stream"] is True
    assert request["options"] == {"temperature": 0.1, "num_predict": 400}
    system, user = request["messages"]
    assert system["role"] == "system"
    assert user["role"] == "user"
    assert "Cite only the numbers of the abstracts you were given." in system["content"]
    assert "reply exactly: The abstracts do not say." in system["content"]
    # The abstracts are data in the user turn, each in its own numbered tag.
    assert "<abstract number=" not in system["content"]
    for n in range(1, 6):
        assert f'<abstract number="{n}">\nTitle: ' in user["content"]
    assert user["content"].count("</abstract>") == 5
    assert user["content"].rstrip().endswith(f"Question: {QUESTION}")


# -- the server is missing or misbehaves ---------------------------------------


def test_connection_refused_exits_4(invoke: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    port = closed_port()
    monkeypatch.setenv("OLLAMA_HOST", f"http://127.0.0.1:{port}")

    result = invoke(*ask_ollama())

    assert result.exit_code == 4, result.stderr
    lines = result.stderr.splitlines()
    assert f"Error: Ollama is not reachable at http://127.0.0.1:{port}" in lines
    assert lines[-1].startswith("Hint: ")
    assert "ollama serve" in lines[-1]
    assert "--backend llamacpp" in lines[-1]
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_connection_refused_exit_code_of_real_process(
    bundled_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = closed_port()
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{port}")  # Ollama's own host:port form

    proc = run_cli(*ask_ollama(), timeout=120)

    assert proc.returncode == 4, proc.stderr
    assert f"Error: Ollama is not reachable at http://127.0.0.1:{port}\n" in proc.stderr
    assert "\nHint: " in proc.stderr
    assert "Traceback" not in proc.stderr


def test_unknown_model_exits_5(serve: Serve, invoke: Any) -> None:
    server = serve(models=["mistral:latest"])

    result = invoke(*ask_ollama())

    assert result.exit_code == 5, result.stderr
    assert f"Error: Ollama at {server.url} does not have the model '{MODEL}'." in result.stderr
    assert f'Hint: Pull it with "ollama pull {MODEL}"' in result.stderr
    assert [r["model"] for r in server.chat_requests()] == [MODEL]


def test_http_500_exits_6(serve: Serve, invoke: Any) -> None:
    serve(fault="http_500")

    result = invoke(*ask_ollama())

    assert result.exit_code == 6, result.stderr
    message = (
        "Ollama answered HTTP 500 while answering: "
        "llama runner process has terminated: signal: killed"
    )
    assert f"Error: {message}" in result.stderr.splitlines()
    assert f"[answer incomplete: {message}]" in result.stdout
    assert "Sources:" not in result.stdout


def test_error_line_mid_stream_exits_6(serve: Serve, invoke: Any) -> None:
    serve(fault="error_line", fault_after=1)

    result = invoke(*ask_ollama())

    assert result.exit_code == 6, result.stderr
    message = (
        "Ollama reported an error while answering: an error was encountered while running the model"
    )
    assert f"Error: {message}" in result.stderr.splitlines()
    assert "HTTP -1" not in result.stderr


def test_stream_cut_keeps_partial_answer_and_exits_6(serve: Serve, bundled_home: Path) -> None:
    server = serve(fault="cut", fault_after=2)

    # A real child process: the exit code is what a shell script would see.
    proc = run_cli(*ask_ollama(), timeout=120)

    assert proc.returncode == 6, proc.stderr
    partial = "Neural differential equations join dynamical systems and deep learning [1]. "
    assert proc.stdout.startswith(partial + "A survey covers the field [2]. \n")
    assert "adjoint" not in proc.stdout  # the piece after the cut never arrived
    assert "[9]" not in proc.stdout
    broke = "The connection to Ollama broke while answering: peer closed connection"
    assert f"[answer incomplete: {broke}" in proc.stdout
    named = titles(server)
    assert_sources(proc.stdout, [named[2], named[1]])
    assert f"\nError: {broke}" in proc.stderr
    assert "Note: dropped citation(s) [9]" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_silent_server_times_out_and_exits_6(serve: Serve, invoke: Any) -> None:
    serve(fault="stall", fault_after=1, stall_s=30)

    started = time.monotonic()
    result = invoke(*ask_ollama("--timeout", "1", "--json"))
    elapsed = time.monotonic() - started

    assert result.exit_code == 6, result.stderr
    message = "Ollama sent nothing for 1 s while answering."
    assert f"Error: {message}" in result.stderr.splitlines()
    data = json.loads(result.stdout)
    assert data["incomplete"] is True
    assert data["error"] == message
    assert data["answer"].startswith("Neural differential equations join")
    # One second of silence after the first piece, not the server's thirty.
    silence = data["timings"]["total_s"] - data["timings"]["first_token_s"]
    assert 0.9 <= silence < 3.0
    assert elapsed < 20


# -- --backend auto ------------------------------------------------------------


def test_auto_uses_ollama_when_it_has_the_model(serve: Serve, invoke: Any) -> None:
    server = serve()

    result = invoke("ask", QUESTION, "--backend", "auto", "--model", MODEL)

    assert result.exit_code == 0, result.stderr
    assert f"Backend: ollama ({MODEL})" in result.stderr
    assert server.paths() == ["/api/show", "/api/chat"]
    assert server.bodies("/api/show") == [{"model": MODEL}]
    assert result.stdout.startswith(SHOWN)


def test_auto_falls_back_to_llamacpp_without_the_model(
    serve: Serve, invoke: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = serve(models=["mistral:latest"])
    monkeypatch.setenv("ASSISTANT_MAX_ANSWER_TOKENS", "48")

    result = invoke("ask", QUESTION, "--backend", "auto")

    assert result.exit_code == 0, result.stderr
    assert "Backend: llamacpp (" in result.stderr
    assert "Backend: ollama" not in result.stderr
    # Asked about the default model, found it missing, never asked it to answer.
    assert server.bodies("/api/show") == [{"model": MODEL}]
    assert server.chat_requests() == []


# -- the backend on its own ----------------------------------------------------


def test_complete_is_one_non_streaming_request(serve: Serve, bundled_home: Path) -> None:
    from assistant.backends.ollama import OllamaBackend
    from assistant.settings import load_settings

    server = serve(reply=["What are ", "neural ODEs?"])
    backend = OllamaBackend(load_settings(), MODEL)

    backend.check()
    text = backend.complete("Rewrite: and those?", 32)

    assert text == "What are neural ODEs?"
    (request,) = server.chat_requests()
    assert request["stream"] is False
    assert request["options"]["num_predict"] == 32
    assert request["messages"] == [{"role": "user", "content": "Rewrite: and those?"}]


# -- doctor: the backend's own probe ----------------------------------------------


def _doctor_lines(invoke: Callable[..., Any]) -> tuple[int, list[str]]:
    result = invoke("doctor")
    return result.exit_code, result.stdout.splitlines()


def test_doctor_reports_ollama_with_the_model(
    serve: Serve, invoke: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = serve()
    monkeypatch.setenv("ASSISTANT_BACKEND", "ollama")
    code, lines = _doctor_lines(invoke)
    assert f"[ok  ] ollama: reachable at {server.url}, model '{MODEL}' present" in lines
    assert code == 0


def test_doctor_names_the_missing_model_and_the_pull_command(
    serve: Serve, invoke: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = serve(models=["other:latest"])
    monkeypatch.setenv("ASSISTANT_BACKEND", "ollama")
    code, lines = _doctor_lines(invoke)
    assert f"[FAIL] ollama: Ollama at {server.url} does not have the model '{MODEL}'." in lines
    hint = f'Hint: Pull it with "ollama pull {MODEL}", or choose another with --model.'
    assert f"       {hint}" in lines
    assert code == 3


def test_doctor_with_auto_says_ollama_is_not_used_when_it_is_down(
    invoke: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from assistant.settings import load_settings

    host = load_settings().ollama_host  # conftest points it at a closed loopback port
    monkeypatch.setenv("ASSISTANT_BACKEND", "auto")
    _, lines = _doctor_lines(invoke)
    assert (
        f"[ok  ] ollama: not used (Ollama is not reachable at {host}); "
        "auto will answer with llamacpp"
    ) in lines
    assert any(line.startswith("[ok  ] llamacpp: ") for line in lines)


def test_a_connection_error_raised_while_handling_ctrl_c_counts_as_ctrl_c() -> None:
    """httpx closing a stream on the way out of Ctrl-C can raise "peer closed
    connection"; that is still the user's interrupt (exit 130), not a backend fault."""
    from assistant.backends import interrupted

    try:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise ConnectionError("peer closed connection") from None
    except ConnectionError as exc:
        assert interrupted(exc)
    assert not interrupted(ConnectionError("peer closed connection"))
