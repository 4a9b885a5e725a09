"""Which words of a sentence a negation covers, and claims that drop or add one.

"Not applicable to Adam-style optimizers", "without quantum recurrent networks",
"derivative-free": a claim that states these words plainly (or negates what the
evidence states) shares nearly all its words with the evidence and reads as
close to MiniLM, yet says the opposite.
"""

from __future__ import annotations

import re
from functools import lru_cache

from assistant.answering.claimcheck import (
    Word,
    content_word,
    is_name,
    name_key,
    stem,
    word_set,
    words,
)

# Words that negate what follows them, up to a clause boundary.
NEGATORS = word_set(
    "not no never cannot without neither nor none unable fail fails failed failing lack "
    "lacks lacking insufficient inadequate"
)
# Contrasts name the alternative they set aside; a claim's contrast is often
# the evidence's other topic, so only the evidence's count (see `_polarity`).
_CONTRASTS = word_set("unlike instead rather")
_CONTRAST = re.compile(r"\b(?:in contrast to|as opposed to)\b", re.IGNORECASE)
_SCOPE_END = re.compile(
    r"[,;:()]|\.(?!\d)|\b(?:and|but|while|whereas|which|although|though)\b", re.IGNORECASE
)
_SCOPE_WORDS = 5
# "not only A but also B" asserts A.
_NOT_ONLY = re.compile(r"not\s+(?:only|just|merely|simply)\b", re.IGNORECASE)

# Verbs of loss: negating one ("without sacrificing X") asserts its object.
_LOSS = word_set(
    "lose loses losing lost loss sacrifice sacrifices sacrificing hurt hurts hurting harm "
    "harming compromise compromising compromised degrade degrading degradation reduce "
    "reducing drop dropping"
)

ASSERTED, NEGATED, SET_ASIDE = 0, 1, 2
_SENTENCE_END = re.compile(r"[.!?](?=\s|$)")


@lru_cache(maxsize=4096)
def scopes(text: str) -> tuple[tuple[Word, int], ...]:
    """Each word with what covers it: nothing, a negation ("without X", "X-free",
    "not X") or a contrast ("rather than X", "unlike X", "instead of X")."""
    found = words(text)
    covered = [ASSERTED] * len(found)
    for i, word in enumerate(found):
        low = word.text.lower()
        if low.endswith("-free"):
            covered[i] = NEGATED
        if low in _CONTRASTS or _CONTRAST.match(text, word.start):
            mark = SET_ASIDE
        elif (low in NEGATORS or low.endswith("n't")) and not _NOT_ONLY.match(text, word.start):
            mark = NEGATED
        else:
            continue
        # "without losing accuracy" keeps the accuracy: only the loss is negated.
        if i + 1 < len(found) and found[i + 1].text.lower() in _LOSS:
            covered[i + 1] = mark
            continue
        counted = 0
        for j in range(i + 1, len(found)):
            # With the next word's first character: a decimal point is no full stop.
            between = text[found[j - 1].start + len(found[j - 1].text) : found[j].start + 1]
            if _SCOPE_END.search(between) or _SCOPE_END.fullmatch(found[j].text):
                break
            covered[j] = mark
            if content_word(found[j].text.lower()):
                counted += 1
            if counted >= _SCOPE_WORDS:
                break
    return tuple(zip(found, covered, strict=True))


def _polarity(
    text: str, *, claim: bool, ignored: frozenset[str]
) -> dict[str, tuple[list[int], str]]:
    """Each content word's marks, one per occurrence, and the word as first written.
    What a claim sets aside ("rather than X") is left out: the evidence may well
    discuss X; in the evidence a contrast counts as a negation, and a question
    ("are symmetries sufficient?") states nothing."""
    polarity: dict[str, tuple[list[int], str]] = {}
    ends = [(m.start(), m.group(0)) for m in _SENTENCE_END.finditer(text)]
    for word, mark in scopes(text):
        low = word.text.lower()
        if low in NEGATORS or low in _CONTRASTS or low in ignored:
            continue
        if claim and mark == SET_ASIDE:
            continue
        end = next((e for at, e in ends if at > word.start), ".")
        if not claim and end == "?":
            continue
        for part in word.text.split("-"):
            if part.lower() != "free" and content_word(part.lower()):
                # Name parts keep their case-free spelling ("Adam-style" is about Adam).
                key = name_key(part) if part[:1].isupper() else stem(part)
                polarity.setdefault(key, ([], part))[0].append(mark)
    return polarity


def flipped(
    claim: str, evidence: str, *, least: int = 2, ignored: frozenset[str] = frozenset()
) -> list[tuple[str, bool]]:
    """The claim's words that are negated on one side only (every time) and never on
    the other, if they weigh at least `least`: a name that the evidence plainly
    negates ("not applicable to Adam-style optimizers") counts twice, a word once.
    The other way round (the claim negates what the evidence states) needs one more:
    the evidence often states what a claim rightly denies of something else.
    `ignored` words (direction words, judged on their own) do not count. Each word
    comes with whether it is the evidence that negates it."""
    said = _polarity(claim, claim=True, ignored=ignored)
    backed = _polarity(evidence, claim=False, ignored=ignored)
    names = {
        name_key(part)
        for w in words(claim)
        if is_name(w)
        for part in w.text.split("-")
        if part[:1].isupper()
    }
    weight = denied = 0
    found: list[tuple[str, bool]] = []
    for key, (marks, written) in said.items():
        theirs = backed.get(key, ([], ""))[0]
        if not theirs:
            continue
        if all(m == ASSERTED for m in marks) and ASSERTED not in theirs:
            plain = all(m == NEGATED for m in theirs)
            weight += 2 if key in names and plain else 1
            found.append((written, True))
        elif ASSERTED not in marks and all(m == ASSERTED for m in theirs):
            denied += 1
            found.append((written, False))
    return found if weight >= least or denied > least else []
