"""The abstention decision on fixed inputs, and the lexical index behind it."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.answering.abstention import assess, name_like, support_score
from assistant.domain import PaperHit
from assistant.index.lexical import LexicalIndex, query_terms
from assistant.retrieval.retriever import fuse


def _index(tmp_path: Path) -> LexicalIndex:
    index = LexicalIndex(tmp_path / "lex.sqlite3")
    index.upsert(
        [
            ("p1", "Layer Normalization", "We normalize the summed inputs to neurons in a layer."),
            ("p2", "PowerNorm", "Batch normalization in transformers with a quadratic mean."),
        ]
    )
    return index


def _hit(pid: str, dense: float) -> PaperHit:
    return PaperHit(pid, f"T{pid}", dense, "a", ("f",), (), None, (), "c", dense=dense)


def test_name_like_words() -> None:
    assert name_like("How does Mixtral 8x7B route tokens in YOLOv3 and GPT-4?") == [
        "Mixtral",
        "8x7B",
        "YOLOv3",
        "GPT-4",
    ]
    assert name_like("Which paper normalizes layers?") == []
    # A capital that starts a sentence is no name, also after another question.
    assert name_like("Which paper normalizes layers? What about Mixtral?") == ["Mixtral"]


def test_support_combines_the_signals() -> None:
    assert support_score(0.6, 0.8, 0) == pytest.approx(0.7)
    assert support_score(0.6, 0.8, 1) == pytest.approx(0.6)
    assert support_score(0.6, 0.8, 5) == pytest.approx(0.5)  # at most two names count


def test_answerable_question_is_not_declined(tmp_path: Path) -> None:
    index = _index(tmp_path)
    result = assess(
        "How does layer normalization normalize neurons?", [_hit("p1", 0.6)], index, 0.49
    )
    assert not result.declined
    assert result.coverage == 1.0
    assert result.unknown_names == ()


def test_unknown_name_and_poor_match_decline(tmp_path: Path) -> None:
    index = _index(tmp_path)
    result = assess(
        "How many experts does Mixtral route tokens to?", [_hit("p2", 0.45)], index, 0.49
    )
    assert result.declined
    assert result.unknown_names == ("Mixtral",)
    assert result.reason is not None and "no abstract mentions Mixtral" in result.reason
    # The same closeness without the unknown name and with full coverage passes.
    ok = assess("batch normalization transformers quadratic mean", [_hit("p2", 0.45)], index, 0.49)
    assert not ok.declined


def test_a_follow_up_is_judged_with_its_topic_but_not_for_a_name_it_asks_about(
    tmp_path: Path,
) -> None:
    index = _index(tmp_path)
    topic = "How does layer normalization normalize neurons?"
    # Searched with the topic carried over, the terse follow-up is supported...
    carried = assess(
        f"{topic} And the inputs?", [_hit("p1", 0.6)], index, 0.49, follow_up="And the inputs?"
    )
    assert not carried.declined
    # ...but one that asks about a name no abstract mentions declines even though
    # the topic's words alone give enough support.
    named = f"{topic} What about Mixtral?"
    plain = assess(named, [_hit("p1", 0.6)], index, 0.49)
    assert not plain.declined and plain.unknown_names == ("Mixtral",)
    asked = assess(named, [_hit("p1", 0.6)], index, 0.49, follow_up="What about Mixtral?")
    assert asked.declined and asked.support == plain.support
    assert asked.reason is not None
    assert "the follow-up asks about Mixtral, which no abstract mentions" in asked.reason
    assert "support" not in asked.reason  # the support itself was enough


def test_no_hits_declines(tmp_path: Path) -> None:
    result = assess("anything", [], _index(tmp_path), 0.49)
    assert result.declined and result.reason == "The index returned no abstracts."


def test_lexical_index_updates_in_place(tmp_path: Path) -> None:
    index = _index(tmp_path)
    assert index.search("quadratic mean", 5)[0][0] == "p2"
    index.upsert([("p2", "PowerNorm", "Something else entirely about marmalade.")])
    assert index.count() == 2
    assert index.search("quadratic", 5) == []
    assert index.document_frequency("marmalade") == 1
    index.delete(["p1"])
    assert index.present(["p1", "p2"]) == {"p2"}
    assert query_terms("What is the Layer Normalization of it?") == ["layer", "normalization"]


def test_fusion_weights_both_rankings() -> None:
    dense = {"a": 0.9, "b": 0.5, "c": 0.1}
    lexical = {"b": 10.0, "c": 5.0}
    ranked = fuse(dense, lexical, 0.5)
    # a: 0.5*1 + 0 = 0.5; b: 0.5*0.5 + 0.5*1 = 0.75; c: 0 + 0.25.
    assert [p for p, _ in ranked] == ["b", "a", "c"]
    assert [round(s, 4) for _, s in ranked] == [0.75, 0.5, 0.25]
    assert [p for p, _ in fuse(dense, lexical, 1.0)] == ["a", "b", "c"]
