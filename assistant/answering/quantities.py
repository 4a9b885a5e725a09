"""Numbers in a claim, and whether its abstract states them.

A changed number is the commonest way a fluent claim goes wrong, and MiniLM
hardly notices it ("89%" and "98%" embed alike). A claim's number counts as
stated if the abstract gives the same value in digits or words, as a share
("half" for 50%), as orders of magnitude ("two orders of magnitude" for 100x),
rounded ("45%" for 45.27%), or, after "more than" or "about", as a round
figure near it. It is wrong if the abstract gives the same unit or counted
thing ("minutes", "tasks") only with other values.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from functools import lru_cache

from assistant.answering.claimcheck import content_stems, content_word, stem, words

# Number words; a fraction word stands for its denominator and its value
# ("one-eighth as many" is "eight times fewer").
_NUMBER_WORDS: dict[str, tuple[float, ...]] = {
    "two": (2,), "three": (3,), "four": (4,), "five": (5,), "six": (6,), "seven": (7,),
    "eight": (8,), "nine": (9,), "ten": (10,), "eleven": (11,), "twelve": (12,),
    "dozen": (12,), "fifteen": (15,), "twenty": (20,), "thirty": (30,), "forty": (40,),
    "fifty": (50,), "sixty": (60,), "seventy": (70,), "eighty": (80,), "ninety": (90,),
    "hundred": (100,), "thousand": (1000,), "million": (1e6,), "billion": (1e9,),
    "twice": (2,), "double": (2,), "half": (2, 0.5), "halve": (2, 0.5), "third": (3, 1 / 3),
    "quarter": (4, 0.25), "fourth": (4, 0.25), "fifth": (5, 0.2), "tenth": (10, 0.1),
    "eighth": (8, 0.125),
}  # fmt: skip
_SCALES = {"hundred": 100.0, "thousand": 1e3, "million": 1e6, "billion": 1e9}
_SCALE_AFTER = re.compile(r"[\s-]*(hundred|thousand|million|billion)\b", re.IGNORECASE)
# A number written in digits, not glued to letters before it (CIFAR-10 and GPT-4
# are names): 117,702 or 3.5.
_DIGITS = re.compile(r"(?<![A-Za-z_\d.])(?<![A-Za-z]-)(\d{1,3}(?:,\d{3})+(?!\d)|\d+(?:\.\d+)?)")
_ANY_DIGITS = re.compile(r"\d{1,3}(?:,\d{3})+(?!\d)|\d+(?:\.\d+)?")
# "(1)" opens a list item; it states no quantity.
_LIST_MARKER = re.compile(r"\(\s*$")
_HEDGE = re.compile(
    r"(?:more than|over|above|at least|nearly|almost|about|around|roughly|approximately"
    r"|up to|some|~|>|<|\u2248)\s*(?:an?\s+)?$",
    re.IGNORECASE,
)
_MAGNITUDE = re.compile(r"^\W*orders?[\s-]+of[\s-]+magnitude", re.IGNORECASE)
# What a number counts or measures: the unit right after it, in one spelling.
_UNITS = {
    "%": "%", "percent": "%", "\\%": "%", "x": "x", "\u00d7": "x", "times": "x", "fold": "x",
    "ms": "ms", "millisecond": "ms", "milliseconds": "ms", "s": "s", "sec": "s",
    "second": "s", "seconds": "s", "min": "min", "mins": "min", "minute": "min",
    "minutes": "min", "h": "h", "hr": "h", "hrs": "h", "hour": "h", "hours": "h",
    "day": "day", "days": "day", "kb": "kb", "mb": "mb", "gb": "gb", "tb": "tb",
    "k": "k", "m": "m", "b": "b", "fps": "fps", "ghz": "ghz", "mhz": "mhz",
}  # fmt: skip
_AFTER = re.compile(r"^(?:\s*\\?%|\s*[-\u2013]*\s*([A-Za-z\u00d7]+))")
# Scales of a count ("500M", "1.3B"): what follows them is what is counted.
_COUNT_SCALES = frozenset("kmb")


@dataclass(frozen=True)
class Number:
    values: tuple[float, ...]
    text: str
    hedged: bool  # "more than 30", "about 100": a round figure may stand for a precise one
    magnitude: bool  # "two orders of magnitude" is also 100
    what: str  # the unit, or the stem of the noun it counts ("tasks"), or ""
    follows: tuple[str, ...]  # stems of the content words right after it (and its unit)
    shown: str  # as written, with its unit ("45%", "8 minutes")

    @property
    def unit(self) -> bool:
        return self.what in _UNITS.values()


def _what(after: str) -> str:
    match = _AFTER.match(after)
    if not match:
        return ""
    if match.group(1) is None:
        return "%"
    word = match.group(1).lower()
    if word in _UNITS:
        return _UNITS[word]
    return stem(word) if content_word(word) else ""


def _number(text: str, start: int, end: int, values: tuple[float, ...]) -> Number:
    after = text[end:]
    scale = _SCALE_AFTER.match(after)
    if scale:
        values = tuple(v * _SCALES[scale.group(1).lower()] for v in values)
        after = after[scale.end() :]
    hedged = bool(_HEDGE.search(text[:start]))
    unit = _AFTER.match(after)
    rest = after[unit.end() if unit else 0 :].split()
    what = _what(after)
    shown = text[start:end]
    if unit and what in _UNITS.values():
        shown += unit.group(0).rstrip().replace("\\%", "%")
    follows = tuple(content_stems(" ".join(rest[:3])))
    magnitude = bool(_MAGNITUDE.match(after))
    return Number(values, text[start:end], hedged, magnitude, what, follows, shown)


@lru_cache(maxsize=4096)
def _numbers(text: str, pattern: re.Pattern[str]) -> tuple[Number, ...]:
    found: list[Number] = []
    for match in pattern.finditer(text):
        if _LIST_MARKER.search(text[: match.start()]) and text[match.end() :].startswith(")"):
            continue  # "(1)" numbers a list; it states no quantity
        found.append(_number(text, match.start(), match.end(), (float(match[0].replace(",", "")),)))
    for word in words(text):
        offset = word.start
        for part in word.text.split("-"):
            low = part.lower()
            if low.endswith("fold") and low[:-4] in _NUMBER_WORDS:
                low = low[:-4]  # "tenfold" is ten times
            # "a hundred thousand" is one number, not two.
            joined = low in _SCALES and text[:offset].rstrip().lower().endswith(
                tuple(_NUMBER_WORDS)
            )
            if low in _NUMBER_WORDS and not joined:
                number = _number(text, offset, offset + len(part), _NUMBER_WORDS[low])
                if part.lower().endswith("fold"):
                    number = replace(number, what="x")
                found.append(number)
            offset += len(part) + 1
    return tuple(found)


def claim_numbers(text: str) -> tuple[Number, ...]:
    return _numbers(text, _DIGITS)


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def _round(value: float) -> bool:
    """One significant digit (30, 100, 5000): how a paraphrase rounds."""
    if value <= 0:
        return False
    scale = 10 ** math.floor(math.log10(value))
    return _close(value / scale, round(value / scale))


def _same(number: Number, other: Number) -> bool:
    for a in number.values:
        for b in other.values:
            # 0.5 and 50%: the same share.
            if _close(a, b) or (b <= 1 and _close(a, b * 100)) or (a <= 1 and _close(a * 100, b)):
                return True
            if (other.magnitude and _close(a, 10**b)) or (number.magnitude and _close(10**a, b)):
                return True
            if number.hedged and _near(a, b):
                return True
            # "45%" for 45.27%: fewer decimals is rounding, not a new figure.
            places = _decimals(number.text)
            finer = places is not None and places < (_decimals(other.text) or 0)
            if finer and places is not None and _close(a, round(b, places)):
                return True
    return False


def _distance(number: Number, other: Number) -> float:
    return min(abs(math.log((a + 1e-9) / (b + 1e-9))) for a in number.values for b in other.values)


def _after_words(text: str, number: Number) -> list[str]:
    """The word that follows a number and its unit, as written ("tokens")."""
    at = text.find(number.shown)
    rest = text[at + len(number.shown) :].split()[:1] if at >= 0 else []
    return [w.strip(".,;:()") for w in rest]


def _near(a: float, b: float) -> bool:
    """A hedged figure ("about", "more than") and a stated one: "more than a hundred
    thousand" for 117,702, "about 30" for 29, "about a third" for 35%."""
    for hedged in (a, a * 100) if a < 1 else (a,):
        low, high = (0.75, 2.0) if _round(hedged) else (0.85, 1.18)
        if hedged > 0 and low <= b / hedged <= high:
            return True
    return False


