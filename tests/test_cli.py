"""The command line as a contract: exit codes, messages, --json schemas, settings
precedence, and lazy imports. Exit codes (README): 0 ok, including a justified
"cannot answer"; 2 usage; 3 corpus/index/config; 4 backend unavailable; 5 model
missing; 6 backend failed mid-answer; 130 interrupted."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, get_args

import pytest
from click.testing import Result
from conftest import cli_env, default_sigint, run_cli
from ollama_server import FakeOllama
from typer.testing import CliRunner

from assistant.cli import app as cli
from assistant.cli.app import app
from assistant.settings import BackendName

runner = CliRunner()

FIRST = "Which paper introduces Layer Normalization?"
UNANSWERABLE = "What is the boiling point of tungsten in Kelvin?"
HIT_KEYS = {"paper_id", "title", "score", "source_files", "dates", "external_id", "authors"}


def invoke(*args: str) -> Result:
    return runner.invoke(app, list(args))


def _result_lines(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line[:3].strip().rstrip(".").isdigit()]


@pytest.fixture
def small_index(small_corpus: Path, isolated_home: Path) -> Path:
    """A fresh ASSISTANT_HOME holding the six papers of `small_corpus`."""
    result = invoke("ingest", "--quiet", str(small_corpus))
    assert result.exit_code == 0, result.output
    assert "Added 6, replaced 0, unchanged 0" in result.stdout
    return isolated_home


# A missing index ----------------------------------------------------------------


def test_search_without_an_index_exits_3_in_a_real_process(isolated_home: Path) -> None:
    result = run_cli("search", "layer normalization")
    assert result.returncode == 3
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"Error: No index found at {isolated_home / 'store'}.",
        "Hint: Build it with: assistant ingest  (the bundled abstracts) "
        "or assistant ingest PATH...",
    ]


def test_ask_without_an_index_exits_3(isolated_home: Path) -> None:
    result = invoke("ask", FIRST, "--backend", "none")
    assert result.exit_code == 3
    assert f"Error: No index found at {isolated_home / 'store'}." in result.stderr
    assert "Hint: Build it with: assistant ingest" in result.stderr
    assert "Traceback" not in result.output


# Questions ----------------------------------------------------------------------


@pytest.mark.parametrize("command", ["search", "ask"])
@pytest.mark.parametrize("question", ["", "   ", "\t\n", "\x00\x07"])
def test_empty_question_is_a_usage_error(command: str, question: str) -> None:
    # No index exists here: the usage error comes first, before opening anything.
    result = invoke(command, question)
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines()[0] == "Error: The question is empty."
    assert result.stdout == ""


@pytest.mark.parametrize("command", ["search", "ask"])
def test_overlong_question_names_the_limit(command: str) -> None:
    result = invoke(command, "x" * 100_000)
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == (
        "Error: The question is 100,000 characters long; the limit is 4,000."
    )
    assert result.stderr.splitlines()[1].startswith("Hint: Ask a shorter question")


def test_missing_question_argument_is_a_usage_error() -> None:
    result = invoke("ask")
    assert result.exit_code == 2
    assert "Missing argument" in result.stderr


def test_unknown_backend_is_a_usage_error() -> None:
    result = invoke("ask", FIRST, "--backend", "gpt")
    assert result.exit_code == 2
    assert "Invalid value for '--backend'" in result.stderr
    assert "Traceback" not in result.output
    # The CLI's list of backends is the settings' list.
    assert get_args(cli.BackendChoice) == get_args(BackendName)


def test_control_characters_are_cleaned_not_refused(bundled_home: Path) -> None:
    result = invoke(
        "ask", "Which paper\x07 introduces\x1b Layer\x00Normalization?", "-b", "none", "--json"
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["question"] == "Which paper  introduces  Layer Normalization?"
    assert data["answered"] is True
    assert "Layer Normalization" in [s["title"] for s in data["sources"]]


def test_ctrl_c_exits_130(bundled_home: Path) -> None:
    # A server that stalls mid-answer: the interrupt is sure to land while the
    # answer streams (an extractive answer is done before a signal could arrive).
    server = FakeOllama(
        ["Layer normalization [1] ", "normalizes inputs [1]."], fault="stall", stall_s=60.0
    ).start()
    proc = subprocess.Popen(
        [sys.executable, "-m", "assistant", "ask", "--backend", "ollama", FIRST],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(OLLAMA_HOST=server.url),
        preexec_fn=default_sigint,
    )
    try:
        deadline = time.monotonic() + 120
        while not server.chat_requests():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the answer never started"
            time.sleep(0.05)
        time.sleep(0.5)  # the first piece is out; the stream now stalls
        proc.send_signal(signal.SIGINT)
        out, errors = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        server.stop()
    assert proc.returncode == 130, errors
    assert "Traceback" not in errors
    assert "Interrupted." in errors or "[answer incomplete: interrupted]" in out


# Ingest -------------------------------------------------------------------------


def test_ingest_of_a_missing_path_exits_3(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "listing.txt"
    result = invoke("ingest", "--quiet", str(missing))
    assert result.exit_code == 3
    assert f"Warning: {missing}: no such file or directory" in result.stderr
    assert "Error: No abstracts could be read from the given paths." in result.stderr
    assert (
        "Hint: Pass listing .txt, .jsonl, .json, .bib, .csv, .tsv or .sqlite files, "
        "or folders holding them." in result.stderr
    )


def test_ingest_warns_about_a_missing_path_and_ingests_the_rest(
    small_corpus: Path, tmp_path: Path
) -> None:
    missing = tmp_path / "typo.txt"
    result = invoke("ingest", "--quiet", str(small_corpus / "listing.txt"), str(missing))
    assert result.exit_code == 0, result.output
    assert f"Warning: {missing}: no such file or directory" in result.stderr
    assert "Read 6 entries (6 distinct papers) from 1 file(s)" in result.stdout
    assert "Added 6, replaced 0, unchanged 0" in result.stdout

    found = invoke("search", "growing networks by recombining learned parameters", "-k", "10")
    assert found.exit_code == 0
    lines = _result_lines(found.stdout)
    assert len(lines) == 6
    assert "MixtureGrowth: Growing Neural Networks by Recombining Learned Parameters" in lines[0]


def test_reingest_is_idempotent_and_a_changed_abstract_is_replaced(
    small_index: Path, small_corpus: Path
) -> None:
    again = invoke("ingest", "--quiet", str(small_corpus))
    assert again.exit_code == 0
    assert "Nothing new: all 6 papers are already in the index." in again.stdout

    listing = small_corpus / "listing.txt"
    text = listing.read_text(encoding="utf-8")
    assert text.count("we introduce MixtureGrowth, a new approach") == 1
    listing.write_text(
        text.replace(
            "we introduce MixtureGrowth, a new approach", "we present MixtureGrowth, a new way"
        ),
        encoding="utf-8",
    )
    changed = invoke("ingest", "--quiet", str(small_corpus))
    assert changed.exit_code == 0
    assert "Added 0, replaced 1, unchanged 5" in changed.stdout
    assert "Index: 6 papers" in changed.stdout


def test_index_built_with_other_settings_is_refused_until_rebuilt(
    small_index: Path, small_corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASSISTANT_CHUNK_TOKENS", "128")
    refused = invoke("search", "neural differential equations")
    assert refused.exit_code == 3
    first, hint = refused.stderr.splitlines()[:2]
    assert first.startswith(
        f"Error: The index at {small_index / 'store'} was built with other settings"
    )
    assert "chunking" in first
    assert hint == "Hint: Rebuild it with: assistant ingest --rebuild"

    rebuilt = invoke("ingest", "--quiet", "--rebuild", str(small_corpus))
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "Added 6" in rebuilt.stdout
    found = invoke("search", "neural differential equations")
    assert found.exit_code == 0, found.output
    assert "On Neural Differential Equations" in _result_lines(found.stdout)[0]


# --json schemas and abstention --------------------------------------------------


def _check_hit(hit: dict[str, Any]) -> None:
    # Scripts rely on these keys; new keys may be added (tests/golden pins the exact shape).
    assert set(hit) >= HIT_KEYS, HIT_KEYS - set(hit)
    assert isinstance(hit["paper_id"], str) and hit["paper_id"]
    assert isinstance(hit["title"], str) and hit["title"]
    assert isinstance(hit["score"], float) and -1.0 <= hit["score"] <= 1.0
    assert all(isinstance(f, str) for f in hit["source_files"]) and hit["source_files"]
    assert all(isinstance(d, str) for d in hit["dates"])
    assert hit["external_id"] is None or isinstance(hit["external_id"], str)
    assert all(isinstance(a, str) for a in hit["authors"])


def test_search_json_schema(bundled_home: Path) -> None:
    result = invoke("search", "  layer normalization  ", "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert set(data) >= {"query", "results"}
    assert data["query"] == "layer normalization"
    assert len(data["results"]) == 5  # the default top_k
    for hit in data["results"]:
        _check_hit(hit)
    scores = [h["score"] for h in data["results"]]
    assert scores == sorted(scores, reverse=True)
    assert data["results"][0]["title"] == "Layer Normalization"


def test_ask_json_schema(bundled_home: Path) -> None:
    result = invoke("ask", FIRST, "--backend", "none", "--json")
    assert result.exit_code == 0
    assert result.stderr == ""  # no "Backend:" line: stdout and stderr stay clean for scripts
    data = json.loads(result.stdout)
    assert set(data) >= {
        "question", "search_query", "answer", "answered", "abstention", "abstention_detail",
        "backend", "model", "sources", "retrieved", "dropped_citations", "withheld", "incomplete",
        "error", "timings",
    }  # fmt: skip
    assert data["question"] == data["search_query"] == FIRST
    assert data["answer"].startswith("Extractive answer (no language model)")
    assert (data["answered"], data["abstention"], data["abstention_detail"]) == (True, None, None)
    assert (data["backend"], data["model"]) == ("none", "extractive")
    assert (data["incomplete"], data["error"], data["dropped_citations"]) == (False, None, [])
    assert data["withheld"] == []
    assert [s["number"] for s in data["sources"]] == list(range(1, len(data["sources"]) + 1))
    assert "Layer Normalization" in [s["title"] for s in data["sources"]]
    for source in data["sources"]:
        assert isinstance(source["number"], int)
        _check_hit(source)
    assert len(data["retrieved"]) == 5
    for hit in data["retrieved"]:
        _check_hit(hit)
    assert set(data["timings"]) == {"retrieval_s", "first_token_s", "total_s"}
    assert all(isinstance(v, float) and v >= 0 for v in data["timings"].values())


def test_ask_text_output(bundled_home: Path) -> None:
    result = invoke("ask", FIRST, "--backend", "none")
    assert result.exit_code == 0
    assert result.stderr == "Backend: none (extractive)\n"  # progress on stderr, answer on stdout
    answer, sources = result.stdout.split("\n\nSources:\n")
    assert answer.startswith("Extractive answer (no language model)")
    assert not answer.endswith("\n")  # one blank line before Sources, not two
    assert sources.startswith("  [1] ")
    assert "] Layer Normalization (" in sources


def test_unanswerable_question_is_declined_with_exit_0(bundled_home: Path) -> None:
    as_json = invoke("ask", UNANSWERABLE, "--backend", "none", "--json")
    assert as_json.exit_code == 0
    data = json.loads(as_json.stdout)
    assert data["answered"] is False
    assert data["abstention"] == "retrieval"
    assert data["answer"] == "The abstracts do not say."
    assert data["abstention_detail"].startswith(
        "The retrieved abstracts do not match the question well enough"
    )
    assert "no abstract mentions Kelvin" in data["abstention_detail"]
    assert data["sources"] == []

    text = invoke("ask", UNANSWERABLE, "--backend", "none")
    assert text.exit_code == 0
    lines = text.stdout.splitlines()
    assert lines[0] == "The abstracts do not say."
    assert lines[1].startswith("The retrieved abstracts do not match the question well enough (")
    assert "Sources" not in text.stdout


# Backends -----------------------------------------------------------------------


def test_missing_gguf_model_exits_5(bundled_home: Path) -> None:
    result = invoke("ask", FIRST, "--backend", "llamacpp", "--model", "/nonexistent.gguf")
    assert result.exit_code == 5, result.output
    assert "Error: The GGUF model /nonexistent.gguf does not exist." in result.stderr
    assert "Hint: Set ASSISTANT_LLAMACPP_MODEL_PATH or --model to a GGUF file." in result.stderr
    assert "Traceback" not in result.output


def test_unreachable_ollama_exits_4(bundled_home: Path) -> None:
    from assistant.settings import load_settings

    host = load_settings().ollama_host  # conftest points it at a closed loopback port
    result = invoke("ask", FIRST, "--backend", "ollama")
    assert result.exit_code == 4, result.output
    assert f"Error: Ollama is not reachable at {host}" in result.stderr
    assert "Hint: " in result.stderr
    assert "Traceback" not in result.output


# Settings -----------------------------------------------------------------------


def test_broken_config_file_exits_3_naming_it(isolated_home: Path) -> None:
    config = isolated_home / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text("top_k = = 2\n", encoding="utf-8")
    for args in (("search", "layer normalization"), ("config", "show")):
        result = invoke(*args)
        assert result.exit_code == 3, result.output
        assert result.stderr.startswith(f"Error: Cannot read the config file {config}: ")
        assert "Hint: Fix the file or remove it" in result.stderr
        assert "Traceback" not in result.output
    # --help reads no settings, so it still works.
    assert invoke("--help").exit_code == 0


def test_invalid_value_in_config_file_exits_3(isolated_home: Path) -> None:
    config = isolated_home / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text("top_k = 0\n", encoding="utf-8")
    result = invoke("config", "show")
    assert result.exit_code == 3
    assert result.stderr.startswith("Error: Invalid settings: top_k: ")
    assert str(config) in result.stderr  # the hint names the file to check


def _top_k_source() -> tuple[str, str]:
    result = invoke("config", "show", "--json")
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout)["top_k"]
    return row["value"], row["source"]


def test_precedence_flag_over_env_over_config_over_default(
    small_index: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    query = "neural networks"
    assert len(_result_lines(invoke("search", query).stdout)) == 5
    assert _top_k_source() == ("5", "default")

    config = small_index / "config.toml"
    config.write_text("top_k = 2\n", encoding="utf-8")
    assert len(_result_lines(invoke("search", query).stdout)) == 2
    assert _top_k_source() == ("2", f"config {config}")

    monkeypatch.setenv("ASSISTANT_TOP_K", "3")
    assert len(_result_lines(invoke("search", query).stdout)) == 3
    assert _top_k_source() == ("3", "env ASSISTANT_TOP_K")

    assert len(_result_lines(invoke("search", query, "-k", "4").stdout)) == 4
    shown = invoke("config", "show", "-k", "4")
    assert shown.exit_code == 0
    top_k_line = next(line for line in shown.stdout.splitlines() if "top_k" in line)
    assert top_k_line.split() == ["top_k", "4", "(flag)"]


def test_config_show_lists_every_setting_and_the_history_file(isolated_home: Path) -> None:
    from assistant.settings import Settings

    result = invoke("config", "show")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == f"Config file: {isolated_home / 'config.toml'}"
    names = [line.split()[0] for line in lines[1:]]
    assert names == [*Settings.model_fields, "history_file"]
    assert lines[-1].split() == [
        "history_file",
        str(isolated_home / "chat_history"),
        "(derived",
        "from",
        "home)",
    ]


# doctor -------------------------------------------------------------------------


def test_doctor_without_an_index_exits_3_with_a_hint(isolated_home: Path) -> None:
    result = invoke("doctor")
    assert result.exit_code == 3
    lines = result.stdout.splitlines()
    assert lines[0] == f"[FAIL] index: no index at {isolated_home / 'store'}"
    assert lines[1] == "       Hint: Run: assistant ingest"


def test_doctor_with_the_bundled_index_exits_0(bundled_home: Path) -> None:
    result = invoke("doctor")
    assert result.exit_code == 0, result.stdout
    assert result.stdout.startswith("[ok  ] index: ")
    first = result.stdout.splitlines()[0]
    assert "988 chunks and 620 papers in the BM25 index" in first
    assert f"at {bundled_home / 'store'}, settings match" in first
    assert "FAIL" not in result.stdout


def test_doctor_checks_the_index_against_the_configured_encoder(
    small_corpus: Path, isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An index built with embed_encoder = onnx-fp32 is fine while that is set,
    and built with other settings once it is not (the default is int8)."""
    monkeypatch.setenv("ASSISTANT_EMBED_ENCODER", "onnx-fp32")
    assert invoke("ingest", str(small_corpus), "--quiet").exit_code == 0
    result = invoke("doctor")
    assert result.exit_code == 0, result.stdout
    assert "settings match" in result.stdout.splitlines()[0]

    monkeypatch.delenv("ASSISTANT_EMBED_ENCODER")
    result = invoke("doctor")
    assert result.exit_code == 3
    assert result.stdout.startswith("[FAIL] index: built with other settings (embedder differ)")


