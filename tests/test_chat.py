"""`assistant chat`: follow-ups rewritten with the conversation, slash commands,
a real terminal (line editing, saved history, Ctrl-D), and Ctrl-C that stops an
answer but keeps the session."""

from __future__ import annotations

import fcntl
import io
import os
import re
import select
import signal
import stat
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import cli_env, default_sigint, run_cli
from pseudo_terminal import plain
from typer.testing import CliRunner

from assistant.answering.chat import HELP, ChatSession, needs_context
from assistant.backends import REGISTRY, AnswerRequest
from assistant.cli.app import app
from assistant.domain import Answer
from assistant.errors import BackendFailedError
from assistant.pipeline import Pipeline
from assistant.settings import load_settings

FIRST = "Which paper introduces Layer Normalization?"
FOLLOW_UP = "What problem with batch normalization do they address?"
LAYER_NORM_SOURCE = "] Layer Normalization ("


def _answers(stdout: str) -> list[str]:
    """The stdout of each extractive answer, in order."""
    from assistant.backends.extractive import LABEL

    return [LABEL + part for part in stdout.split(LABEL)[1:]]


def _source_lines(block: str) -> list[str]:
    """The numbered lines of a Sources list, given the text that follows "Sources:"."""
    return [line for line in block.splitlines() if line.startswith("  [")]


# Through a pipe ----------------------------------------------------------------


def test_follow_up_is_rewritten_and_sources_shows_last_answer(bundled_home: Path) -> None:
    script = f"{FIRST}\n{FOLLOW_UP}\n/sources\n"  # then EOF, as Ctrl-D
    result = run_cli("chat", "--backend", "none", input=script)

    assert result.returncode == 0, result.stderr
    assert re.match(r"Chatting with \d+ papers; answers by none \(extractive\)\.", result.stderr)
    # Only the follow-up needed the conversation, and its search carried the topic.
    searched = [line for line in result.stderr.splitlines() if line.startswith("(searched for:")]
    assert searched == [f"(searched for: {FIRST} {FOLLOW_UP})"]

    answers = _answers(result.stdout)
    assert len(answers) == 2
    assert LAYER_NORM_SOURCE in answers[0]
    # The follow-up's own Sources, then the same list again from /sources.
    _, own, repeated = answers[1].split("Sources:")
    assert any(LAYER_NORM_SOURCE in line for line in _source_lines(own))
    assert _source_lines(repeated) == _source_lines(own) != []
    assert result.stderr.rstrip().endswith("Bye.")


def test_reset_unknown_command_and_empty_lines(bundled_home: Path) -> None:
    script = "\n".join(
        [
            "/sources",
            "",
            "   ",
            "/foo",
            FIRST,
            "/reset",
            FOLLOW_UP,
            "/HELP",
            "/exit",
            "Is this line ever answered?",
        ]
    )
    result = run_cli("chat", "--backend", "none", input=script + "\n")

    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("No answer yet.\nUnknown command /foo. /help lists them.\n")
    assert "Conversation forgotten." in out
    assert HELP in out  # commands are case-insensitive
    # Empty lines asked nothing; the line after /exit was never read.
    assert "The question is empty" not in result.stderr
    assert len(_answers(out)) == 2
    # After /reset the follow-up stands alone: it is searched as typed.
    assert "(searched for:" not in result.stderr
    assert out.index("Conversation forgotten.") < out.index(_answers(out)[1])
    assert result.stderr.rstrip().endswith("Bye.")