def _decimals(text: str) -> int | None:
    """Decimal places of a number written in digits; None for words."""
    if not text[:1].isdigit():
        return None
    return len(text.split(".")[1]) if "." in text else 0


@dataclass(frozen=True)
class NumberProblem:
    claimed: str  # as the claim writes it
    stated: str  # what the abstract says instead, or "" when nothing close
    unit_changed: bool  # same value, other unit or other counted thing


def number_problems(claim: str, abstract: str) -> list[NumberProblem]:
    """Numbers in the claim that the abstract does not state (in digits, in words, as
    a percentage or fraction, or as orders of magnitude), or states with another unit,
    or states for the same thing with another value ("8 minutes" for "2 minutes")."""
    stated = _numbers(abstract, _ANY_DIGITS)
    words_of_abstract = set(content_stems(abstract))
    problems: list[NumberProblem] = []
    for number in claim_numbers(claim):
        same = [o for o in stated if _same(number, o)]
        if number.what:
            alike = [o for o in stated if o.what == number.what]
            if alike and not any(o in same for o in alike):
                nearest = sorted(alike, key=lambda o: _distance(number, o))
                shown = ", ".join(dict.fromkeys(o.shown for o in nearest[:3]))
                problems.append(NumberProblem(number.shown, shown, False))
                continue
            if number.unit and same and not any(o.what == number.what for o in same):
                units = [o for o in same if o.unit]
                if units:
                    problems.append(NumberProblem(number.shown, units[0].shown, True))
                    continue
        if not same:
            problems.append(NumberProblem(number.shown, "", False))
            continue
        # "500M parameters" where the abstract's 500M counts tokens, and never
        # mentions parameters at all. Only after a count's scale: the word after a
        # percentage or a speed-up ("11% faster") is anything.
        noun = number.follows[:1]
        counted = number.what in _COUNT_SCALES
        elsewhere = any(noun[0] in o.follows for o in same) if noun else True
        if counted and not elsewhere and noun[0] not in words_of_abstract:
            claimed = " ".join([number.shown, *_after_words(claim, number)])
            said = " ".join([same[0].shown, *_after_words(abstract, same[0])])
            problems.append(NumberProblem(claimed, said, True))
    return problems
