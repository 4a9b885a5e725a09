"""Zotero: reading its database (readers.zotero), finding it (readers.zotero_datadir),
and the --collection and --tag filters it feeds.

Every test reads a real SQLite file in Zotero's layout (tests/zotero_fixture.py),
through the real readers, and the command-line tests through a real index.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from assistant.domain import LoadReport, Paper, Problem
from assistant.errors import CorpusError
from assistant.readers import expand_paths, load_abstracts
from assistant.readers.zotero_datadir import data_directories, find_database, zotero_databases
from tests.conftest import run_cli
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


@contextmanager
def _zotero_running(library: Library, *pragmas: str) -> Iterator[sqlite3.Connection]:
    """A connection holding the database as Zotero does: in exclusive locking mode."""
    library.db.close()
    zotero = sqlite3.connect(library.path, isolation_level=None)
    try:
        for pragma in ("locking_mode = EXCLUSIVE", *pragmas):
            zotero.execute(f"PRAGMA {pragma}")
        yield zotero
    finally:
        zotero.close()


def _retitle(zotero: sqlite3.Connection, title: str) -> None:
    zotero.execute("UPDATE itemDataValues SET value = ? WHERE value LIKE 'Sparse%'", (title,))


def test_reads_while_zotero_holds_its_exclusive_lock(library: Library) -> None:
    # As Zotero 6 to 9 run: a rollback journal, and here a transaction under
    # way that is not committed.
    with _zotero_running(library) as zotero:
        zotero.execute("BEGIN EXCLUSIVE")
        _retitle(zotero, "Uncommitted")
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other = sqlite3.connect(f"{library.path.as_uri()}?mode=ro", uri=True, timeout=0)
            try:
                other.execute("SELECT COUNT(*) FROM items").fetchone()
            finally:
                other.close()
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


def test_reads_commits_still_in_the_write_ahead_log(library: Library) -> None:
    # As Zotero 10 runs: with a write-ahead log; the edit lives only in
    # zotero.sqlite-wal until Zotero checkpoints it.
    with _zotero_running(library, "journal_mode = WAL", "wal_autocheckpoint = 0") as zotero:
        _retitle(zotero, "In the log")
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


# Finding the data directory -----------------------------------------------------------


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "user"
    folder.mkdir()
    monkeypatch.setenv("HOME", str(folder))
    monkeypatch.delenv("APPDATA", raising=False)
    return folder


def _prefs(profile: Path, data_dir: str, use: str = "true") -> None:
    profile.mkdir(parents=True)
    (profile / "prefs.js").write_text(
        "// Mozilla User Preferences\n"
        'user_pref("extensions.zotero.firstRun2", false);\n'
        f'user_pref("extensions.zotero.dataDir", {json.dumps(data_dir)});\n'
        f'user_pref("extensions.zotero.useDataDir", {use});\n',
        encoding="utf-8",
    )


def test_the_default_data_directory_is_zotero_in_the_home_folder(home: Path) -> None:
    with pytest.raises(CorpusError) as caught:
        find_database()
    assert caught.value.message == (
        f"No Zotero database found: looked for zotero.sqlite in {home / 'Zotero'}."
    )
    assert "assistant ingest --zotero PATH" in (caught.value.hint or "")
    (home / "Zotero").mkdir()
    (home / "Zotero" / "zotero.sqlite").touch()
    assert find_database() == home / "Zotero" / "zotero.sqlite"
    assert zotero_databases([]) == [home / "Zotero" / "zotero.sqlite"]


def test_a_data_directory_moved_in_a_profile_is_found_first(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    moved = tmp_path / "synced" / "Zotero data"
    moved.mkdir(parents=True)
    (moved / "zotero.sqlite").touch()
    (home / "Zotero").mkdir()
    (home / "Zotero" / "zotero.sqlite").touch()
    _prefs(home / ".zotero" / "zotero" / "ab12cd.default", str(moved))
    # A profile that once moved it but no longer uses the setting does not count.
    _prefs(home / "Library/Application Support/Zotero/Profiles/x.default", "/nowhere", "false")
    monkeypatch.setenv("APPDATA", str(tmp_path / "AppData"))
    _prefs(tmp_path / "AppData/Zotero/Zotero/Profiles/w.default", 'D:\\Zotero "lab"')
    assert data_directories() == [moved, Path('D:\\Zotero "lab"'), home / "Zotero"]
    assert find_database() == moved / "zotero.sqlite"


def test_a_named_folder_must_hold_the_database(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match=r"No zotero\.sqlite in .*: it is not a Zotero data"):
        zotero_databases([tmp_path])
    assert zotero_databases([tmp_path / "copy.sqlite"]) == [tmp_path / "copy.sqlite"]


# Through the command line, with a real index ---------------------------------------------


def _search(query: str, *flags: str) -> list[dict[str, object]]:
    done = run_cli("search", query, "-k", "10", "--json", *flags)
    assert done.returncode == 0, done.stderr
    results: list[dict[str, object]] = json.loads(done.stdout)["results"]
    return results


def test_ingest_zotero_then_filter_by_collection_and_tag(library: Library, tmp_path: Path) -> None:
    # `--zotero` without a path: the data directory in the (test's) home folder.
    digest = _sha(library.path)
    done = run_cli("ingest", "--quiet", "--zotero", HOME=str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert _sha(library.path) == digest
    assert "zotero.sqlite: 1 item without an abstract skipped" in done.stderr
    assert "Added 4, replaced 0" in done.stdout

    # A subcollection's paper is in its parent collection; names ignore case.
    found = [r["paper_id"] for r in _search("glacier", "--collection", "machine LEARNING")]
    assert set(found) == library.ids("glacier", "attention")
    assert found[0] in library.ids("glacier")
    assert {r["paper_id"] for r in _search("documents", "--collection", "Vision")} == library.ids(
        "glacier"
    )
    assert {r["paper_id"] for r in _search("documents", "--tag", "TRANSFORMERS")} == library.ids(
        "attention"
    )
    assert {
        r["paper_id"] for r in _search("documents", "--tag", "remote sensing", "--tag", "to-read")
    } == library.ids("glacier", "attention")
    done = run_cli("search", "documents", "--collection", "Old stuff")
    assert (done.returncode, done.stdout) == (
        0,
        'No papers match the filters --collection "old stuff".\n',
    )

    # An edit in Zotero, then the same database named as a file: the paper is replaced.
    library.db.set_field(library.attention, "title", "Sparse attention, revised")
    library.db.set_field(library.attention, "abstractNote", ATTENTION + " Now with proofs.")
    done = run_cli("ingest", "--quiet", str(library.path))
    assert done.returncode == 0, done.stderr
    assert "Added 0, replaced 1, unchanged 3" in done.stdout
    assert "Index: 4 papers" in done.stdout
    (hit,) = _search("sparse attention", "--tag", "to-read")
    assert hit["title"] == "Sparse attention, revised"
    assert str(hit["abstract"]).endswith("Now with proofs.")


def test_ingest_zotero_names_where_it_looked(tmp_path: Path) -> None:
    done = run_cli("ingest", "--zotero", HOME=str(tmp_path))
    assert done.returncode == 3
    assert (
        f"Error: No Zotero database found: looked for zotero.sqlite in {tmp_path / 'Zotero'}."
        in done.stderr
    )
    assert "assistant ingest --zotero PATH" in done.stderr


def test_an_mcp_client_sees_zotero_collections_tags_and_records(
    library: Library, tmp_path: Path
) -> None:
    from mcp import ClientSession

    from tests.test_mcp import _with_client

    home = tmp_path / "assistant-home"
    done = run_cli("ingest", "--quiet", str(library.path), ASSISTANT_HOME=str(home))
    assert done.returncode == 0, done.stderr

    async def scenario(session: ClientSession) -> None:
        listed = await session.call_tool("list_sources", {})
        contents = listed.structuredContent or {}
        assert contents["source_files"] == [{"name": "zotero.sqlite", "papers": 4}]
        # The glacier paper is in Vision, under Machine Learning: it counts in both.
        assert contents["zotero_collections"] == [
            {"name": "Machine Learning", "papers": 2},
            {"name": "Vision", "papers": 1},
        ]
        assert {t["name"] for t in contents["zotero_tags"]} == {
            "to-read",
            "Transformers",
            "remote sensing",
        }

        arguments = {"query": "glacier", "k": 10, "filters": {"collections": ["machine learning"]}}
        found = await session.call_tool("search", arguments)
        results = (found.structuredContent or {})["results"]
        assert {r["paper_id"] for r in results} == library.ids("glacier", "attention")
        tagged = await session.call_tool(
            "search", {"query": "documents", "filters": {"tags": ["transformers"]}}
        )
        assert [r["paper_id"] for r in (tagged.structuredContent or {})["results"]] == [
            library.paper_ids["attention"]
        ]

        paper = await session.call_tool("get_paper", {"id": library.paper_ids["attention"]})
        record = paper.structuredContent or {}
        assert record["url"] == "https://example.org/sparse"
        assert record["collections"] == ["Machine Learning"]
        assert set(record["tags"]) == {"to-read", "Transformers"}
        assert record["authors"] == ["Ada Lovelace", "Alan Turing"]
        assert f"doi = {{{record['doi']}}}" in record["bibtex"]
        assert record["doi"].casefold() == "10.1234/jml.2021.5"

    _with_client(home, tmp_path / "server.log", scenario)


def test_an_item_trashed_in_zotero_leaves_the_index_at_the_next_ingest(
    library: Library, tmp_path: Path, small_corpus: Path
) -> None:
    home = tmp_path / "assistant-home"
    for source in (small_corpus, library.path):
        done = run_cli("ingest", "--quiet", str(source), ASSISTANT_HOME=str(home))
        assert done.returncode == 0, done.stderr
    before = run_cli("search", "x", "-k", "50", "--json", ASSISTANT_HOME=str(home))
    others = {
        r["paper_id"]
        for r in json.loads(before.stdout)["results"]
        if not r["paper_id"].startswith("zotero:")
    }
    assert len(others) == 6

    # Cut short by --limit: nothing is removed, whatever was not read.
    library.db.trash(library.glacier)
    done = run_cli("ingest", "--quiet", "--limit", "1", str(library.path), ASSISTANT_HOME=str(home))
    assert done.returncode == 0, done.stderr
    assert "Removed" not in done.stdout and "Index: 10 papers" in done.stdout

    done = run_cli("ingest", "--quiet", str(library.path), ASSISTANT_HOME=str(home))
    assert done.returncode == 0, done.stderr
    assert (
        "Removed 1 paper(s) no longer in zotero.sqlite (trashed or deleted there, "
        "or without an abstract now)." in done.stdout
    )
    assert "Index: 9 papers" in done.stdout
    # Gone from both rankings and from the filters; the other file's papers stay.
    for mode, flags in [("hybrid", ()), ("lexical", ()), ("lexical", ("--collection", "Vision"))]:
        found = run_cli(
            "search",
            "glacier fronts radar",
            "-k",
            "50",
            "--json",
            *flags,
            ASSISTANT_HOME=str(home),
            ASSISTANT_RETRIEVAL_MODE=mode,
        )
        ids = {r["paper_id"] for r in json.loads(found.stdout)["results"]}
        assert library.paper_ids["glacier"] not in ids, mode
        if mode == "hybrid":
            assert others <= ids and library.ids("attention", "soil", "preprint") <= ids
    again = run_cli("ingest", "--quiet", str(library.path), ASSISTANT_HOME=str(home))
    assert "Nothing new" in again.stdout