def test_ctrl_c_while_waiting_for_input_keeps_the_session(bundled_home: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "assistant", "chat", "--backend", "none"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
        preexec_fn=default_sigint,
    )
    try:
        assert proc.stderr is not None and proc.stdin is not None
        banner = proc.stderr.readline()
        assert banner.startswith("Chatting with"), banner
        time.sleep(1.0)  # let it block reading the next line
        proc.send_signal(signal.SIGINT)
        # Type after the interrupt is handled: a line arriving in the same instant
        # as the signal is lost (the exception is raised as readline returns).
        time.sleep(1.0)
        out, errors = proc.communicate(FIRST + "\n", timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, errors
    assert LAYER_NORM_SOURCE in out
    assert "Interrupted" not in errors
    assert errors.rstrip().endswith("Bye.")


def test_clear_history_option(isolated_home: Path) -> None:
    runner = CliRunner()
    history = isolated_home / "chat_history"
    history.parent.mkdir(parents=True)
    history.write_text("+an old question\n", encoding="utf-8")

    first = runner.invoke(app, ["chat", "--clear-history"])
    assert first.exit_code == 0, first.output
    assert first.stdout == "Chat history deleted.\n"
    assert not history.exists()

    second = runner.invoke(app, ["chat", "--clear-history"])
    assert second.exit_code == 0
    assert second.stdout == "There was no chat history.\n"


# Through a real pseudo-terminal ------------------------------------------------


class Terminal:
    """A child process on a pseudo-terminal, read with timeouts, like a user at a screen."""

    def __init__(self, args: list[str], env: dict[str, str], *, columns: int, lines: int) -> None:
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))
        self.proc = subprocess.Popen(
            args,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            start_new_session=True,
            preexec_fn=default_sigint,
        )
        os.close(slave)
        self.output = b""
        self._seen = 0
        self._answered_cpr = 0
        self.closed = False

    def _pump(self, timeout: float) -> None:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return
        try:
            data = os.read(self.master, 65536)
        except OSError:  # EIO: the child closed the terminal
            data = b""
        if not data:
            self.closed = True
            return
        self.output += data
        # Answer cursor position requests as a real terminal does.
        while self.output.count(b"\x1b[6n") > self._answered_cpr:
            os.write(self.master, b"\x1b[1;1R")
            self._answered_cpr += 1

    def expect(self, text: bytes, timeout: float) -> bytes:
        """Output up to and including `text`, which must appear within `timeout`."""
        deadline = time.monotonic() + timeout
        while text not in self.output[self._seen :]:
            if self.closed or time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not shown; screen ends: {self.output[-1500:]!r}")
            self._pump(0.1)
        end = self.output.index(text, self._seen) + len(text)
        shown, self._seen = self.output[self._seen : end], end
        return shown

    def wait_for_prompt(self, timeout: float) -> None:
        """Wait until the line editor reads keys (the terminal leaves canonical mode)."""
        deadline = time.monotonic() + timeout
        while termios.tcgetattr(self.master)[3] & termios.ICANON:
            if self.closed or self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"no prompt; screen ends: {self.output[-1500:]!r}")
            self._pump(0.05)

    def type(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def wait_exit(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while not self.closed or self.proc.poll() is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"did not exit; screen ends: {self.output[-1500:]!r}")
            self._pump(0.1)
        return self.proc.wait()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)


@pytest.fixture
def terminal() -> Iterator[Callable[[list[str], dict[str, str]], Terminal]]:
    """Opens terminals (100 x 40) and kills whatever still runs at the end of the test."""
    opened: list[Terminal] = []

    def open_terminal(args: list[str], env: dict[str, str]) -> Terminal:
        opened.append(Terminal(args, env, columns=100, lines=40))
        return opened[-1]

    yield open_terminal
    for screen in opened:
        screen.close()


@pytest.mark.parametrize("term", ["dumb", "xterm"])
def test_chat_in_a_terminal(
    term: str,
    copy_of_bundled_index: Path,
    terminal: Callable[[list[str], dict[str, str]], Terminal],
) -> None:
    screen = terminal(
        [sys.executable, "-m", "assistant", "chat", "--backend", "none"],
        cli_env(TERM=term, COLUMNS="100", LINES="40"),
    )
    screen.expect(b"Ctrl-D to leave.", timeout=120)
    screen.wait_for_prompt(timeout=60)
    assert b"?" in screen.output[-200:]

    screen.type(FIRST.encode() + b"\r")
    # On a terminal Sources is drawn (styled.py): a heading, then "[n] Title".
    shown = screen.expect(b"Sources", timeout=120)
    assert b"Extractive answer (no language model)" in shown
    screen.wait_for_prompt(timeout=60)
    listed = plain(screen.output[screen.output.rindex(b"Sources") :].decode(errors="replace"))
    assert re.search(r"^\[\d+\] Layer Normalization", listed, re.MULTILINE), listed

    screen.type(b"/help\r")
    shown = screen.expect(b"Ctrl-C stops an answer in progress", timeout=30)
    for command in (b"/sources", b"/reset", b"/clear-history", b"/help", b"/exit"):
        assert command in shown
    screen.wait_for_prompt(timeout=30)

    screen.type(b"\x04")  # Ctrl-D
    assert screen.wait_exit(timeout=30) == 0
    assert b"Bye." in screen.output[screen._seen :]

    history = copy_of_bundled_index / "chat_history"
    assert FIRST in history.read_text(encoding="utf-8")
    assert stat.S_IMODE(history.stat().st_mode) == 0o600

    cleared = CliRunner().invoke(app, ["chat", "--clear-history"])
    assert cleared.exit_code == 0
    assert cleared.stdout == "Chat history deleted.\n"
    assert not history.exists()


