"""Expected failures, each carrying the exit code and the hint the CLI shows.

The exit codes are a contract documented in the README:
0 ok (including a justified "cannot answer"), 1 unexpected error, 2 usage,
3 corpus/index/config, 4 backend unavailable, 5 model missing,
6 backend failed mid-answer, 130 interrupted.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """The process exit codes: a contract with scripts, listed in the README."""

    OK = 0  # including a justified "the abstracts do not say"
    BUG = 1  # unexpected: --debug shows the traceback
    USAGE = 2
    DATA = 3  # corpus, index or config
    BACKEND_UNAVAILABLE = 4
    MODEL_MISSING = 5
    BACKEND_FAILED = 6  # mid-answer
    OUTPUT = 74  # cannot write: the output (a dead terminal) or a full disk
    INTERRUPTED = 130
    TERMINATED = 143  # SIGTERM (kill, a service manager, a CI timeout)
    BROKEN_PIPE = 141  # the reader of the output left (`| head`); nothing to say


class AssistantError(Exception):
    """Base class for failures a user can act on."""

    exit_code = ExitCode.BUG

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(AssistantError):
    exit_code = ExitCode.USAGE


class CorpusError(AssistantError):
    """Input files that cannot be read at all."""

    exit_code = ExitCode.DATA


class StoreError(AssistantError):
    """The index is missing, damaged or built with other settings."""

    exit_code = ExitCode.DATA


class ConfigError(AssistantError):
    exit_code = ExitCode.DATA


class BackendUnavailableError(AssistantError):
    """The LLM backend cannot be reached or loaded."""

    exit_code = ExitCode.BACKEND_UNAVAILABLE


class ModelMissingError(AssistantError):
    """The backend runs but does not have the requested model."""

    exit_code = ExitCode.MODEL_MISSING


class BackendFailedError(AssistantError):
    """The backend failed while answering (HTTP error, timeout, stream cut)."""

    exit_code = ExitCode.BACKEND_FAILED


class DiskFullError(AssistantError):
    """No room left to write the index, the models or the history."""

    exit_code = ExitCode.OUTPUT

    def __init__(self, message: str, hint: str, folder: str) -> None:
        super().__init__(message, hint)
        self.folder = folder


class NotWritableError(AssistantError):
    """ASSISTANT_HOME is read-only, or its files belong to someone else."""

    exit_code = ExitCode.OUTPUT


class OutputError(AssistantError):
    """Standard output cannot be written."""

    exit_code = ExitCode.OUTPUT

    @classmethod
    def writing(cls, exc: OSError) -> OutputError:
        """The error for a failed write to stdout (a full disk, a device error)."""
        return cls(
            f"Cannot write the output: {exc.strerror or exc}.",
            hint="Free space where the output goes, or send it elsewhere.",
        )


class Terminated(BaseException):
    """SIGTERM arrived: unwind as for Ctrl-C, so that cleanups run and a message is shown.

    A BaseException, so that no `except Exception` on the way swallows it.
    """
