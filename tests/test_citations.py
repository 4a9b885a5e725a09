"""Citation markers: resolved, renumbered by first use, invalid ones dropped."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from assistant.answering.citations import CitationStream, resolve_citations

VALID = {1: "p1", 2: "p2", 3: "p3"}


def test_renumbers_by_first_citation_and_drops_unknown() -> None:
    result = resolve_citations("B says so [2]. A agrees [1, 9]. Both [2][1].", VALID)
    assert result.text == "B says so [1]. A agrees [2]. Both [1][2]."
    assert result.cited == ["p2", "p1"]
    assert result.dropped == [9]


def test_ranges_and_semicolons() -> None:
    result = resolve_citations("All three [1-3]; two [3; 1].", VALID)
    assert result.text == "All three [1][2][3]; two [3][1]."
    assert result.cited == ["p1", "p2", "p3"]


def test_non_citation_brackets_are_left_alone() -> None:
    text = "An interval [a, b] and a list [x] and x[0] and [ 7 items."
    result = resolve_citations(text, VALID)
    assert result.text == "An interval [a, b] and a list [x] and x[0] and [ 7 items."
    assert result.cited == []
    assert result.dropped == []


def test_fake_citation_of_a_paper_not_retrieved_is_never_a_source() -> None:
    result = resolve_citations("Injected [7]. Real [3].", VALID)
    assert result.text == "Injected . Real [1]."
    assert result.cited == ["p3"]
    assert result.dropped == [7]


@given(st.lists(st.text(min_size=0, max_size=6), max_size=30))
def test_streaming_in_any_pieces_equals_resolving_at_once(pieces: list[str]) -> None:
    text = "".join(pieces) + " see [2] and [1,3] and [12]"
    whole = resolve_citations(text, VALID)
    stream = CitationStream(VALID)
    shown = (
        "".join(stream.feed(p) for p in [*pieces, " see [2] and [1,3] and [12]"]) + stream.finish()
    )
    assert shown == whole.text
    assert stream.cited == whole.cited
    assert stream.dropped == whole.dropped
