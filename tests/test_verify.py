"""Every sentence of an answer is checked against what it cites (issue 16).

A backend that writes known sentences, built from the abstracts it is given,
drives the three outcomes end to end on real components (Chroma, MiniLM, the
support checker); the Ollama backend, against the fake server, shows the marks
streaming in a pseudo-terminal.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from ollama_server import DEFAULT_MODEL, FakeOllama
from pseudo_terminal import plain, run_in_terminal

from assistant.answering.claimcheck import content_stems
from assistant.answering.support import split_sentences
from assistant.answering.verify import FALLBACK
from assistant.backends import AnswerRequest
from assistant.pipeline import Pipeline
from assistant.settings import load_settings
from tests.conftest import cli_env

QUESTION = "What is layer normalization and how does it speed up training?"
INVENTED = "The method triples ImageNet accuracy with 900 recurrent layers on quantum hardware"


def _specific(abstract: str, other: str) -> str:
    """The sentence of `abstract` with the most content words `other` lacks."""
    known = set(content_stems(other))
    return max(split_sentences(abstract), key=lambda s: len(set(content_stems(s)) - known))


class ScriptedWriter:
    """Writes, from the abstracts it is given, in small streamed pieces:
    1. a sentence of abstract 1, citing [1] (backed);
    2. a sentence of abstract 2, citing [1] (backed, by the other abstract);
    3. an invented claim citing [2] (backed by none);
    4. a sentence of abstract 3 with no citation (backed, uncited)."""

    name = "scripted"
    model = "test"
    instruction_following = False
    max_abstracts: int | None = None
    evidence_sentences: int | None = None

    def __init__(self, *, invent_only: bool = False) -> None:
        self.invent_only = invent_only
        self.written = ""

    def check(self) -> None:
        return None

    def stream(self, request: AnswerRequest) -> Iterator[str]:
        one, two, three = request.hits[:3]
        first = split_sentences(one.abstract)[0]
        # What abstract 2 says and abstract 1 does not, for a citation to correct.
        second = _specific(two.abstract, one.abstract)
        third = _specific(three.abstract, one.abstract + two.abstract)
        if self.invent_only:
            self.written = f"{INVENTED} [1]. Also, it needs no data at all [2]."
        else:
            self.written = (
                f"{first[:-1]} [1]. {second[:-1]} [1]. {INVENTED} [2]. {third}\nIn short: done."
            )
        for start in range(0, len(self.written), 7):
            yield self.written[start : start + 7]

    def complete(self, prompt: str, max_tokens: int) -> str:
        return ""


def _answer(unsupported: str, backend: ScriptedWriter) -> tuple[object, list[str]]:
    pipeline = Pipeline(load_settings(unsupported=unsupported))
    shown: list[str] = []
    answer = pipeline.answerer(backend).answer(QUESTION, on_text=shown.append)
    return answer, shown


def test_kept_corrected_marked_and_added_citations(bundled_home: Path) -> None:
    backend = ScriptedWriter()
    answer, shown = _answer("mark", backend)
    verdicts = [(s.verdict, s.citations, s.cited_before) for s in answer.sentences]  # type: ignore[attr-defined]
    assert verdicts == [
        ("supported", (1,), ()),
        ("corrected", (2,), (1,)),
        ("unsupported", (2,), ()),
        ("corrected", (3,), ()),
        ("not checked", (), ()),
    ]
    text = "".join(shown)
    # Each mark right after its sentence, before the next sentence is shown.
    invented = text.index(INVENTED)
    assert text[invented:].startswith(f"{INVENTED} [2]. [unsupported]")
    assert " [citation corrected]" in text and " [citation added]" in text
    assert text.index("[citation corrected]") < invented
    # The answer's text has the corrected citations and no marks.
    assert "[unsupported]" not in answer.text and "corrected]" not in answer.text  # type: ignore[attr-defined]
    sources = {s.number: s for s in answer.sources}  # type: ignore[attr-defined]
    assert sorted(sources) == [1, 2, 3]
    # Under each source, the abstract sentence that backs what was said.
    for number, sentence in ((1, 0), (2, 1), (3, 3)):
        checked = answer.sentences[sentence]  # type: ignore[attr-defined]
        assert checked.evidence and checked.evidence[0].number == number
        assert checked.evidence[0].sentence in sources[number].evidence
        assert checked.evidence[0].sentence in sources[number].hit.abstract


def test_drop_leaves_out_what_no_abstract_backs(bundled_home: Path) -> None:
    answer, shown = _answer("drop", ScriptedWriter())
    assert INVENTED not in "".join(shown) and INVENTED not in answer.text  # type: ignore[attr-defined]
    assert [s.verdict for s in answer.sentences].count("unsupported") == 1  # type: ignore[attr-defined]
    assert answer.text.count("[") == 3  # type: ignore[attr-defined]


def test_when_nothing_survives_the_answer_quotes_the_abstracts(bundled_home: Path) -> None:
    answer, _ = _answer("drop", ScriptedWriter(invent_only=True))
    text = answer.text  # type: ignore[attr-defined]
    assert text.startswith(FALLBACK) and INVENTED not in text
    quoted = [s for s in answer.sentences if s.reason == "quoted verbatim"]  # type: ignore[attr-defined]
    assert quoted and all(s.verdict == "supported" for s in quoted)
    for sentence in quoted:
        (quote,) = sentence.evidence
        source = next(s for s in answer.sources if s.number == quote.number)  # type: ignore[attr-defined]
        assert quote.sentence in source.hit.abstract and quote.sentence[:-1] in text


def test_marks_stream_in_a_pseudo_terminal(bundled_home: Path) -> None:
    pipeline = Pipeline(load_settings())
    hits = pipeline.retriever.retrieve(QUESTION, 5)
    first = split_sentences(hits[0].abstract)[0]
    reply = [first[:-1], " [1].", f" {INVENTED}", " [1].", " Layer norms", " help", " [1]."]
    with FakeOllama(reply=reply, models=[DEFAULT_MODEL]) as server:
        # Wide enough that no sentence wraps: the marks are read in line.
        code, output = run_in_terminal(
            ["ask", QUESTION, "--backend", "ollama"],
            cli_env(OLLAMA_HOST=server.url, ASSISTANT_HOME=str(bundled_home)),
            columns=400,
        )
    assert code == 0, output
    lines = plain(output)
    assert re.search(re.escape(first[:-1]) + r" \[1\]\.( |$)", lines), lines
    assert f"{INVENTED} [1]. [unsupported]" in lines
    assert lines.index("[unsupported]") < lines.index("Layer norms help")
    assert "Checked against the abstracts: " in lines


def test_chat_shows_the_quotes_and_why(bundled_home: Path) -> None:
    from typer.testing import CliRunner

    from assistant.cli.app import app

    result = CliRunner().invoke(
        app,
        ["chat", "--backend", "none"],
        input=f"{QUESTION}\n/why 2\n/why 9\n/why\n/sources\n",
    )
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Sentence 2: - " in out and "Verdict: supported (score " in out
    assert "Why: supported" in out
    assert re.search(r'^  \[\d\] "', out, flags=re.MULTILINE)  # the sentence it rests on
    assert "The last answer has sentences 1 to " in out
    assert "Usage: /why N" in out
    # /sources: each paper with the abstract sentence that backs it, quoted.
    after = out.split("Usage: /why N", 1)[1]
    assert re.search(r'^  \[1\] .+\n      ".+"$', after, flags=re.MULTILINE), after


@pytest.mark.parametrize(
    "sentence",
    [
        "Which papers apply variational quantum circuits to reinforcement learning? [1].",
        "The paper [1].",
        "In short, the following methods: [1]",
    ],
)
def test_a_citation_on_a_sentence_that_states_nothing_is_unsupported(sentence: str) -> None:
    from assistant.answering.support import SupportChecker
    from assistant.answering.verify import SentenceChecker
    from assistant.domain import PaperHit

    def never(_texts: object) -> object:
        raise AssertionError("nothing to encode: the sentence states nothing")

    hit = PaperHit(
        "p1", "A paper", 1.0, "Quantum circuits learn CartPole.", ("f",), (), None, (), ""
    )
    judge = SentenceChecker(SupportChecker(never), [hit])  # type: ignore[arg-type]
    judge.bind(lambda _p: 1, lambda _n: "p1")
    checked = judge.check(sentence)
    assert (checked.verdict, checked.reason) == (
        "unsupported",
        "a citation on a sentence that says nothing",
    )
    uncited = judge.check(sentence.replace("[1]", ""))
    assert uncited.verdict == "not checked"