# Lazy imports -------------------------------------------------------------------

_IMPORTS = """
import json, sys
from assistant.cli.app import main
sys.argv = ["assistant", *sys.argv[1:]]
try:
    main()
except SystemExit:
    pass
heavy = ("torch", "chromadb", "llama_cpp", "sentence_transformers", "llama_index", "mcp")
print(json.dumps(sorted(m for m in heavy if m in sys.modules)), file=sys.stderr)
"""


@pytest.mark.parametrize("args", [["--help"], ["config", "show"], ["doctor"]])
def test_light_commands_import_no_heavy_library(args: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-c", _IMPORTS, *args],
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=120,
    )
    assert result.stdout  # the command ran and printed something
    assert json.loads(result.stderr.splitlines()[-1]) == []


def test_version(isolated_home: Path) -> None:
    from assistant import __version__

    result = invoke("--version")
    assert result.exit_code == 0
    assert result.stdout == f"{__version__}\n"


@pytest.mark.parametrize("question", ["[1]", "Sources:", "[1, 2] References", "2024"])
def test_a_question_without_words_is_refused_not_answered(question: str) -> None:
    result = invoke("ask", "--backend", "none", question)
    assert result.exit_code == 2
    assert result.stderr.startswith(
        f"Error: The question {question!r} has no words to search the abstracts for."
    )
    assert "[1]" not in result.stdout and "Sources" not in result.stdout


def test_chat_refuses_a_wordless_question_and_goes_on(bundled_home: Path) -> None:
    result = runner.invoke(
        app, ["chat", "--backend", "none"], input="Sources:\nWhat is layer normalization?\n"
    )
    assert result.exit_code == 0, result.output
    assert "Error: The question 'Sources:' has no words to search" in result.stderr
    assert "Sources:" in result.stdout  # the second question's answer and its sources


def test_eval_with_a_mistyped_path_fails_before_indexing(tmp_path: Path) -> None:
    started = time.monotonic()
    result = invoke("eval", str(tmp_path / "questionz.jsonl"))
    assert result.exit_code == 3
    assert result.stderr.startswith(
        f"Error: Cannot read {tmp_path / 'questionz.jsonl'}: no such file or folder."
    )
    assert time.monotonic() - started < 5
    assert not (tmp_path / "home" / "store").exists()
