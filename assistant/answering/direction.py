"""Whether a claim says the opposite of its evidence.

A reversed claim ("worsened" for "eased", "the largest" for "the smallest",
"ReLU ... while Tanh ..." with the roles swapped, a dropped "not") shares
nearly every word with its evidence, so similarity and word coverage both
pass it. The checks here, each about the same things in claim and evidence
(they share words around the spot):

- effects: the claim says a thing improves (or increases, or is faster) and
  the evidence only says it degrades (decreases, is slower), negation taken
  into account ("without hurting" is on the good side), or that the two are
  level ("matches", "remains constant");
- substitutions: aligning the claim's words with the evidence's, a word is
  replaced by its opposite ("strongly" by "little", "more" by "less") or a
  name by another name in the same place ("ReLU" by "Tanh");
- roles: "A outperforms B" where the evidence says "B outperforms A";
- negation (`negation.flipped`): words the evidence negates, stated plainly.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

from assistant.answering import negation
from assistant.answering.claimcheck import (
    Word,
    content_stems,
    content_word,
    is_name,
    name_key,
    word_set,
    words,
)

# Opposite poles, as word lists of general English. Effect words carry a claim's
# direction on their own, so finding only the opposite in the evidence is enough;
# comparative and degree words are so common that they count only where the
# alignment puts one in the other's place.
_EFFECT = {
    "change": (
        "increase increases increased increasing rise rises rose risen grow grows grew growing "
        "boost boosts boosted amplify amplifies amplified raise raises raised accelerate",
        "decrease decreases decreased decreasing decline declines declined fall falls fell "
        "drop drops dropped shrink shrinks shrank reduce reduces reduced diminish diminishes "
        "diminished lower lowers lowered slow slows slowed",
    ),
    "speed": (
        "faster fast quickly quicker rapid rapidly speedup accelerates accelerated",
        "slower slow slowly slowed slowdown",
    ),
    "stability": (
        "stable stably robust robustly",
        "unstable fragile brittle vulnerable",
    ),
    "quality": (
        "improve improves improved improving improvement improvements better best outperform "
        "outperforms outperformed outperforming superior benefit benefits beneficial help "
        "helps helped enhance enhances enhanced ease eases eased alleviate alleviates "
        "alleviated mitigate mitigates mitigated advantage advantages beat beats surpass "
        "surpasses surpassed exceed exceeds exceeded",
        "degrade degrades degraded degrading degradation worse worst worsen worsens worsened "
        "underperform underperforms underperformed underperforming inferior harm harms harmed "
        "harmful hurt hurts hurting impair impairs impaired deteriorate deteriorates "
        "deteriorated exacerbate exacerbates exacerbated aggravate aggravates aggravated "
        "disadvantage compromise compromises compromised trail trails trailed trailing lag lags "
        "lagging behind",
    ),
}
_SUBSTITUTES = {
    "amount": (
        "more higher highest larger largest greater greatest bigger biggest large big high "
        "many most increase increases increased rise rises grows",
        "less lower lowest smaller smallest fewer fewest small low little least decrease "
        "decreases decreased falls drops shrinks",
    ),
    "speed": (
        "faster fast quickly quicker rapid rapidly",
        "slower slow slowly slowed",
    ),
    "degree": (
        "strongly significantly substantially considerably greatly markedly dramatically "
        "significant substantial considerable dramatic much heavily strong",
        "little slightly marginally barely hardly negligibly weakly marginal negligible "
        "slight minor weak",
    ),
    "sameness": (
        "same identical similar similarly equal equivalent resembles resemble",
        "different differs differ differently distinct dissimilar unlike",
    ),
    "stability": ("stable stably stability robust", "unstable instability fragile"),
    "severity": (
        "severe severely worst worse heavy heavily serious seriously",
        "mild mildly milder mildest slight slightly light lightly",
    ),
    "quality": _EFFECT["quality"],
}


def _poles(table: dict[str, tuple[str, str]]) -> dict[str, list[tuple[str, int]]]:
    poles: dict[str, list[tuple[str, int]]] = {}
    for axis, (up, down) in table.items():
        for sign, listed in ((1, up), (-1, down)):
            for word in listed.split():
                poles.setdefault(word, []).append((axis, sign))
    return poles


_EFFECT_POLES = _poles(_EFFECT)
_SUBSTITUTE_POLES = _poles(_SUBSTITUTES)


# Words that put two things level: a claim that one is better (or that a cost
# grows) is not backed by evidence that says they match (or that it stays put).
_LEVEL = {
    "quality": word_set(
        "match matches matched matching comparable comparably competitive par equal equals "
        "equally equivalent similar similarly"
    ),
    "change": word_set(
        "constant unchanged unaffected regardless independent invariant steady flat stays remains"
    ),
}
_BEFORE, _AFTER = 2, 5
# Words an effect in the claim and one in the evidence must share around them to
# be about the same thing.
_SHARED_CONTEXT = 2
# Verbs that rank their subject over their object ("A outperforms B").
_RANKING = word_set(
    "outperform outperforms outperformed outperforming beat beats surpass surpasses "
    "surpassed exceed exceeds exceeded underperform underperforms underperformed trail "
    "trails trailed"
)
# What a ranking verb ranks below its subject: its first few content words; in
# the evidence, more ("outperformed NDP by 1.08x and Diffusion Policy by 1.16x").
_OBJECT_WORDS = 3
_EVIDENCE_OBJECT_WORDS = 10
# A comma, semicolon, colon, bracket or full stop (not a decimal point), or a
# conjunction that starts another clause.
_CLAUSE_END = re.compile(r"[,;:()]|\.(?!\d)|\b(?:while|whereas|but|although)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Conflict:
    reason: str


@dataclass(frozen=True)
class _Effect:
    axis: str
    sign: int  # +1, -1, or 0: level
    context: frozenset[str]  # stems of the content words around it
    word: str


def _around(stems: list[tuple[str, ...]], i: int) -> frozenset[str]:
    """What an effect word is about: a few content words before it, more after it
    (a verb's object, an adjective's noun)."""
    before = [s for w in stems[max(0, i - 2 * _BEFORE) : i] for s in w][-_BEFORE:]
    after = [s for w in stems[i + 1 : i + 1 + 2 * _AFTER] for s in w][:_AFTER]
    return frozenset(before + after)


def _stems(text: str) -> tuple[list[tuple[str, int]], list[tuple[str, ...]]]:
    """Words (lower case) with their negation marks, and their content stems."""
    marked = [(w.text.lower(), mark) for w, mark in negation.scopes(text)]
    return marked, [content_stems(w) for w, _ in marked]


def _effects(text: str) -> list[_Effect]:
    """The effect words of a text, negation flipping their sign, and level words."""
    marked, stems = _stems(text)
    found: list[_Effect] = []
    for i, (low, mark) in enumerate(marked):
        poles = list(_EFFECT_POLES.get(low, ()))
        poles += [(axis, 0) for axis, level in _LEVEL.items() if low in level]
        for axis, sign in poles:
            flipped = -sign if mark != negation.ASSERTED else sign
            shown = low if mark == negation.ASSERTED else f"not {low}"
            found.append(_Effect(axis, flipped, _around(stems, i), shown))
    return found


def reversed_effect(claim: str, evidence: str) -> Conflict | None:
    """The claim's effect goes one way; the evidence, about the same things, only
    the other way, or level."""
    said, backed = _effects(claim), _effects(evidence)
    for effect in said:
        # A claim that goes both ways ("first rises, then falls") is not reversed.
        if effect.sign == 0 or any(e.axis == effect.axis and e.sign == -effect.sign for e in said):
            continue
        if any(e.sign == effect.sign for e in backed if e.axis == effect.axis):
            continue
        near = [
            e
            for e in backed
            if e.axis == effect.axis and len(e.context & effect.context) >= _SHARED_CONTEXT
        ]
        opposite = [e for e in near if e.sign == -effect.sign]
        if opposite:
            return Conflict(
                f"direction reversed: '{effect.word}' where the evidence says '{opposite[0].word}'"
            )
        if near:
            return Conflict(f"'{effect.word}' where the evidence says '{near[0].word}'")
    return None


def _sequence(text: str) -> list[tuple[str, str]]:
    """(key, original) for each word that matters for alignment."""
    items: list[tuple[str, str]] = []
    for word in words(text):
        low = word.text.lower()
        if low in _SUBSTITUTE_POLES or low in negation.NEGATORS:
            items.append((low, word.text))
        elif content_word(low) or is_name(word):
            items.append((name_key(word.text), word.text))
    return items


def substitution(claim: str, evidence: str) -> Conflict | None:
    """A word replaced by its opposite, or a name by another name, where the claim
    and its evidence otherwise line up."""
    a, b = _sequence(claim), _sequence(evidence)
    keys_a, keys_b = [k for k, _ in a], [k for k, _ in b]
    # A word written as a name in either text is a name in both ("Tanh" may open
    # the evidence's sentence).
    names = {name_key(w.text) for w in words(claim) + words(evidence) if is_name(w)}
    matcher = SequenceMatcher(None, keys_a, keys_b, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op != "replace":
            continue
        # Short blocks only: in a long one, words in different roles meet ("one-eighth
        # as many parameters" / "eight times fewer parameters").
        if i2 - i1 > 3 or j2 - j1 > 3:
            continue
        for (key, text), (other_key, other_text) in itertools.product(a[i1:i2], b[j1:j2]):
            poles = set(_SUBSTITUTE_POLES.get(key, ()))
            opposite = {(axis, -sign) for axis, sign in _SUBSTITUTE_POLES.get(other_key, ())}
            if poles & opposite:
                return Conflict(
                    f"direction reversed: '{text}' where the evidence says '{other_text}'"
                )
            # Names trade places: each is in both texts, in the other's role.
            swapped = (
                key in names
                and other_key in names
                and key != other_key
                and key in keys_b
                and other_key in keys_a
            )
            if swapped:
                return Conflict(f"'{text}' where the evidence names '{other_text}'")
    return None


def _clause_stems(
    text: str, found: Sequence[Word], indices: range, limit: int, *, comma: bool
) -> set[str]:
    """Content stems of the words at `indices`, in order, until the clause ends (a
    comma does not end it when `comma`) or `limit` stems are taken."""
    taken: list[str] = []
    for step, j in enumerate(indices):
        if step:
            k = j + 1 if indices.step < 0 else j - 1
            left, right = (found[j], found[k]) if indices.step < 0 else (found[k], found[j])
            # With the next word's first character: a decimal point is no full stop.
            gap = text[left.start + len(left.text) : right.start + 1]
            if _CLAUSE_END.search(gap.replace(",", "") if comma else gap):
                break
        taken.extend(content_stems(found[j].text))
        if len(taken) >= limit:
            break
    return set(taken[:limit])


def _roles(
    text: str, object_words: int = _OBJECT_WORDS
) -> list[tuple[tuple[str, int], set[str], set[str]]]:
    """For each ranking verb ("outperforms") or comparative with "than" ("works
    better than"): its axis and sign, what ranks (the clause before it) and what is
    ranked (the first words after it); the passive ("is outperformed by") swaps
    them. Words on both sides ("dropping X works better than dropping Y") say
    nothing about who ranks where and are left out."""
    found = words(text)
    result: list[tuple[tuple[str, int], set[str], set[str]]] = []
    for i, word in enumerate(found):
        low = word.text.lower()
        after_word = found[i + 1].text.lower() if i + 1 < len(found) else ""
        if low in _RANKING:
            pole = _EFFECT_POLES[low][0]
            start = i + 2 if after_word == "by" else i + 1
        elif after_word == "than" and low in _SUBSTITUTE_POLES:
            pole = _SUBSTITUTE_POLES[low][0]
            start = i + 2
        else:
            continue
        # A participle ("..., almost always outperforming B") ranks the clause's subject.
        before = _clause_stems(text, found, range(i - 1, -1, -1), 12, comma=low.endswith("ing"))
        after = _clause_stems(text, found, range(start, len(found)), object_words, comma=False)
        before, after = before - after, after - before
        result.append((pole, after, before) if after_word == "by" else (pole, before, after))
    return result


def swapped_roles(claim: str, evidence: str) -> Conflict | None:
    """ "A outperforms B" where the evidence, in the same sense, has B outperforming
    A: what the evidence ranks below is on the claim's top side, and the two rank
    nothing below in common."""
    for pole, ranking, ranked in _roles(claim):
        for other_pole, _, other_ranked in _roles(evidence, _EVIDENCE_OBJECT_WORDS):
            if other_pole != pole or ranked & other_ranked:
                continue
            if len(other_ranked & ranking) >= 2:
                return Conflict("roles swapped: the evidence ranks them the other way round")
    return None


def _quoted(found: list[str]) -> str:
    return ", ".join(f"'{w}'" for w in found[:3])


def contradiction(claim: str, passages: Sequence[str], sentences: Sequence[str]) -> Conflict | None:
    """The first way the claim says the opposite of its evidence, if any. Word
    alignment runs sentence by sentence (across two sentences it lines up words
    from both); the other checks read each passage whole, so a negation in one
    sentence and the plain statement in the next do not count as a flip."""
    for sentence in sentences:
        conflict = substitution(claim, sentence)
        if conflict:
            return conflict
    for passage in passages:
        conflict = reversed_effect(claim, passage) or swapped_roles(claim, passage)
        if conflict:
            return conflict
        flipped = negation.flipped(claim, passage, ignored=frozenset(_SUBSTITUTE_POLES))
        if flipped:
            negated = [w for w, by_evidence in flipped if by_evidence]
            if negated:
                return Conflict(f"negation differs: the evidence negates {_quoted(negated)}")
            stated = [w for w, _ in flipped]
            return Conflict(f"negation differs: the evidence states {_quoted(stated)} plainly")
    return None
