"""The format registry is the one list of what can be read: every reader in it
loads, messages and help derive from it, and the README names the same suffixes."""

from __future__ import annotations

import re
from pathlib import Path

from conftest import ROOT
from typer.testing import CliRunner

from assistant.cli.app import app
from assistant.readers import FORMATS, SUPPORTED, format_of, reader_for


def test_every_format_has_a_reader() -> None:
    for fmt in FORMATS:
        for suffix in fmt.suffixes:
            assert format_of(Path(f"papers{suffix.upper()}")) is fmt
            assert callable(reader_for(Path(f"papers{suffix}")))
    assert reader_for(Path("papers.pdf")) is None


def test_messages_name_the_registry_suffixes() -> None:
    named = [s for f in FORMATS for s in f.named]
    assert ", ".join(named[:-1]) + " or " + named[-1] == SUPPORTED
    help_text = CliRunner().invoke(app, ["ingest", "--help"], terminal_width=200).stdout
    assert f"Listing {SUPPORTED} files" in " ".join(help_text.split())


def test_the_formats_doc_lists_the_registry_formats() -> None:
    doc = (ROOT / "docs" / "formats.md").read_text(encoding="utf-8")
    section = doc.split("# Input formats", 1)[1].split("\n## ", 1)[0]
    bullets = re.findall(r"^- \*\*[^*]+\*\* \(([^)]*)\)", section, flags=re.MULTILINE)
    listed = {s for bullet in bullets for s in re.findall(r"`(\.\w+)`", bullet)}
    assert listed == {s for f in FORMATS for s in f.named}


def test_the_readme_tour_names_the_registry_suffixes() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    (line,) = [ln for ln in readme.splitlines() if "# your own:" in ln]
    assert re.findall(r"\.\w+", line.split("# your own:")[1]) == [
        s for f in FORMATS for s in f.named
    ]
