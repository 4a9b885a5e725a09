"""Zotero: reading its database (readers.zotero).

Every test reads a real SQLite file in Zotero's layout (tests/zotero_fixture.py),
through the real readers, and the command-line tests through a real index.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from assistant.domain import LoadReport, Paper, Problem
from assistant.readers import expand_paths, load_abstracts
from tests.zotero_fixture import ZoteroDatabase, multipart

ATTENTION = (
    "Self-attention costs grow with the square of the document length. We attend to a "
    "sparse set of tokens and summarise long legal documents with a transformer."
)
GLACIER = (
    "We segment glacier fronts in satellite radar images with a convolutional network "
    "and measure how far the calving fronts retreated."
)
SOIL = "Soil moisture sensors in wheat fields predict irrigation needs a week ahead."
PREPRINT = "Protein folding pathways are predicted from coevolution signals in sequences."


@dataclass
class Library:
    folder: Path  # Zotero's data directory
    db: ZoteroDatabase
    attention: int
    glacier: int
    keys: dict[str, str]  # which paper -> its item key
    paper_ids: dict[str, str]  # which paper -> zotero:<libraryID>/<key>

    @property
    def path(self) -> Path:
        return self.folder / "zotero.sqlite"

    def ids(self, *names: str) -> set[str]:
        return {self.paper_ids[n] for n in names}


@pytest.fixture
def library(tmp_path: Path) -> Iterator[Library]:
    folder = tmp_path / "Zotero"
    folder.mkdir()
    db = ZoteroDatabase(folder / "zotero.sqlite")
    ml = db.collection("Machine Learning")
    vision = db.collection("Vision", parent=ml)
    old = db.collection("Old stuff", parent=ml)
    db.trash_collection(old)
    attention, attention_key = db.item(
        "journalArticle",
        {
            "title": "Sparse attention for long documents",
            "abstractNote": ATTENTION,
            "date": multipart(2021, 3, 0, "March 2021"),
            "DOI": "10.1234/JML.2021.5",
            "url": "https://example.org/sparse",
            "publicationTitle": "Journal of Machine Learning",
        },
        creators=[
            (("Ada", "Lovelace"), "author"),
            (("Alan", "Turing"), "author"),
            (("Grace", "Hopper"), "editor"),
        ],
        collections=(ml,),
        tags=("to-read", "Transformers"),
    )
    glacier, glacier_key = db.item(
        "conferencePaper",
        {
            "title": "Glacier fronts from radar",
            "abstractNote": GLACIER,
            "date": multipart(2019, 0, 0, "2019"),
            "proceedingsTitle": "Proceedings of Remote Sensing",
            "extra": "Citation count: 4\nDOI: 10.5555/RS.19",
        },
        creators=[(("Ada", "Lovelace"), "author"), (("Boris", "Ng"), "author")],
        collections=(vision, old),
        tags=("remote sensing",),
    )
    _, soil_key = db.item(
        "bookSection",
        {"title": "Sensing soil", "abstractNote": SOIL, "bookTitle": "Farming with data"},
        creators=[("Institute of Field Studies", "author"), (("Carl", "Editor"), "editor")],
    )
    # Not papers: an item without an abstract, one in the trash, children, a feed item.
    db.item("journalArticle", {"title": "Untitled draft"}, collections=(ml,))
    trashed, _ = db.item(
        "journalArticle", {"title": "Trashed work", "abstractNote": "Thrown away notes."}
    )
    db.trash(trashed)
    db.note(attention, "My notes: the attention abstract is in the PDF.")
    pdf = db.attachment(attention, "Full Text PDF")
    db.annotation(pdf, "attend to a sparse set of tokens")
    feed = db.feed_library("Journal TOC")
    db.item("journalArticle", {"title": "Feed", "abstractNote": "From a feed."}, library=feed)
    group = db.group_library(4242, "Lab")
    _, preprint_key = db.item(
        "preprint",
        {"title": "Folding", "abstractNote": PREPRINT, "repository": "bioRxiv"},
        creators=[(("Dana", "Ito"), "author")],
        library=group,
    )
    keys = {
        "attention": attention_key,
        "glacier": glacier_key,
        "soil": soil_key,
        "preprint": preprint_key,
    }
    paper_ids = {name: f"zotero:1/{key}" for name, key in keys.items()}
    paper_ids["preprint"] = f"zotero:{group}/{preprint_key}"
    yield Library(folder, db, attention, glacier, keys, paper_ids)
    db.close()


def _read(path: Path) -> tuple[dict[str, Paper], LoadReport]:
    papers, report = load_abstracts([path])
    return {p.paper_id: p for p in papers}, report


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# Reading ------------------------------------------------------------------------


def test_reads_each_regular_item_with_its_metadata(library: Library) -> None:
    papers, _ = _read(library.path)
    assert set(papers) == library.ids("attention", "glacier", "soil", "preprint")
    attention = papers[library.paper_ids["attention"]]
    assert attention.title == "Sparse attention for long documents"
    assert attention.abstract == ATTENTION
    assert attention.authors == ("Ada Lovelace", "Alan Turing")  # in order; the editor is not
    assert (attention.year, attention.dates) == (2021, ("2021-03",))
    assert attention.doi == "10.1234/jml.2021.5"
    assert attention.url == "https://example.org/sparse"
    assert attention.venue == "Journal of Machine Learning"
    assert attention.external_id == library.keys["attention"]
    assert attention.source_files == ("zotero.sqlite",)
    assert attention.collections == ("Machine Learning",)
    assert attention.tags == ("Transformers", "to-read")
    glacier = papers[library.paper_ids["glacier"]]
    # Its subcollection with the parent's name first; the trashed collection not at all.
    assert glacier.collections == ("Machine Learning", "Vision")
    assert (glacier.year, glacier.dates, glacier.venue) == (
        2019,
        ("2019",),
        "Proceedings of Remote Sensing",
    )
    assert glacier.doi == "10.5555/rs.19"  # from Extra
    soil = papers[library.paper_ids["soil"]]
    assert soil.authors == ("Institute of Field Studies",)
    assert (soil.venue, soil.year, soil.collections, soil.tags) == (
        "Farming with data",
        None,
        (),
        (),
    )
    preprint = papers[library.paper_ids["preprint"]]
    assert preprint.paper_id.startswith("zotero:3/")  # the group's library, after the feed's
    assert (preprint.venue, preprint.authors) == ("bioRxiv", ("Dana Ito",))


def test_items_without_an_abstract_are_counted_and_the_rest_skipped_silently(
    library: Library,
) -> None:
    # The trashed item, the note, the attachment, the annotation and the feed
    # item are neither read nor counted; the one item without an abstract is counted.
    _, report = _read(library.path)
    assert report.entries == 4
    assert report.problems == [
        Problem(str(library.path), None, "1 item without an abstract skipped")
    ]


def test_an_edit_in_zotero_keeps_the_id_and_changes_the_content(library: Library) -> None:
    before, _ = _read(library.path)
    library.db.set_field(library.attention, "title", "Sparse attention, revised")
    after, _ = _read(library.path)
    assert set(after) == set(before)
    pid = library.paper_ids["attention"]
    assert after[pid].title == "Sparse attention, revised"
    assert after[pid].content_hash != before[pid].content_hash


def test_reads_while_zotero_holds_its_exclusive_lock(library: Library) -> None:
    library.db.close()
    # As Zotero 6 to 9 run: exclusive locking mode, a rollback journal, and here
    # a transaction under way that is not committed.
    zotero = sqlite3.connect(library.path, isolation_level=None)
    zotero.execute("PRAGMA locking_mode = EXCLUSIVE")
    zotero.execute("BEGIN EXCLUSIVE")
    zotero.execute("UPDATE itemDataValues SET value = 'Uncommitted' WHERE value LIKE 'Sparse%'")
    try:
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other = sqlite3.connect(f"{library.path.as_uri()}?mode=ro", uri=True, timeout=0)
            other.execute("SELECT COUNT(*) FROM items").fetchone()
        files = sorted(p.name for p in library.folder.iterdir())
        digest = _sha(library.path)
        papers, _ = _read(library.path)
        assert set(papers) == library.ids("attention", "glacier", "soil", "preprint")
        titles = {p.title for p in papers.values()}
        assert "Sparse attention for long documents" in titles  # what was committed
        assert _sha(library.path) == digest
        assert sorted(p.name for p in library.folder.iterdir()) == files
        zotero.execute("COMMIT")  # the lock stays: exclusive locking mode keeps it
        papers, _ = _read(library.path)
        assert "Uncommitted" in {p.title for p in papers.values()}
    finally:
        zotero.close()


def test_reads_commits_still_in_the_write_ahead_log(library: Library) -> None:
    library.db.close()
    # As Zotero 10 runs: exclusive locking mode with a write-ahead log; the edit
    # lives only in zotero.sqlite-wal until Zotero checkpoints it.
    zotero = sqlite3.connect(library.path, isolation_level=None)
    zotero.execute("PRAGMA locking_mode = EXCLUSIVE")
    zotero.execute("PRAGMA journal_mode = WAL")
    zotero.execute("PRAGMA wal_autocheckpoint = 0")
    zotero.execute("UPDATE itemDataValues SET value = 'In the log' WHERE value LIKE 'Sparse%'")
    try:
        wal = library.folder / "zotero.sqlite-wal"
        assert wal.stat().st_size > 0
        digests = (_sha(library.path), _sha(wal))
        papers, _ = _read(library.path)
        assert "In the log" in {p.title for p in papers.values()}
        assert (_sha(library.path), _sha(wal)) == digests
        assert sorted(p.name for p in library.folder.iterdir()) == [
            "zotero.sqlite",
            "zotero.sqlite-wal",
        ]
    finally:
        zotero.close()


def test_a_folder_walk_reads_zotero_sqlite_and_no_other_sqlite_file(
    library: Library, tmp_path: Path
) -> None:
    other = sqlite3.connect(library.folder / "better-bibtex.sqlite")
    other.execute("CREATE TABLE citationkey (itemKey TEXT, citationKey TEXT)")
    other.close()
    assert list(expand_paths([library.folder], LoadReport())) == [library.path]
    papers, report = _read(library.folder)
    assert len(papers) == 4 and len(report.problems) == 1
    # Named on its own, it is read, and refused with the reason.
    _, report = _read(library.folder / "better-bibtex.sqlite")
    assert [p.message for p in report.problems] == [
        "not a Zotero database (it has no `items` table); skipped. Zotero's is "
        "zotero.sqlite in its data directory: assistant ingest --zotero"
    ]
    text = tmp_path / "notes.sqlite"
    text.write_text("not a database at all, just text\n" * 100, encoding="utf-8")
    _, report = _read(text)
    assert [p.message for p in report.problems] == [
        "cannot read it as SQLite (file is not a database)"
    ]
