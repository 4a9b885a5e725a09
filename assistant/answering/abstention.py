"""Deciding, before any LLM runs, whether the retrieved abstracts can answer.

Three signals, each cheap and each meaningful on its own:
- dense: cosine similarity of the closest paper (MiniLM);
- coverage: the share of the question's content words found in the top paper
  (through the BM25 index, so with the same stemming as lexical search);
- unknown names: words that look like names (CLIP-style capitals, "8x7B",
  "YOLOv3") and occur in no abstract of the corpus at all. Asking about a
  named thing the corpus never mentions is the commonest unanswerable question.

support = (dense + coverage) / 2 - 0.1 per unknown name (two at most);
the assistant declines when support is below `min_support`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from assistant.domain import PaperHit
from assistant.index.lexical import LexicalIndex, query_terms

_NAME_PENALTY = 0.1
_MAX_PENALISED = 2
_WORD = re.compile(r"[^\W_]+(?:[-.][^\W_]+)*", re.UNICODE)


@dataclass(frozen=True)
class Assessment:
    support: float
    dense: float
    coverage: float
    unknown_names: tuple[str, ...]
    declined: bool
    reason: str | None

    def as_json(self) -> dict[str, object]:
        return {
            "support": round(self.support, 4),
            "dense": round(self.dense, 4),
            "coverage": round(self.coverage, 4),
            "unknown_names": list(self.unknown_names),
        }


def name_like(question: str) -> list[str]:
    """Words written like names: with a digit and a letter, all capitals, or capitalised
    anywhere but at the start of a sentence (a chat search joins two questions)."""
    names: list[str] = []
    for match in _WORD.finditer(question):
        word = match.group(0)
        has_digit = any(c.isdigit() for c in word)
        has_alpha = any(c.isalpha() for c in word)
        starts_sentence = question[: match.start()].rstrip()[-1:] in ("", ".", "?", "!", ":")
        if (
            (has_digit and has_alpha)
            or (len(word) >= 2 and word.isupper())
            or (not starts_sentence and word[:1].isupper() and word[1:].islower() and len(word) > 2)
        ):
            names.append(word)
    return names


def support_score(dense: float, coverage: float, unknown_names: int) -> float:
    return (dense + coverage) / 2 - _NAME_PENALTY * min(unknown_names, _MAX_PENALISED)


def assess(
    question: str,
    hits: Sequence[PaperHit],
    lexical: LexicalIndex | None,
    min_support: float,
    *,
    follow_up: str | None = None,
) -> Assessment:
    """`question` is what was searched; in chat, `follow_up` is what the user typed
    when the search carried the conversation's topic. A name the follow-up asks
    about that no abstract mentions declines on its own: the topic's words would
    otherwise carry the support."""
    if not hits:
        return Assessment(0.0, 0.0, 0.0, (), True, "The index returned no abstracts.")
    best = max(hits, key=lambda h: h.dense if h.dense is not None else h.score)
    dense = best.dense if best.dense is not None else best.score
    terms = query_terms(question)
    if lexical is not None and terms:
        found = lexical.terms_in(hits[0].paper_id, terms)
        coverage = len(found) / len(terms)
        unknown = tuple(
            n for n in dict.fromkeys(name_like(question)) if lexical.document_frequency(n) == 0
        )
    else:
        coverage, unknown = dense, ()
    support = support_score(dense, coverage, len(unknown))
    asked = set(name_like(follow_up)) if follow_up else set()
    unknown_asked = [n for n in unknown if n in asked]
    if support >= min_support and not unknown_asked:
        return Assessment(support, dense, coverage, unknown, False, None)
    details = [f"closest abstract {best.title!r} has similarity {dense:.2f}"]
    details.append(f"it contains {coverage:.0%} of the question's key words")
    if unknown_asked:
        named = ", ".join(unknown_asked)
        details.append(f"the follow-up asks about {named}, which no abstract mentions")
    elif unknown:
        details.append(f"no abstract mentions {', '.join(unknown)}")
    if support < min_support:
        details.append(f"support {support:.2f} < {min_support:.2f}")
    reason = (
        "The retrieved abstracts do not match the question well enough ("
        + "; ".join(details)
        + ")."
    )
    return Assessment(support, dense, coverage, unknown, True, reason)
