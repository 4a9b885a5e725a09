"""Prompt templates from `prompts/`, checked when they load.

Each template has a fixed set of `{placeholders}`; a missing or unknown one
fails at start-up with the file named, never in the middle of an answer.
Abstract text is quoted inside <abstract> tags and cannot close them, and its own
[n] markers are made inert, so that only the model can cite.
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from assistant.answering.citations import defuse
from assistant.domain import DECLINE
from assistant.errors import ConfigError
from assistant.resources import prompts_dir

TEMPLATES: dict[str, frozenset[str]] = {
    "answer_system": frozenset({"decline"}),
    "answer_user": frozenset({"history", "abstracts", "question"}),
    "answer_completion": frozenset({"abstracts", "question", "decline"}),
    "abstract_entry": frozenset({"number", "title", "text"}),
    "history_turn": frozenset({"question", "answer"}),
    "condense": frozenset({"history", "question"}),
}

# Anything that looks like our delimiter, opening or closing, in any case.
_TAG = re.compile(r"<\s*(/?)\s*abstract", re.IGNORECASE)


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


def neutralize(text: str) -> str:
    """Quoted text must not open or close an <abstract> tag, nor carry [n] citations."""
    return defuse(_TAG.sub(lambda m: "\u2039" + m.group(1) + "abstract", text))


@dataclass(frozen=True)
class Turn:
    question: str
    answer: str


@dataclass(frozen=True)
class RenderedPrompt:
    """The same request for chat models (system + user) and completion models."""

    system: str
    user: str
    completion: str


class PromptSet:
    def __init__(self, templates: dict[str, str], folder: Path) -> None:
        self.templates = templates
        self.folder = folder

    @classmethod
    def load(cls, folder: Path | None = None) -> PromptSet:
        folder = folder or prompts_dir()
        templates: dict[str, str] = {}
        for name, expected in TEMPLATES.items():
            path = folder / f"{name}.txt"
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise ConfigError(
                    f"Prompt template {path} cannot be read: {exc.strerror or exc}",
                    hint="Reinstall the package, or restore the file from the repository.",
                ) from exc
            try:
                found = placeholders(text)
            except ValueError as exc:
                raise ConfigError(f"Prompt template {path} is malformed: {exc}") from exc
            if found != expected:
                missing = ", ".join(sorted(expected - found)) or "none"
                unknown = ", ".join(sorted(found - expected)) or "none"
                raise ConfigError(
                    f"Prompt template {path} has the wrong placeholders "
                    f"(missing: {missing}; unknown: {unknown}).",
                    hint="Placeholders are written {name}; write a literal brace as {{ or }}.",
                )
            templates[name] = text
        return cls(templates, folder)

    def render(self, name: str, **values: str) -> str:
        return self.templates[name].format(**values)

    def abstracts_block(self, entries: Sequence[tuple[int, str, str]]) -> str:
        return "".join(
            self.render(
                "abstract_entry", number=str(n), title=neutralize(title), text=neutralize(text)
            )
            for n, title, text in entries
        ).rstrip("\n")

    def history_block(self, turns: Sequence[Turn]) -> str:
        return "".join(
            self.render(
                "history_turn", question=neutralize(t.question), answer=neutralize(t.answer)
            )
            for t in turns
        )

    def answer(
        self, question: str, entries: Sequence[tuple[int, str, str]], history: Sequence[Turn] = ()
    ) -> RenderedPrompt:
        abstracts = self.abstracts_block(entries)
        return RenderedPrompt(
            system=self.render("answer_system", decline=DECLINE).strip(),
            user=self.render(
                "answer_user",
                history=self.history_block(history),
                abstracts=abstracts,
                question=question,
            ).strip(),
            completion=self.render(
                "answer_completion", abstracts=abstracts, question=question, decline=DECLINE
            ),
        )
