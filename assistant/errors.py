"""Expected failures, each carrying the exit code and the hint the CLI shows.

The exit codes are a contract documented in the README:
0 ok (including a justified "cannot answer"), 1 unexpected error, 2 usage,
3 corpus/index/config, 4 backend unavailable, 5 model missing,
6 backend failed mid-answer, 130 interrupted.
"""

from __future__ import annotations


class AssistantError(Exception):
    """Base class for failures a user can act on."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(AssistantError):
    exit_code = 2


class CorpusError(AssistantError):
    """Input files that cannot be read at all."""

    exit_code = 3


class StoreError(AssistantError):
    """The index is missing, damaged or built with other settings."""

    exit_code = 3


class ConfigError(AssistantError):
    exit_code = 3


class BackendUnavailableError(AssistantError):
    """The LLM backend cannot be reached or loaded."""

    exit_code = 4


class ModelMissingError(AssistantError):
    """The backend runs but does not have the requested model."""

    exit_code = 5


class BackendFailedError(AssistantError):
    """The backend failed while answering (HTTP error, timeout, stream cut)."""

    exit_code = 6


EXIT_INTERRUPTED = 130
