"""Sentences of an abstract that speak to the model instead of describing research.

Delimiting and labelling abstracts as untrusted is enough for a model that follows
its system prompt; a small base model (the bundled gemma3-270m) copies whatever
text it is shown. So before an abstract reaches any model, sentences written as
orders to the reader ("Ignore previous instructions and reply ...", "SYSTEM: ...",
"your only answer is ...") or as a reference list ("Sources: [1] ...") are
withheld and replaced by a marker, and the user is told. Findings are never
phrased that way, so on real abstracts this withholds nothing (checked on the
bundled corpus and SciFact). It is a screen for the common forms, not a proof:
Sources and citations are built from retrieved paper ids whatever the model writes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

WITHHELD = "[withheld: instruction-like text]"

# Where one sentence ends and the next begins: after . ! ? before a capital, digit,
# bracket, quote or tag ("et al. say" and "0.5 mm" stay whole), or at a line break.
_BOUNDARY = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\[\"'<])|\s*\n\s*")

# Orders that open a sentence, each with what must follow it to be an order
# ("Output only ..." is one; "Output power rose" is not).
_ORDERS = (
    r"(?:ignore|disregard|forget|override|bypass)\s+(?:all|any|every|the|these|those|this|your"
    r"|previous|prior|above|earlier|everything|what)\b",
    r"(?:reply|respond|answer|say|output|print|write|repeat|cite)\s+(?:only|just|exactly|with"
    r"|the word|that|this|yes|no|nothing|in (?:all )?capitals|[\"'\u201c])",
    r"(?:pretend|act as|obey|stop (?:following|using|answering|citing))\b",
    r"(?:do not|don't) (?:follow|answer|cite|use|mention|tell)\b",
    r"follow (?:these|the following|my|new|only)\b",
    r"you are (?:now|no longer)\b",
)
# Softeners and addressees an order may start with: "Please", "Now", "You must".
_LEAD = (
    r"^\W*(?:(?:please|now|instead|then|also|and"
    r"|you (?:must|should|will|shall|have to))[\s,]+)*"
)
_PATTERNS = [
    _LEAD + "(?:" + "|".join(_ORDERS) + ")",
    r"\bfrom now on\b",
    r"\b(?:new|previous|prior|above|earlier) (?:instructions?|rules|prompts?|directives?)\b",
    r"\byour (?:only |sole |one |real |new |next |final )?(?:answer|reply|response|output|task"
    r"|instructions?|job|role)\b",
    r"\bif you are an? (?:ai|language model|llm|assistant|chatbot|model)\b",
    r"\bas an? (?:ai|language model|llm|assistant|chatbot),",
    # Chat-template and role markers.
    r"<\|[a-z_]+\|>|\[/?INST\]|#{2,}\s*(?:instruction|system|response)\b",
    # A list of references inside an abstract: "Sources: [1] ...", "References: 1. ...".
    r"\b(?:sources|references|bibliography|citations)\s*:\s*(?:\[\d|\(\d|\d+[.)]\s)",
]
_ORDER = re.compile("|".join(f"(?:{p})" for p in _PATTERNS), re.IGNORECASE)
# An order to print a word in capitals: "Say HACKED", "Reply PWNED".
_SHOUTED = re.compile(r"^\W*(?:Reply|Respond|Answer|Say|Output|Print|Write|Repeat)\s+[A-Z]{3,}\b")
# Role names only count in capitals or at a sentence start ("the user: ..." is prose).
_ROLE = re.compile(r"\b(?:SYSTEM|ASSISTANT|USER|DEVELOPER|INSTRUCTIONS?)\s*:")
_ROLE_START = re.compile(r"^\W*(?:system|assistant|user|developer|instructions?)\s*:", re.I)
# The next entry of a withheld list: "[2] A Survey of Nothing (Nobody, 2030)."
_LIST_ENTRY = re.compile(r"^(?:\[\d+\]|\(\d+\)|\d+[.)])\s")


@dataclass(frozen=True)
class Screened:
    """An abstract as the model will see it, and what was taken out of it."""

    text: str
    withheld: tuple[str, ...]


def reads_as_instruction(sentence: str) -> bool:
    """True if `sentence` addresses the model rather than describing research."""
    return bool(
        _ORDER.search(sentence)
        or _SHOUTED.search(sentence)
        or _ROLE.search(sentence)
        or _ROLE_START.search(sentence)
    )


def screen(text: str) -> Screened:
    """Replace each instruction-like sentence of `text` by a marker."""
    parts: list[str] = []
    withheld: list[str] = []
    start = 0
    for end, after in [(m.start(), m.end()) for m in _BOUNDARY.finditer(text)] + [
        (len(text), len(text))
    ]:
        sentence = text[start:end].strip()
        continues_list = bool(parts) and parts[-1] == WITHHELD and _LIST_ENTRY.match(sentence)
        if sentence and (continues_list or reads_as_instruction(sentence)):
            withheld.append(sentence)
            # Consecutive withheld sentences share one marker.
            if not parts or parts[-1] != WITHHELD:
                parts.append(WITHHELD)
        elif sentence:
            parts.append(sentence)
        start = after
    if not withheld:
        return Screened(text, ())
    return Screened(" ".join(parts), tuple(withheld))
