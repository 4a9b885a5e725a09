"""The terminal loop of `assistant chat`: line editing and saved history on a
terminal, plain lines from a pipe."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

from assistant.answering.chat import HELP, ChatSession
from assistant.domain import Answer
from assistant.errors import AssistantError
from assistant.pipeline import Pipeline
from assistant.retrieval.filters import Filters

PROMPT = "? "


def _line_reader(history_file: str) -> Callable[[], str]:
    if not sys.stdin.isatty():

        def read_pipe() -> str:
            line = sys.stdin.readline()
            if not line:
                raise EOFError
            return line.rstrip("\n")

        return read_pipe

    from prompt_toolkit import PromptSession
    from prompt_toolkit.history import FileHistory

    # The history holds the user's questions: readable by them alone.
    os.makedirs(os.path.dirname(history_file), exist_ok=True)
    os.close(os.open(history_file, os.O_CREAT | os.O_APPEND | os.O_WRONLY, 0o600))
    session: PromptSession[str] = PromptSession(history=FileHistory(history_file))
    return lambda: session.prompt(PROMPT)


def _why(last: Answer | None, line: str) -> str:
    from assistant.cli.render import support_details

    if last is None:
        return "No answer yet."
    parts = line.split()
    if len(parts) != 2 or not parts[1].isdigit():
        return "Usage: /why N (N: the sentence's number in the last answer, from 1)."
    return support_details(last, int(parts[1]))


def _save(session: ChatSession, line: str, backend: str) -> str:
    """/save [FILE.md]: the conversation as Markdown, in a new file."""
    from datetime import datetime

    from assistant.cli import markdown

    if not session.transcript:
        return "Nothing to save yet: ask a question first."
    saved = datetime.now().astimezone()
    name = line[len("/save") :].strip() or markdown.default_name(saved)
    path = Path(name).expanduser()
    text = markdown.conversation(session.transcript, backend, saved)
    try:
        markdown.save_new(path, text)
    except FileExistsError:
        return f"{path} exists and was left as it is. Save under another name: /save other.md"
    except IsADirectoryError:
        return f"{path} is a folder. Give a file name: /save {path / 'chat.md'}"
    except FileNotFoundError:
        return f"Cannot save to {path}: the folder {path.parent} does not exist."
    except OSError as exc:
        return f"Cannot save to {path}: {exc.strerror or exc}."
    count = len(session.transcript)
    return f"Saved {count} answer(s) to {path}."


def run_chat(
    pipeline: Pipeline,
    backend_name: str | None,
    model: str | None,
    filters: Filters | None = None,
) -> None:
    from assistant.cli.render import answer_stream, err, out, report_answer, show_sources

    backend = pipeline.backend(backend_name, model)
    filters = filters or Filters()
    session = ChatSession(pipeline.answerer(backend, filters), pipeline.settings.history_file)
    papers = pipeline.store.paper_count()
    err(
        f"Chatting with {papers} papers; answers by {backend.name} ({backend.model}). "
        "/help for commands, Ctrl-D to leave."
    )
    if filters:
        err(f"Every question is searched with the filters {filters.describe()}.")
    read = _line_reader(str(pipeline.settings.history_file))
    # One for the session: a line left open by a failed answer is closed by the next.
    stream = answer_stream()
    while True:
        try:
            line = read().strip()
        except EOFError:
            break
        except KeyboardInterrupt:
            continue
        if not line:
            continue
        if line.startswith("/"):
            command = line.split()[0].lower()
            if command in ("/exit", "/quit"):
                break
            if command == "/help":
                out(HELP)
            elif command == "/filters":
                out(f"Filters: {filters.describe()}" if filters else "No filters.")
            elif command == "/reset":
                session.reset()
                out("Conversation forgotten.")
            elif command == "/sources":
                if session.last is None:
                    out("No answer yet.")
                elif not show_sources(session.last, stream, alone=True):
                    out("The last answer cited no sources.")
            elif command == "/why":
                out(_why(session.last, line))
            elif command == "/save":
                out(_save(session, line, f"{backend.name} ({backend.model})"))
            elif command == "/clear-history":
                removed = session.clear_history()
                out("Chat history deleted." if removed else "There was no chat history.")
            else:
                out(f"Unknown command {command}. /help lists them.")
            sys.stdout.flush()
            continue
        try:
            answer = session.ask(line, on_text=stream.write)
        except AssistantError as exc:
            err(f"Error: {exc.message}")
            if exc.hint:
                err(f"Hint: {exc.hint}")
            continue
        except KeyboardInterrupt:
            # Ctrl-C before the answer streams (rewriting the question or searching):
            # drop this question, keep the session, as /help promises.
            err("Interrupted.")
            continue
        report_answer(answer, stream)
        if answer.incomplete and answer.error_hint and not answer.interrupted:
            # The session goes on; say how to avoid the failure next time.
            err(f"Hint: {answer.error_hint}")
        if answer.search_query != answer.question:
            err(f"(searched for: {answer.search_query})")
    err("Bye.")
