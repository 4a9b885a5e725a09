"""Words of a claim against the abstract that should back it.

MiniLM similarity says whether a claim is about what a sentence is about; it
barely moves when a name or a few words change. These checks look at exactly
those: the claim's content words and names that the abstract does not contain,
and the statements a claim joins. They are plain string rules, so each finding
can be quoted back to the user as the reason. The word analysis here (words,
stems, names) is shared by `quantities`, `negation` and `direction`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise


def word_set(listed: str) -> frozenset[str]:
    """A word list written as one string, split on spaces."""
    return frozenset(listed.split())


# Function words, and words every abstract uses: neither can show that an
# abstract backs a claim. Polarity words ("not", "more", "without") are not
# here: the direction checks need them in the word sequence.
_STOPWORDS = word_set(
    """a about above after again all also am an and any are as at be because been before being
    below both but by can could did do does doing during each for from further had has have
    having he her here hers him his how i if in into is it its itself just me my of off on once
    or other our ours out own she should so some such than that the their them then there these
    they this those through to too until up very was we were what when where which while who
    whom why will with would you your paper papers work works study studies authors author
    method methods approach approaches propose proposes proposed present presents presented
    introduce introduces introduced show shows shown showed demonstrate demonstrates use uses
    using used via based new novel one two three first second et al e g eg i ie etc thus
    hence however moreover furthermore therefore whereas yet"""
)
# A word: letters and digits, joined by inner hyphens or apostrophes.
_WORD = re.compile(r"[^\W_]+(?:[-'\u2019][^\W_]+)*", re.UNICODE)
# The usual English suffixes; cutting them lets "reinitializing" meet "reinitialize".
_SUFFIXES = (
    "ational", "ization", "ations", "ation", "ities", "ness", "ments", "ment", "ings", "ing",
    "ised", "ized", "ises", "izes", "ise", "ize", "ies", "ied", "ed", "es", "ly", "er", "s", "e",
)  # fmt: skip
_STEM_LENGTH = 6


@lru_cache(maxsize=1 << 16)
def stem(word: str) -> str:
    """A crude stem: lower case, no hyphen, one suffix cut, at most six letters.

    Crude on purpose: it must match inflections of technical words no
    dictionary lists, and a rare false match only makes a claim look a little
    better covered.
    """
    word = word.lower().replace("-", "").replace("'", "").replace("\u2019", "")
    if word.endswith("ies") and len(word) > 5:
        word = word[:-3] + "y"
    for suffix in _SUFFIXES:
        if len(word) - len(suffix) >= 3 and word.endswith(suffix):
            word = word[: -len(suffix)]
            break
    return word[:_STEM_LENGTH]


@dataclass(frozen=True)
class Word:
    text: str
    start: int  # character offset in its text
    sentence_start: bool  # first word of a sentence (or after a colon): capitals say nothing


# The same abstract is read for every claim checked against it: the analyses
# of a text are cached (bounded) rather than threaded through every call.
_TEXTS = 4096


@lru_cache(maxsize=_TEXTS)
def words(text: str) -> tuple[Word, ...]:
    found: list[Word] = []
    end = 0
    for match in _WORD.finditer(text):
        # What stands between this word and the previous one; opening brackets
        # and quotes do not end a sentence.
        between = text[end : match.start()].strip().rstrip("([{\"'\u201c")
        opens = not found or between[-1:] in (".", "!", "?", ":")
        found.append(Word(match.group(0), match.start(), opens))
        end = match.end()
    return tuple(found)


def content_word(low: str) -> bool:
    return low not in _STOPWORDS and len(low) >= 3 and any(c.isalpha() for c in low)


@lru_cache(maxsize=_TEXTS)
def content_stems(text: str) -> tuple[str, ...]:
    """Stems of the words that carry meaning, in order; hyphenated words count per part."""
    stems: list[str] = []
    for word in words(text):
        stems.extend(stem(p) for p in word.text.lower().split("-") if content_word(p))
    return tuple(stems)


@lru_cache(maxsize=_TEXTS)
def _units(text: str) -> tuple[tuple[str, tuple[tuple[str, ...], ...]], ...]:
    """The claim's content words, each with the ways of finding it: "auto-encoder"
    is found as "autoencoder" or as both "auto" and "encoder"; "RNNs" as itself or
    as the initials of "recurrent neural networks"."""
    units: dict[str, tuple[tuple[str, ...], ...]] = {}
    for word in words(text):
        low = word.text.lower()
        parts = tuple(stem(p) for p in low.split("-") if content_word(p))
        if not parts:
            continue
        options: tuple[tuple[str, ...], ...] = ((stem(low),), parts)
        if word.text[:2].isupper() and word.text.replace("-", "").isalpha():
            options += (("#" + name_key(word.text),),)
        units.setdefault(stem(low), options)
    return tuple(units.items())


@lru_cache(maxsize=_TEXTS)
def findable(text: str) -> frozenset[str]:
    """The stems a claim word may match in `text` (see `_units`)."""
    found = set(content_stems(text))
    found |= {stem(w.text) for w in words(text) if "-" in w.text}
    return frozenset(found)


def coverage(claim: str, text: str) -> tuple[float, list[str]]:
    """Share of the claim's content words found in `text`, and the claim's words
    that are not."""
    units = _units(claim)
    if not units:
        return 1.0, []
    found = findable(text)
    missing = []
    for key, options in units:
        for option in options:
            if option[0].startswith("#"):
                if option[0][1:] in _acronyms(text):
                    break
            elif all(p in found for p in option):
                break
        else:
            missing.append(key)
    return 1 - len(missing) / len(units), missing


def share_found(claim: str, found: frozenset[str]) -> float:
    """Share of the claim's content words among `found` stems (from `findable`, or a
    union of them), acronyms aside: a quick `coverage` for ranking passages."""
    units = _units(claim)
    if not units:
        return 1.0
    hits = sum(
        any(all(p in found for p in o) for o in options if not o[0].startswith("#"))
        for _, options in units
    )
    return hits / len(units)


# -- names -----------------------------------------------------------------


def is_name(word: Word) -> bool:
    """Written like the name of a method, data set, model or metric: capitals after
    the first letter (BERT, ShiftGELU, iWildCam), letters with digits (S4D,
    CIFAR-10, L2), or capitalised in mid-sentence (Gabor, Prolog)."""
    text = word.text
    parts = text.split("-")
    if len(text) < 2 or not any(c.isalpha() for c in text):
        return False
    if text.isupper() or any(c.isupper() for c in text[1:]):
        return len(text.replace("-", "")) >= 2
    if any(c.isdigit() for c in text) and text[0].isalpha():
        return True
    return not word.sentence_start and any(p[:1].isupper() for p in parts)


def name_key(text: str) -> str:
    key = text.lower().replace("-", "").replace("_", "").replace("'s", "")
    # Plural acronyms: "LLMs" is "LLM".
    return key[:-1] if len(key) > 3 and key.endswith("s") else key


@lru_cache(maxsize=_TEXTS)
def _acronyms(text: str) -> frozenset[str]:
    """Initials of every run of two to six words: "recurrent neural networks" gives
    "rnn", so a claim's acronym meets the abstract's spelled-out name."""
    initials = [w.text[0].lower() for w in words(text) if w.text.lower() not in ("of", "and")]
    runs: set[str] = set()
    for size in range(2, 7):
        for i in range(len(initials) - size + 1):
            runs.add("".join(initials[i : i + size]))
    return frozenset(runs)


@lru_cache(maxsize=_TEXTS)
def _name_keys(text: str) -> frozenset[str]:
    """Every spelling under which `text` writes a name: each word, each part of a
    hyphenated word, and adjacent words joined ("Layer Norm" for "LayerNorm")."""
    tokens = [w.text for w in words(text)]
    keys = {name_key(t) for t in tokens}
    keys |= {name_key(p) for t in tokens for p in t.split("-")}
    keys |= {name_key(a + b) for a, b in pairwise(tokens)}
    return frozenset(keys)


def missing_names(claim: str, abstract: str) -> list[str]:
    """Names in the claim that the abstract never writes (nor spells out as words).
    A hyphenated name is written if its name-like parts are ("LSTM-based" for
    "LSTM-RNN"), except that a number in it must match whole ("CIFAR-100")."""
    keys = _name_keys(abstract)
    missing: list[str] = []
    for word in words(claim):
        key = name_key(word.text)
        if not is_name(word) or key in keys:
            continue
        if key.isalpha() and key in _acronyms(abstract):
            continue
        parts = word.text.split("-")
        named = [p for p in parts if any(c.isupper() for c in p)]
        numbered = any(c.isdigit() for c in word.text)
        if len(parts) > 1 and named and not numbered and all(name_key(p) in keys for p in named):
            continue
        if word.text not in missing:
            missing.append(word.text)
    return missing


# -- clauses ---------------------------------------------------------------

# Where a claim joins two statements: each must be backed on its own.
_CLAUSE_BREAK = re.compile(
    r"\s*(?:;|,?\s+and\s+(?:also|then|it|they|the|this|that|its|their)\b|,\s+(?:while|whereas|"
    r"but|and)\s+|\s+and\s+also\s+)\s*",
    re.IGNORECASE,
)
_MIN_CLAUSE_WORDS = 3


def clauses(claim: str) -> list[str]:
    """The claim's statements, if it joins several; each has a few content words."""
    parts = [p.strip() for p in _CLAUSE_BREAK.split(claim)]
    kept = [p for p in parts if len(content_stems(p)) >= _MIN_CLAUSE_WORDS]
    return kept if len(kept) > 1 else [claim]
