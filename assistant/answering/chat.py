"""The chat session: follow-up questions rewritten with the conversation,
slash commands, and an answer that Ctrl-C stops without ending the session."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from assistant.answering.chain import Answerer
from assistant.answering.prompts import Turn
from assistant.domain import Answer
from assistant.errors import AssistantError

HELP = """Commands:
  /sources         the sources of the last answer, with the sentences that back it
  /why N           how sentence N of the last answer stands against the abstracts
  /save [FILE.md]  write the conversation as Markdown, with the BibTeX of the cited papers
  /filters         the filters (--year, --author, ...) every question is searched with
  /reset           forget the conversation (follow-ups start afresh)
  /clear-history   delete the saved input history file
  /help            this list
  /exit            leave (Ctrl-D works too)
Ctrl-C stops an answer in progress and keeps the session."""

# Words that make a question lean on the one before it.
_ANAPHORA = re.compile(
    r"\b(they|them|their|theirs|it|its|this|that|these|those|he|she|his|her|"
    r"the (paper|papers|authors|method|model|approach|study|work|dataset)|same|also)\b",
    re.IGNORECASE,
)
_KEEP_TURNS = 3


def needs_context(question: str) -> bool:
    return bool(_ANAPHORA.search(question)) or len(question.split()) < 5


@dataclass
class ChatSession:
    answerer: Answerer
    history_file: Path
    turns: list[Turn] = field(default_factory=list)
    standalone: list[str] = field(default_factory=list)
    last: Answer | None = None
    # The latest question that stood on its own: the topic follow-ups refer to.
    anchor: str | None = None
    # Every answer of the session, for /save (/reset does not forget them).
    transcript: list[Answer] = field(default_factory=list)

    def rewrite(self, question: str) -> str:
        """The question as a standalone search query, using the conversation."""
        query, stands_alone = self._rewrite(question)
        if stands_alone:
            self.anchor = query
        return query

    def _rewrite(self, question: str) -> tuple[str, bool]:
        if not self.standalone or not needs_context(question):
            return question, True
        backend = self.answerer.backend
        if backend.instruction_following:
            prompts = self.answerer.prompts
            history = "\n".join(
                f"Q: {t.question}\nA: {t.answer[:500]}" for t in self.turns[-_KEEP_TURNS:]
            )
            try:
                rewritten = backend.complete(
                    prompts.render("condense", history=history, question=question), 96
                ).strip()
            except AssistantError:
                rewritten = ""
            if rewritten and len(rewritten) < 1000:
                return rewritten.splitlines()[0], True
        # Without an instruction-following model: the last question that stood on
        # its own carries the topic, the follow-up carries what is asked now. Not
        # the previous rewrite, or the query would grow with every follow-up.
        return f"{self.anchor or self.standalone[-1]} {question}", False

    def ask(self, question: str, on_text: Callable[[str], None]) -> Answer:
        query = self.rewrite(question)
        answer = self.answerer.answer(
            question, history=self.turns[-_KEEP_TURNS:], search_query=query, on_text=on_text
        )
        self.last = answer
        self.transcript.append(answer)
        self.standalone.append(query)
        if answer.answered:
            self.turns.append(Turn(answer.question, answer.text))
        return answer

    def reset(self) -> None:
        self.turns.clear()
        self.standalone.clear()
        self.last = None
        self.anchor = None

    def clear_history(self) -> bool:
        try:
            self.history_file.unlink()
            return True
        except FileNotFoundError:
            return False
