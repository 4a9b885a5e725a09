"""Answers kept as Markdown (issue 17): `ask --format markdown` and chat's
`/save [FILE.md]`, read back with a Markdown parser and a BibTeX parser."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import bibtexparser
import pytest
from conftest import run_cli
from markdown_it import MarkdownIt

from assistant.cli import markdown
from assistant.domain import Answer, CheckedSentence, PaperHit, Quote, Source

QUESTION = "Which papers replace batch normalization?"
SECOND = "Which paper introduces Layer Normalization?"


def _bibtex(document: str) -> list[dict[str, str]]:
    block = document.split("```bibtex\n", 1)[1].split("\n```", 1)[0]
    library = bibtexparser.parse_string(block)
    assert not library.failed_blocks
    return [{f.key: f.value for f in entry.fields} for entry in library.entries]


def test_ask_format_markdown_has_answer_sources_and_bibtex(bundled_home: Path) -> None:
    data = json.loads(run_cli("ask", QUESTION, "--backend", "none", "--json").stdout)
    done = run_cli("ask", QUESTION, "--backend", "none", "--format", "markdown")
    assert done.returncode == 0, done.stderr
    document = done.stdout
    assert document.startswith(f"## {QUESTION}\n\n")
    assert data["answer"].splitlines()[1] in document  # the text, citations and all
    assert "\n**Sources**\n" in document
    for source in data["sources"]:
        assert f"- [{source['number']}] **{source['title']}**." in document
        for quote in source["evidence"]:
            assert f"  > {quote}" in document
    titles = [entry["title"] for entry in _bibtex(document)]
    assert titles == [s["title"] for s in data["sources"]]


def test_json_and_markdown_cannot_be_combined(bundled_home: Path) -> None:
    done = run_cli("ask", QUESTION, "--backend", "none", "--json", "--format", "markdown")
    assert done.returncode == 2
    assert "--json and --format markdown cannot be combined." in done.stderr


def _hit(title: str, paper_id: str = "p1") -> PaperHit:
    abstract = "Layer statistics are computed per example. It works at test time too."
    return PaperHit(paper_id, title, 0.9, abstract, ("refs.bib",), (), None, ("A. Author",), "")


def test_document_text_cannot_add_links_images_or_html() -> None:
    evil = "![x](http://127.0.0.1/pixel.png) <img src=x onerror=alert(1)> [click](http://x) *em*"
    hit = _hit(f"Title {evil}")
    answer = Answer(QUESTION, QUESTION, "none", "extractive", text=f"It holds {evil} [1].")
    answer.sources = [Source(1, hit, (f"Quote {evil}",))]
    html = MarkdownIt("commonmark").render(markdown.one_answer(answer))
    for tag in ("<img", "<a ", "<em>"):
        assert tag not in html
    assert "[1]" in html  # the citation is kept as it is
    assert "![x](http://127.0.0.1/pixel.png)" in html  # shown, as text


def test_marks_and_corrections_are_kept_in_the_text() -> None:
    hit = _hit("Layer Normalization")
    answer = Answer(
        QUESTION, QUESTION, "llamacpp", "gemma", text="Stats per example [1]. Magic [1]."
    )
    answer.sources = [Source(1, hit)]
    quote = (Quote(1, "Layer statistics are computed per example."),)
    answer.sentences = [
        CheckedSentence("Stats per example [1].", (1,), "corrected", 0.8, quote, "", (2,)),
        CheckedSentence("Magic [1].", (1,), "unsupported", 0.1, (), "no abstract says it"),
    ]
    assert markdown.with_marks(answer) == (
        "Stats per example [1]. [citation corrected] Magic [1]. [unsupported]"
    )


def test_bibtex_fence_outlasts_backticks_in_an_abstract() -> None:
    hit = _hit("Code ```python blocks```")
    answer = Answer(QUESTION, QUESTION, "none", "extractive", text="It does [1].")
    answer.sources = [Source(1, hit)]
    document = markdown.one_answer(answer)
    tokens = MarkdownIt("commonmark").parse(document)
    fences = [t for t in tokens if t.type == "fence"]
    assert len(fences) == 1 and fences[0].info == "bibtex"
    assert "blocks" in fences[0].content


def _chat(script: list[str], cwd: Path) -> tuple[str, str]:
    import subprocess
    import sys

    from conftest import cli_env

    done = subprocess.run(
        [sys.executable, "-m", "assistant", "chat", "--backend", "none"],
        input="\n".join(script) + "\n",
        capture_output=True,
        text=True,
        env=cli_env(),
        cwd=cwd,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout, done.stderr


def test_chat_save_writes_the_conversation_and_never_overwrites(
    bundled_home: Path, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "kept.md").write_text("my notes\n", encoding="utf-8")
    out, _ = _chat(
        [
            "/save early.md",
            QUESTION,
            SECOND,
            "/save conversation.md",
            "/save conversation.md",
            "/save kept.md",
            "/save missing/folder/x.md",
            "/save",
        ],
        work,
    )
    assert "Nothing to save yet: ask a question first." in out
    assert not (work / "early.md").exists()
    assert "Saved 2 answer(s) to conversation.md." in out
    assert "conversation.md exists and was left as it is." in out
    assert (work / "kept.md").read_text(encoding="utf-8") == "my notes\n"
    assert "Cannot save to missing/folder/x.md: the folder missing/folder does not exist." in out
    # /save with no name: a new, dated file; no temporary file left behind.
    names = sorted(p.name for p in work.iterdir())
    dated = [n for n in names if n.startswith("assistant-chat-") and n.endswith(".md")]
    assert len(dated) == 1 and f"Saved 2 answer(s) to {dated[0]}." in out
    assert set(names) == {"conversation.md", "kept.md", dated[0]}

    document = (work / "conversation.md").read_text(encoding="utf-8")
    assert document.startswith("# Questions to the abstracts\n")
    assert document.index(f"## {QUESTION}") < document.index(f"## {SECOND}")
    assert document.count("**Sources**") == 2
    entries = _bibtex(document)
    cited = [line for line in document.splitlines() if line.startswith("- [")]
    # One entry per cited paper, however often it was cited.
    assert len(entries) == len({e["title"] for e in entries})
    assert {e["title"] for e in entries} == {line.split("**")[1] for line in cited}
    # The same conversation, but for the time it was saved.
    again = (work / dated[0]).read_text(encoding="utf-8").splitlines()
    assert again[:2] + again[3:] == document.splitlines()[:2] + document.splitlines()[3:]


def test_save_new_never_replaces_a_file(tmp_path: Path) -> None:
    target = tmp_path / "notes.md"
    target.write_text("mine", encoding="utf-8")
    before = hashlib.sha256(target.read_bytes()).hexdigest()
    with pytest.raises(FileExistsError):
        markdown.save_new(target, "theirs")
    assert hashlib.sha256(target.read_bytes()).hexdigest() == before
    assert [p.name for p in tmp_path.iterdir()] == ["notes.md"]
