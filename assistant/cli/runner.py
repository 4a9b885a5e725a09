"""Running a command: expected failures become a message and an exit code, and
the standard streams are made safe to use whatever state they arrive in."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import typer

from assistant.cli.render import err
from assistant.disk import disk_full, not_writable, refused_write, says_disk_full
from assistant.errors import AssistantError, ExitCode, Terminated

T = TypeVar("T")


@dataclass(frozen=True)
class CliOptions:
    """The root options, kept on click's context for this invocation."""

    debug: bool = False


def cli_options(ctx: typer.Context) -> CliOptions:
    obj = ctx.find_root().obj
    return obj if isinstance(obj, CliOptions) else CliOptions()


def _fail(exc: AssistantError, options: CliOptions) -> typer.Exit:
    err(f"Error: {exc.message}")
    if exc.hint:
        err(f"Hint: {exc.hint}")
    if options.debug:
        traceback.print_exception(exc, file=sys.stderr)
    return typer.Exit(exc.exit_code)


def silence_stdout() -> None:
    """The reader of our output left (`| head`): point stdout at /dev/null, so that
    the flush at exit does not fail again; the exit is quiet, as SIGPIPE's would be."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def run(ctx: typer.Context, action: Callable[[], T]) -> T:
    """Run a command body, turning expected failures into a message and exit code."""
    try:
        return action()
    except AssistantError as exc:
        raise _fail(exc, cli_options(ctx)) from None
    except KeyboardInterrupt:
        err("Interrupted.")
        raise typer.Exit(ExitCode.INTERRUPTED) from None
    except Terminated:
        err("Terminated.")
        raise typer.Exit(ExitCode.TERMINATED) from None
    except BrokenPipeError:
        # Before click sees it (it would exit 1, which here means a bug).
        silence_stdout()
        raise typer.Exit(ExitCode.BROKEN_PIPE) from None
    except Exception as exc:
        # A full or read-only disk met where no layer named it (a lock file,
        # the chat history, a cache): still a message, not a traceback.
        refused = refused_write(exc)
        if refused is not None:
            raise _fail(not_writable(refused, _home()), cli_options(ctx)) from exc
        if says_disk_full(exc):
            raise _fail(disk_full(_home()), cli_options(ctx)) from exc
        raise


def _home() -> Path:
    from assistant.settings import default_home, load_settings

    try:
        return load_settings().home
    except AssistantError:
        return default_home()


def _terminate(signum: int, frame: object) -> None:
    raise Terminated


def catch_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C (a rebuild drops its staging index, locks are
    released) and ends with a message, instead of dying silently mid-write."""
    signal.signal(signal.SIGTERM, _terminate)


def usable_streams() -> None:
    """A closed stdin reads as empty, a closed stdout or stderr discards (`<&-`, `>&-`);
    undecodable input bytes become U+FFFD instead of an error mid-chat."""
    if sys.stdin is None:
        sys.stdin = open(os.devnull, encoding="utf-8")  # noqa: SIM115 (lives as long as we do)
    elif hasattr(sys.stdin, "reconfigure"):
        sys.stdin.reconfigure(errors="replace")
    if sys.stdout is None:
        sys.stdout = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115
