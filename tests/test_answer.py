"""`ask` end to end on real components: Chroma, MiniLM, and the bundled llama.cpp model."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from assistant.backends import AnswerRequest, make_backend
from assistant.cli.app import app
from assistant.pipeline import Pipeline
from assistant.settings import load_settings
from tests.conftest import ROOT

runner = CliRunner()
GOLDEN = Path(__file__).parent / "golden"
QUESTION = "Which papers propose alternatives to batch normalization for NLP models?"


def _sources(stdout: str) -> dict[int, str]:
    block = stdout.split("\nSources:\n", 1)[1]
    return {
        int(m.group(1)): m.group(2)
        for m in re.finditer(r"^\s+\[(\d+)\] (.+?) \(", block, flags=re.MULTILINE)
    }


def _cited(text: str) -> set[int]:
    return {int(n) for n in re.findall(r"\[(\d+)\]", text)}


@pytest.mark.slow
def test_ask_with_the_embedded_model_cites_only_retrieved_papers(bundled_home: Path) -> None:
    result = runner.invoke(app, ["ask", QUESTION, "--backend", "llamacpp"])
    assert result.exit_code == 0, result.stderr
    assert "Backend: llamacpp (gemma-3-270m-q4_k_m.gguf)" in result.stderr
    answer, _, _ = result.stdout.partition("\nSources:\n")
    sources = _sources(result.stdout)
    # The grammar makes every sentence cite; each citation shown resolves to a source.
    assert sources, result.stdout
    assert _cited(answer) == set(sources)
    assert list(sources) == list(range(1, len(sources) + 1))

    as_json = runner.invoke(app, ["ask", QUESTION, "--backend", "llamacpp", "--json"])
    data = json.loads(as_json.stdout)
    retrieved = {h["paper_id"] for h in data["retrieved"]}
    assert data["answered"] is True and data["backend"] == "llamacpp"
    assert {s["paper_id"] for s in data["sources"]} <= retrieved
    assert _cited(data["answer"]) == {s["number"] for s in data["sources"]}
    assert data["timings"]["first_token_s"] <= data["timings"]["total_s"]


class RecordingBackend:
    """Answers "[1] and [3]" and keeps the request it was given."""

    name = "recording"
    model = "test"
    instruction_following = False

    def __init__(self, max_abstracts: int | None) -> None:
        self.max_abstracts = max_abstracts
        self.evidence_sentences: int | None = None
        self.requests: list[AnswerRequest] = []

    def check(self) -> None:
        return None

    def stream(self, request: AnswerRequest) -> Iterator[str]:
        self.requests.append(request)
        yield "One idea [1], another [3]."

    def complete(self, prompt: str, max_tokens: int) -> str:
        return ""


@pytest.mark.parametrize("limit", [None, 2])
def test_the_model_is_given_at_most_its_max_abstracts(bundled_home: Path, limit: int) -> None:
    backend = RecordingBackend(limit)
    answer = Pipeline(load_settings()).answerer(backend).answer(QUESTION)
    (request,) = backend.requests
    retrieved = [h.paper_id for h in answer.retrieved]
    given = len(retrieved) if limit is None else limit
    assert len(retrieved) == 5  # top_k: what is retrieved does not change
    assert [h.paper_id for h in request.hits] == retrieved[:given]
    assert request.prompt.user.count('<abstract number="') == given
    assert [s.hit.paper_id for s in answer.sources] == (
        [retrieved[0]] if limit == 2 else [retrieved[0], retrieved[2]]
    )
    # An abstract the model was not given cannot be cited, even if it was retrieved.
    assert answer.dropped_citations == ([3] if limit == 2 else [])


def test_the_llamacpp_model_gets_three_abstracts_unless_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = load_settings()
    assert make_backend("llamacpp", settings, None, None).max_abstracts == 3
    assert make_backend("none", settings, None, None).max_abstracts is None
    monkeypatch.setenv("ASSISTANT_LLAMACPP_MAX_ABSTRACTS", "5")
    assert make_backend("llamacpp", load_settings(), None, None).max_abstracts == 5


def _keys(value: object) -> object:
    if isinstance(value, dict):
        return {k: _keys(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [_keys(value[0])] if value else []
    return type(value).__name__


def test_ask_json_schema_matches_golden(bundled_home: Path) -> None:
    result = runner.invoke(app, ["ask", QUESTION, "--backend", "none", "--json"])
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    shape = _keys(data)
    golden = GOLDEN / "ask_json_shape.json"
    assert shape == json.loads(golden.read_text())
    assert data["answered"] is True
    assert data["answer"].startswith("Extractive answer (no language model)")
    verdicts = [s["verdict"] for s in data["sentences"]]
    assert verdicts[0] == "not checked" and set(verdicts[1:]) == {"supported"}
    titles = {s["title"] for s in data["sources"]}
    assert titles & {
        "Layer Normalization",
        "PowerNorm: Rethinking Batch Normalization in Transformers",
    }


def test_help_matches_golden() -> None:
    result = runner.invoke(app, ["--help"], terminal_width=100)
    assert result.stdout == (GOLDEN / "help.txt").read_text()


def test_extractive_answer_is_labelled_and_cited(bundled_home: Path) -> None:
    result = runner.invoke(app, ["ask", QUESTION, "--backend", "none"])
    assert result.exit_code == 0
    assert result.stdout.startswith("Extractive answer (no language model)")
    answer = result.stdout.split("\nSources:\n")[0]
    assert _cited(answer) == set(_sources(result.stdout))


def test_unrelated_question_is_declined_before_any_llm(bundled_home: Path) -> None:
    # llamacpp would load a model; a retrieval abstention must not even try.
    result = runner.invoke(
        app,
        [
            "ask",
            "What is the boiling point of tungsten in kelvin?",
            "--backend",
            "llamacpp",
            "--json",
        ],
    )
    data = json.loads(result.stdout)
    assert result.exit_code == 0
    assert (data["answered"], data["abstention"]) == (False, "retrieval")
    assert data["answer"] == "The abstracts do not say."
    assert data["sources"] == [] and "first_token_s" not in data["timings"]


def test_wheel_carries_prompts_and_data(tmp_path: Path) -> None:
    import subprocess
    import sys
    import zipfile

    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(ROOT),
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            "-q",
        ],
        check=True,
        capture_output=True,
    )
    wheel = next(tmp_path.glob("assistant-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for prompt in (ROOT / "prompts").glob("*.txt"):
        assert f"assistant/_bundled/prompts/{prompt.name}" in names
    for listing in (ROOT / "data").glob("*.txt"):
        assert f"assistant/_bundled/data/{listing.name}" in names