# In process: the session object ------------------------------------------------


@pytest.fixture(autouse=True)
def answers_as_the_backend_sent_them(monkeypatch: pytest.MonkeyPatch) -> None:
    # These tests hold the conversation (follow-ups, Ctrl-C, streamed lines) to the
    # scripted words; checking sentences in chat (marks, /why, /sources quotes) is
    # tested in tests/test_verify.py.
    monkeypatch.setenv("ASSISTANT_CHECK_ANSWERS", "false")


class ScriptedBackend:
    """Stands in for an LLM and for a user pressing Ctrl-C at a chosen moment."""

    name = "scripted"
    model = "test"

    def __init__(
        self, answers: list[list[str]], rewrites: list[str | BaseException] | None = None
    ) -> None:
        self.instruction_following = rewrites is not None
        self.max_abstracts: int | None = None
        self.evidence_sentences: int | None = None
        self.answers = list(answers)
        self.rewrites = list(rewrites or [])
        self.prompts: list[str] = []

    def check(self) -> None:
        return None

    def stream(self, request: AnswerRequest) -> Iterator[str]:
        for step in self.answers.pop(0):
            if step == "^C":  # the user presses Ctrl-C here
                raise KeyboardInterrupt
            yield step

    def complete(self, prompt: str, max_tokens: int) -> str:
        self.prompts.append(prompt)
        outcome = self.rewrites.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


@pytest.fixture
def pipeline(bundled_home: Path) -> Pipeline:
    return Pipeline(load_settings())


def _session(pipeline: Pipeline, backend: ScriptedBackend, home: Path) -> ChatSession:
    return ChatSession(pipeline.answerer(backend), home / "chat_history")


def _ask(session: ChatSession, question: str) -> tuple[Answer, str]:
    shown: list[str] = []
    try:
        answer = session.ask(question, on_text=shown.append)
    except KeyboardInterrupt:  # escaping would stop the whole test run
        pytest.fail("Ctrl-C escaped the chat session")
    return answer, "".join(shown)


def test_ctrl_c_during_an_answer_keeps_the_session(pipeline: Pipeline, tmp_path: Path) -> None:
    backend = ScriptedBackend(
        [
            ["Layer normalization is introduced ", "in [1]", "^C", "never shown"],
            ["It fixes the dependence on the mini-batch size [1]."],
        ]
    )
    session = _session(pipeline, backend, tmp_path)

    first, shown = _ask(session, FIRST)
    assert first.interrupted and first.incomplete
    assert first.error == "interrupted"
    assert shown == first.text == "Layer normalization is introduced in [1]"
    # The marker that streamed before Ctrl-C still resolves to the first retrieved paper.
    assert [(s.number, s.hit) for s in first.sources] == [(1, first.retrieved[0])]
    assert session.last is first

    second, shown = _ask(session, FOLLOW_UP)
    assert not second.interrupted and not second.incomplete
    assert shown == "It fixes the dependence on the mini-batch size [1]."
    assert session.last is second
    # No instruction-following model: the previous question carries the topic.
    assert second.search_query == f"{FIRST} {FOLLOW_UP}"


