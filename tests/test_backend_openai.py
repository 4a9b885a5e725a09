"""The openai backend through the real CLI, against a fake OpenAI-compatible
server on loopback.

Retrieval is real (the bundled index, MiniLM, Chroma); only the server is fake
(tests/openai_server.py), and it speaks the real protocol (JSON, Server-Sent
Events over chunked HTTP), so the real httpx client meets real status codes,
cut streams and silence.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import closed_port, run_cli
from openai_server import DEFAULT_MODEL, FakeOpenAI
from test_backend_ollama import assert_sources, titles
from typer.testing import CliRunner

from assistant.cli.app import app

QUESTION = "What are neural differential equations?"
MODEL = DEFAULT_MODEL
KEY = "sk-test-5f1c9a"
CHAT = "/v1/chat/completions"
# "[2" and "]" arrive in different events; [7] names no retrieved abstract.
REPLY = [
    "Neural differential equations join dynamical systems and deep learning [2",
    "]. A survey covers the field [1][7]. ",
    "They are trained with adjoint methods [2].",
]
# [2] is cited first, so it is shown as [1]; [1] becomes [2]; [7] is dropped.
PARTIAL = (
    "Neural differential equations join dynamical systems and deep learning [1]. "
    "A survey covers the field [2]."
)
SHOWN = PARTIAL + " They are trained with adjoint methods [1]."

Serve = Callable[..., FakeOpenAI]


@pytest.fixture(autouse=True)
def answers_as_the_backend_sent_them(monkeypatch: pytest.MonkeyPatch) -> None:
    # These tests hold the transport and the citation stream to what the server
    # sent; checking each sentence against the abstracts (which would mark these
    # scripted sentences) is tested in tests/test_verify.py, on this backend too.
    monkeypatch.setenv("ASSISTANT_CHECK_ANSWERS", "false")


@pytest.fixture(autouse=True)
def no_key_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # A developer's real key must never reach a test server, nor decide a test.
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch) -> Iterator[Serve]:
    """Start a FakeOpenAI configured by the test and point the base URL at it."""
    started: list[FakeOpenAI] = []

    def start(reply: list[str] = REPLY, **options: Any) -> FakeOpenAI:
        server = FakeOpenAI(reply, **options).start()
        started.append(server)
        monkeypatch.setenv("ASSISTANT_OPENAI_BASE_URL", server.base_url)
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


def ask_openai(*extra: str) -> list[str]:
    return ["ask", QUESTION, "--backend", "openai", "--model", MODEL, *extra]


def error_lines(stderr: str) -> tuple[str, str]:
    """The Error and Hint lines, which must end stderr, without their labels."""
    *_, error, hint = stderr.splitlines()
    assert error.startswith("Error: "), stderr
    assert hint.startswith("Hint: "), stderr
    return error[len("Error: ") :], hint[len("Hint: ") :]


# -- a normal answer -----------------------------------------------------------


def test_streamed_answer_keeps_only_resolving_citations(serve: Serve, invoke: Any) -> None:
    server = serve()

    result = invoke(*ask_openai())

    assert result.exit_code == 0, result.stderr
    named = titles(server)
    assert sorted(named) == [1, 2, 3, 4, 5]
    assert result.stdout.startswith(SHOWN + "\n")
    assert "[7]" not in result.stdout
    assert_sources(result.stdout, [named[2], named[1]])
    for unused in (3, 4, 5):
        assert named[unused] not in result.stdout
    assert f"Backend: openai ({MODEL})" in result.stderr
    assert "Note: dropped citation(s) [7]: they name no retrieved abstract." in result.stderr
    assert "Error" not in result.stderr
    # Nothing asked the model list: --model was given, and ask does not probe.
    assert server.paths() == [CHAT]


def test_request_sent_without_a_key_has_no_authorization(serve: Serve, invoke: Any) -> None:
    server = serve()

    result = invoke(*ask_openai("--json"))

    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert (data["backend"], data["model"], data["answer"]) == ("openai", MODEL, SHOWN)
    assert data["incomplete"] is False
    (request,) = server.chat_requests()
    assert request["model"] == MODEL
    assert request["stream"] is True
    assert request["temperature"] == 0.1
    assert request["max_tokens"] == 400
    system, user = request["messages"]
    assert (system["role"], user["role"]) == ("system", "user")
    assert "Cite only the numbers of the abstracts you were given." in system["content"]
    assert user["content"].count("</abstract>") == 5
    assert user["content"].rstrip().endswith(f"Question: {QUESTION}")
    assert server.authorizations() == [None]


def test_api_key_is_read_from_the_named_variable_and_sent_as_bearer(
    serve: Serve, invoke: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = serve(api_key=KEY)
    monkeypatch.setenv("LAB_LLM_KEY", KEY)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-not-this-one")
    monkeypatch.setenv("ASSISTANT_OPENAI_API_KEY_ENV", "LAB_LLM_KEY")

    result = invoke(*ask_openai())

    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(SHOWN + "\n")
    assert server.authorizations() == [f"Bearer {KEY}"]
    assert KEY not in result.stdout + result.stderr


def test_config_show_names_the_key_variable_never_the_key(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("ASSISTANT_OPENAI_BASE_URL", "http://10.0.0.5:8000/v1/")
    monkeypatch.setenv("ASSISTANT_OPENAI_MODEL", MODEL)

    result = CliRunner().invoke(app, ["config", "show", "--backend", "openai", "--json"])

    assert result.exit_code == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["backend"] == {"value": "openai", "source": "flag"}
    assert shown["openai_base_url"] == {
        "value": "http://10.0.0.5:8000/v1",  # the trailing slash is dropped
        "source": "env ASSISTANT_OPENAI_BASE_URL",
    }
    assert shown["openai_model"] == {"value": MODEL, "source": "env ASSISTANT_OPENAI_MODEL"}
    assert shown["openai_api_key_env"] == {"value": "OPENAI_API_KEY", "source": "default"}
    assert KEY not in result.stdout


def test_a_key_pasted_as_the_variable_name_is_refused_unprinted(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASSISTANT_OPENAI_API_KEY_ENV", KEY)

    result = CliRunner().invoke(app, ["config", "show"])

    assert result.exit_code == 3, result.output
    assert "openai_api_key_env: Value error, must be the name of an environment variable" in (
        result.stderr
    )
    assert KEY not in result.output


def test_model_defaults_to_the_only_one_served(serve: Serve, invoke: Any) -> None:
    server = serve()

    result = invoke("ask", QUESTION, "--backend", "openai")

    assert result.exit_code == 0, result.stderr
    assert f"Backend: openai ({MODEL})" in result.stderr
    assert server.paths() == ["/v1/models", CHAT]
    assert server.chat_requests()[0]["model"] == MODEL


def test_no_model_chosen_among_several_exits_5(serve: Serve, invoke: Any) -> None:
    server = serve(models=["llama-3.2-3b", "qwen2.5-7b"])

    result = invoke("ask", QUESTION, "--backend", "openai")

    assert result.exit_code == 5, result.stderr
    assert error_lines(result.stderr) == (
        f"No model chosen, and the server at {server.base_url} serves 2: llama-3.2-3b, qwen2.5-7b.",
        "Choose one with --model NAME or ASSISTANT_OPENAI_MODEL.",
    )
    assert server.chat_requests() == []


# -- the server is missing, refuses us or misbehaves ---------------------------


def test_connection_refused_exits_4(bundled_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"http://127.0.0.1:{closed_port()}/v1"
    monkeypatch.setenv("ASSISTANT_OPENAI_BASE_URL", url)

    # A real child process: the exit code is what a shell script would see.
    proc = run_cli(*ask_openai(), timeout=120)

    assert proc.returncode == 4, proc.stderr
    error, hint = error_lines(proc.stderr)
    assert error == f"No OpenAI-compatible server is reachable at {url}"
    assert "ASSISTANT_OPENAI_BASE_URL" in hint
    assert "--backend llamacpp" in hint
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""


def test_unknown_model_exits_5(serve: Serve, invoke: Any) -> None:
    server = serve(models=["llama-3.2-3b"])

    result = invoke(*ask_openai())

    assert result.exit_code == 5, result.stderr
    assert error_lines(result.stderr) == (
        f"The server at {server.base_url} does not serve the model '{MODEL}'.",
        "It serves: llama-3.2-3b. Choose one with --model NAME or ASSISTANT_OPENAI_MODEL.",
    )
    # The chat request got vLLM's 404; the model list told which kind it was.
    assert server.paths() == [CHAT, "/v1/models"]
    assert result.stdout == ""


def test_base_url_without_the_api_path_exits_4(
    serve: Serve, invoke: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = serve()
    monkeypatch.setenv("ASSISTANT_OPENAI_BASE_URL", server.url)  # forgot the /v1

    result = invoke(*ask_openai())

    assert result.exit_code == 4, result.stderr
    error, hint = error_lines(result.stderr)
    assert error == (
        f"{server.url}/models does not exist: this is not the base URL of an OpenAI-compatible API."
    )
    assert "usually ending in /v1" in hint


def test_missing_key_exits_4_naming_the_variable(serve: Serve, invoke: Any) -> None:
    server = serve(api_key=KEY)

    result = invoke(*ask_openai())

    assert result.exit_code == 4, result.stderr
    assert error_lines(result.stderr) == (
        f"The server at {server.base_url} wants an API key (HTTP 401: Invalid API Key), "
        "and $OPENAI_API_KEY is not set.",
        "Put the key in the environment variable OPENAI_API_KEY, "
        "or name another variable with ASSISTANT_OPENAI_API_KEY_ENV.",
    )
    assert server.authorizations() == [None]


def test_wrong_key_exits_4_without_printing_it(
    serve: Serve, invoke: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = serve(api_key=KEY)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong-0000")

    result = invoke(*ask_openai())

    assert result.exit_code == 4, result.stderr
    error, hint = error_lines(result.stderr)
    assert error == (
        f"The server at {server.base_url} refused the API key in $OPENAI_API_KEY "
        "(HTTP 401: Invalid API Key)."
    )
    assert hint.startswith("Check the key in OPENAI_API_KEY")
    assert "sk-wrong-0000" not in result.output
    assert server.authorizations() == ["Bearer sk-wrong-0000"]


def test_http_500_exits_6(serve: Serve, invoke: Any) -> None:
    server = serve(fault="http_500")

    result = invoke(*ask_openai())

    assert result.exit_code == 6, result.stderr
    message = (
        f"The server at {server.base_url} answered HTTP 500 while answering: "
        "CUDA error: an illegal memory access was encountered"
    )
    assert error_lines(result.stderr)[0] == message
    assert f"[answer incomplete: {message}]" in result.stdout
    assert "Sources:" not in result.stdout


def test_error_event_mid_stream_exits_6(serve: Serve, invoke: Any) -> None:
    server = serve(fault="error_event", fault_after=1)

    result = invoke(*ask_openai())

    assert result.exit_code == 6, result.stderr
    message = (
        f"The server at {server.base_url} reported an error while answering: Engine loop has died"
    )
    assert error_lines(result.stderr)[0] == message
    assert result.stdout.startswith("Neural differential equations join dynamical systems")
    assert f"[answer incomplete: {message}]" in result.stdout


def test_stream_cut_keeps_partial_answer_and_exits_6(serve: Serve, bundled_home: Path) -> None:
    server = serve(fault="cut", fault_after=2)

    proc = run_cli(*ask_openai(), timeout=120)

    assert proc.returncode == 6, proc.stderr
    assert proc.stdout.startswith(PARTIAL + " \n")
    assert "adjoint" not in proc.stdout  # the piece after the cut never arrived
    broke = (
        f"The connection to the server at {server.base_url} broke while answering: "
        "peer closed connection"
    )
    assert f"[answer incomplete: {broke}" in proc.stdout
    named = titles(server)
    assert_sources(proc.stdout, [named[2], named[1]])
    assert f"\nError: {broke}" in proc.stderr
    assert "Note: dropped citation(s) [7]" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_silent_server_times_out_and_exits_6(serve: Serve, invoke: Any) -> None:
    server = serve(fault="stall", fault_after=1, stall_s=30)

    started = time.monotonic()
    result = invoke(*ask_openai("--timeout", "1", "--json"))
    elapsed = time.monotonic() - started

    assert result.exit_code == 6, result.stderr
    message = f"The server at {server.base_url} sent nothing for 1 s while answering."
    assert error_lines(result.stderr) == (
        message,
        "Raise the limit with --timeout or ASSISTANT_TIMEOUT_S, or use a smaller model.",
    )
    data = json.loads(result.stdout)
    assert data["incomplete"] is True
    assert data["error"] == message
    assert data["answer"].startswith("Neural differential equations join")
    # One second of silence after the first piece, not the server's thirty.
    silence = data["timings"]["total_s"] - data["timings"]["first_token_s"]
    assert 0.9 <= silence < 3.0
    assert elapsed < 20


# -- chat and doctor -------------------------------------------------------------


def test_chat_rewrites_a_follow_up_with_the_server(serve: Serve, bundled_home: Path) -> None:
    follow_up = "What about their solver heuristics?"
    rewritten = "How do neural differential equations use solver heuristics?"
    server = serve(completion=rewritten + "\n")
    script = f"{QUESTION}\n{follow_up}\n"

    proc = run_cli("chat", "--backend", "openai", "--model", MODEL, input=script, timeout=120)

    assert proc.returncode == 0, proc.stderr
    assert f"answers by openai ({MODEL})" in proc.stderr
    assert f"(searched for: {rewritten})" in proc.stderr.splitlines()
    first, rewrite, second = server.chat_requests()
    assert (first["stream"], rewrite["stream"], second["stream"]) == (True, False, True)
    (turn,) = rewrite["messages"]
    assert f"Follow-up question: {follow_up}" in turn["content"]
    assert rewrite["max_tokens"] == 96
    assert proc.stdout.count(SHOWN) == 2


def test_doctor_reports_the_openai_server(
    serve: Serve, invoke: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = serve(api_key=KEY)
    monkeypatch.setenv("ASSISTANT_BACKEND", "openai")
    monkeypatch.setenv("OPENAI_API_KEY", KEY)

    result = invoke("doctor")

    assert result.exit_code == 0, result.stdout
    assert (
        f"[ok  ] openai: reachable at {server.base_url}, model '{MODEL}' served; "
        "API key from $OPENAI_API_KEY"
    ) in result.stdout.splitlines()
    assert "ollama" not in result.stdout
    assert "llamacpp" not in result.stdout
    # Only the model list is asked (to pick the model, then to check it), with the key.
    assert set(server.paths()) == {"/v1/models"}
    assert set(server.authorizations()) == {f"Bearer {KEY}"}


def test_doctor_shows_the_fix_when_the_model_is_missing(
    serve: Serve, invoke: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = serve(models=["llama-3.2-3b"])
    monkeypatch.setenv("ASSISTANT_BACKEND", "openai")
    monkeypatch.setenv("ASSISTANT_OPENAI_MODEL", MODEL)

    result = invoke("doctor")

    assert result.exit_code == 3, result.stdout
    lines = result.stdout.splitlines()
    failed = f"[FAIL] openai: The server at {server.base_url} does not serve the model '{MODEL}'."
    assert failed in lines
    assert lines[lines.index(failed) + 1] == (
        "       Hint: It serves: llama-3.2-3b. "
        "Choose one with --model NAME or ASSISTANT_OPENAI_MODEL."
    )


# -- the backend on its own ----------------------------------------------------


def test_complete_is_one_non_streaming_request(serve: Serve, isolated_home: Path) -> None:
    from assistant.backends.openai import OpenAIBackend
    from assistant.settings import load_settings

    server = serve(completion="What are neural ODEs?")
    backend = OpenAIBackend(load_settings(), MODEL)

    backend.check()
    text = backend.complete("Rewrite: and those?", 32)

    assert text == "What are neural ODEs?"
    assert server.paths() == ["/v1/models", CHAT]
    (request,) = server.chat_requests()
    assert request["stream"] is False
    assert request["max_tokens"] == 32
    assert request["messages"] == [{"role": "user", "content": "Rewrite: and those?"}]


@pytest.mark.parametrize(
    ("body", "events"),
    [
        ('data: {"a": 1}\n\ndata: [DONE]\n\n', ['{"a": 1}', "[DONE]"]),
        # Comments and other fields are skipped; a multi-line event is joined.
        (": ping\nevent: message\nid: 3\ndata:x\ndata: y\n\n", ["x\ny"]),
        ("data: last-without-blank-line", ["last-without-blank-line"]),
        ("\r\n\r\ndata: crlf\r\n\r\n", ["crlf"]),
    ],
)
def test_sse_data(body: str, events: list[str]) -> None:
    import httpx

    from assistant.backends.openai import sse_data

    lines = httpx.Response(200, content=body.encode()).iter_lines()
    assert list(sse_data(lines)) == events