def test_rewrite_uses_an_instruction_following_model(pipeline: Pipeline, tmp_path: Path) -> None:
    rewritten = "What problem of batch normalization does Layer Normalization address?"
    backend = ScriptedBackend(
        [["Layer Normalization [1]."], ["Mini-batch dependence [1]."], ["Recurrent nets [1]."]],
        rewrites=[rewritten + "\nextra line", BackendFailedError("HTTP 500")],
    )
    session = _session(pipeline, backend, tmp_path)

    _ask(session, FIRST)
    assert backend.prompts == []  # the first question needs no context

    second, _ = _ask(session, FOLLOW_UP)
    assert second.search_query == rewritten
    assert second.question == FOLLOW_UP
    assert f"Q: {FIRST}\nA: Layer Normalization [1]." in backend.prompts[0]
    assert f"Follow-up question: {FOLLOW_UP}" in backend.prompts[0]

    # When the model fails, the previous standalone question carries the topic.
    third, _ = _ask(session, "And for them?")
    assert third.search_query == f"{rewritten} And for them?"


@pytest.mark.parametrize(
    "follow_up", ["And the results?", "Who wrote it?", "What datasets did they use?"]
)
def test_a_terse_follow_up_is_answered_with_the_conversation_topic(
    pipeline: Pipeline, tmp_path: Path, follow_up: str
) -> None:
    # Judged on its own words, each of these fell under the abstention threshold
    # (support about 0.25 against 0.49), although the search carried the topic.
    backend = ScriptedBackend([["Layer Normalization [1]."], ["It says so [1]."]])
    session = _session(pipeline, backend, tmp_path)
    _ask(session, FIRST)
    answer, shown = _ask(session, follow_up)
    assert answer.search_query == f"{FIRST} {follow_up}"
    assert answer.abstention is None, answer.abstention_detail
    assert shown == "It says so [1]."


def test_a_follow_up_about_something_no_abstract_mentions_is_declined(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    backend = ScriptedBackend([["Layer Normalization [1]."], ["never asked"]])
    session = _session(pipeline, backend, tmp_path)
    _ask(session, FIRST)
    answer, _ = _ask(session, "What about YOLOv3?")
    assert answer.abstention == "retrieval"
    assert answer.abstention_detail is not None
    assert "the follow-up asks about YOLOv3" in answer.abstention_detail


def test_reset_forgets_the_conversation(pipeline: Pipeline, tmp_path: Path) -> None:
    backend = ScriptedBackend([["Layer Normalization [1]."], ["Batch size [1]."]])
    session = _session(pipeline, backend, tmp_path)
    _ask(session, FIRST)
    session.reset()
    assert session.last is None and session.turns == [] and session.standalone == []
    answer, _ = _ask(session, FOLLOW_UP)
    assert answer.search_query == FOLLOW_UP


def test_clear_history_method(pipeline: Pipeline, tmp_path: Path) -> None:
    session = _session(pipeline, ScriptedBackend([]), tmp_path)
    (tmp_path / "chat_history").write_text("+q\n", encoding="utf-8")
    assert session.clear_history() is True
    assert not (tmp_path / "chat_history").exists()
    assert session.clear_history() is False


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("What problem with batch normalization do they address?", True),  # "they"
        ("How does the method scale?", True),  # "the method"
        ("And the results?", True),  # short
        ("Which paper introduces Layer Normalization for recurrent networks?", False),
        ("Which papers study graph neural networks for molecules?", False),
    ],
)
def test_needs_context(question: str, expected: bool) -> None:
    assert needs_context(question) is expected


def test_repl_survives_ctrl_c_before_the_answer_streams(
    pipeline: Pipeline,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Ctrl-C while the follow-up is being rewritten drops that question, not the session."""
    from assistant.cli.repl import run_chat

    backend = ScriptedBackend(
        [["Layer Normalization is introduced in [1]."], ["It removes batch dependence [1]."]],
        rewrites=[KeyboardInterrupt(), "How does Layer Normalization avoid batch statistics?"],
    )
    monkeypatch.setitem(REGISTRY, "scripted", SimpleNamespace(make=lambda s, e, m: backend))
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"{FIRST}\n{FOLLOW_UP}\n{FOLLOW_UP}\n"))

    try:
        run_chat(pipeline, "scripted", None)
    except KeyboardInterrupt:
        pytest.fail("Ctrl-C before the answer streamed ended the chat")

    out, errors = capsys.readouterr()
    assert "Interrupted." in errors
    assert "Layer Normalization is introduced in [1]." in out
    assert "It removes batch dependence [1]." in out
    assert "(searched for: How does Layer Normalization avoid batch statistics?)" in errors
    assert errors.rstrip().endswith("Bye.")


def test_repl_ends_streamed_lines_before_what_follows(
    pipeline: Pipeline,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An LLM stream ends without a newline: the reason, Sources and notes start on a new line."""
    from assistant.cli.repl import run_chat

    backend = ScriptedBackend(
        [
            ["Layer Normalization is introduced ", "in [1]."],
            ["The abstracts do not say."],
            ["Batch statistics [1]", "^C"],
        ]
    )
    monkeypatch.setitem(REGISTRY, "scripted", SimpleNamespace(make=lambda s, e, m: backend))
    questions = [
        FIRST,
        "Which paper introduces Layer Normalization for recurrent networks?",
        "How does batch normalization depend on mini-batch size?",
    ]
    monkeypatch.setattr(sys, "stdin", io.StringIO("".join(q + "\n" for q in questions)))

    run_chat(pipeline, "scripted", None)

    out = capsys.readouterr().out
    assert out.startswith("Layer Normalization is introduced in [1].\n\nSources:\n  [1] ")
    assert "\nThe abstracts do not say.\nThe model said the abstracts do not answer" in out
    assert "\nBatch statistics [1]\n[answer incomplete: interrupted]\n\nSources:\n" in out


# LLM backend faults inside a chat ----------------------------------------------

QUESTION = "Which paper introduces Layer Normalization?"
LLM_REPLY = ["Layer normalization normalizes ", "the summed inputs [1]. ", "It helps RNNs [1]."]


class Session:
    """`assistant chat` in a child process, fed one line at a time like a user."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.out: list[str] = []
        self.err: list[str] = []
        assert self.proc.stdout is not None and self.proc.stderr is not None
        for stream, sink in ((self.proc.stdout, self.out), (self.proc.stderr, self.err)):
            threading.Thread(target=self._pump, args=(stream, sink), daemon=True).start()
        self.turns = 0

    @staticmethod
    def _pump(stream: io.TextIOBase, sink: list[str]) -> None:
        for line in stream:
            sink.append(line)

    def say(self, line: str, timeout: float = 120) -> tuple[str, str]:
        """Send a line; return the stdout and stderr it caused."""
        assert self.proc.stdin is not None
        out_from, err_from = len(self.out), len(self.err)
        # /help after the line marks the end of its output: lines are handled in order.
        self.proc.stdin.write(f"{line}\n/help\n")
        self.proc.stdin.flush()
        self.turns += 1
        deadline = time.monotonic() + timeout
        while "".join(self.out).count(HELP) < self.turns:
            assert self.proc.poll() is None, f"chat ended: {''.join(self.err)}"
            assert time.monotonic() < deadline, f"no reply to {line!r}: {''.join(self.err)}"
            time.sleep(0.05)
        out = "".join(self.out[out_from:])
        return out[: out.rindex(HELP)], "".join(self.err[err_from:])

    def close(self) -> int:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                return self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait()


def test_chat_survives_every_llm_backend_fault(bundled_home: Path) -> None:
    from conftest import closed_port
    from ollama_server import FakeOllama

    port = closed_port()
    host = f"http://127.0.0.1:{port}"
    session = Session(
        [sys.executable, "-m", "assistant", "chat", "-b", "ollama", "-m", "llama3.2"],
        cli_env(OLLAMA_HOST=host, ASSISTANT_TIMEOUT_S="2"),
    )
    server: FakeOllama | None = None
    try:
        # Ollama not running.
        out, errors = session.say(QUESTION)
        assert out == ""
        assert f"Error: Ollama is not reachable at {host}\n" in errors
        assert 'Hint: Start it with "ollama serve"' in errors

        # Running, but the model is not pulled.
        server = FakeOllama(LLM_REPLY, models=[]).start(port)
        out, errors = session.say(QUESTION)
        assert out == ""
        assert f"Error: Ollama at {host} does not have the model 'llama3.2'." in errors
        assert 'Hint: Pull it with "ollama pull llama3.2"' in errors

        # HTTP 500 before any text.
        server.models = ["llama3.2:latest"]
        server.fault = "http_500"
        out, errors = session.say(QUESTION)
        assert out == (
            "[answer incomplete: Ollama answered HTTP 500 while answering: "
            "llama runner process has terminated: signal: killed]\n"
        )
        assert "Hint: Check the Ollama server's log" in errors

        # The stream cut, then a server that stops talking: the partial answer is
        # shown, marked incomplete, and its citation still resolves to a source.
        server.fault_after = 2
        for fault, reason, hint in [
            ("cut", "The connection to Ollama broke while answering", "Check that the Ollama"),
            ("stall", "Ollama sent nothing for 2 s while answering.", "Raise the limit with"),
        ]:
            server.fault = fault
            out, errors = session.say(QUESTION)
            partial, rest = out.split("\n[answer incomplete: ")
            assert partial == "Layer normalization normalizes the summed inputs [1]. "
            assert rest.startswith(reason)
            assert "\n\nSources:\n  [1] Layer Normalization (" in rest
            assert f"Hint: {hint}" in errors
            sources, _ = session.say("/sources")
            assert sources.startswith("Sources:\n  [1] Layer Normalization (")

        # And the session carries on: the next question is answered in full.
        server.fault = None
        out, errors = session.say(QUESTION)
        assert out.startswith("Layer normalization normalizes the summed inputs [1]. It helps")
        assert "incomplete" not in out
        assert "\n\nSources:\n  [1] Layer Normalization (" in out
        assert "Error" not in errors
        assert session.close() == 0
        assert "".join(session.err).rstrip().endswith("Bye.")
    finally:
        session.close()
        if server is not None:
            server.stop()


# Privacy: what the user asks stays in the history file alone -----------------------

SECRET = "zqxprivacy4417"


def _files_containing(folder: Path, needle: bytes) -> list[str]:
    return sorted(
        str(path.relative_to(folder))
        for path in folder.rglob("*")
        if path.is_file() and not path.is_symlink() and needle in path.read_bytes()
    )


def test_questions_are_written_nowhere_but_the_history_file(
    copy_of_bundled_index: Path,
    tmp_path: Path,
    terminal: Callable[[list[str], dict[str, str]], Terminal],
) -> None:
    home = copy_of_bundled_index
    temp, user_home = tmp_path / "tmpdir", tmp_path / "user-home"
    temp.mkdir()
    user_home.mkdir()
    env = cli_env(TMPDIR=str(temp), HOME=str(user_home), XDG_CACHE_HOME=str(user_home / ".cache"))
    question = f"Which paper introduces Layer Normalization {SECRET}?"

    for args in (["search", question], ["ask", question, "--backend", "none"]):
        done = subprocess.run(
            [sys.executable, "-m", "assistant", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr

    screen = terminal(
        [sys.executable, "-m", "assistant", "chat", "--backend", "none"],
        {**env, "TERM": "dumb", "COLUMNS": "100", "LINES": "40"},
    )
    screen.expect(b"Ctrl-D to leave.", timeout=120)
    screen.wait_for_prompt(timeout=60)
    screen.type(question.encode() + b"\r")
    # No abstract mentions the made-up word: a justified "cannot answer".
    screen.expect(b"The abstracts do not say.", timeout=120)
    screen.wait_for_prompt(timeout=60)

    needle = SECRET.encode()
    # Chroma's and the BM25 index's files (and their journals) hold no query log.
    assert _files_containing(home, needle) == ["chat_history"]
    assert _files_containing(temp, needle) == []
    assert _files_containing(user_home, needle) == []

    screen.type(b"/clear-history\r")
    screen.expect(b"Chat history deleted.", timeout=30)
    screen.wait_for_prompt(timeout=30)
    screen.type(b"\x04")
    assert screen.wait_exit(timeout=30) == 0
    for folder in (home, temp, user_home):
        assert _files_containing(folder, needle) == []
