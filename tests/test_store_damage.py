"""A damaged store is refused with the rebuild command, never searched; a rebuild recovers.

Each test damages a copy of the real bundled index on disk (truncation, garbage,
deleted files) and runs the real CLI in a child process, because what goes
wrong without the checks is a crash of the process (Chroma segfaults on some
damaged HNSW files) or quietly wrong results.
"""

from __future__ import annotations

import json
import random
import shutil
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import run_cli
from synthetic import write_papers

REBUILD_HINT = "Hint: Rebuild it with: assistant ingest --rebuild"
QUESTION = "Which paper introduces Layer Normalization?"


# Damage -------------------------------------------------------------------------


def truncate(fraction: float) -> Callable[[Path], None]:
    def damage(path: Path) -> None:
        with path.open("r+b") as f:
            f.truncate(int(path.stat().st_size * fraction))

    return damage


def garble(at: float, size: int, seed: int = 7) -> Callable[[Path], None]:
    """Overwrite `size` bytes at fraction `at` of the file with fixed random bytes."""

    def damage(path: Path) -> None:
        noise = random.Random(seed).randbytes(size)
        with path.open("r+b") as f:
            f.seek(int(path.stat().st_size * at))
            f.write(noise)

    return damage


def zero(path: Path) -> None:
    path.write_bytes(bytes(path.stat().st_size))


def delete(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink()


def segment_folder(store: Path) -> Path:
    (folder,) = [p for p in store.iterdir() if p.is_dir() and (p / "header.bin").exists()]
    return folder


def persisted_vectors(store: Path) -> int:
    """How many vectors Chroma has written to the HNSW files (the header's count)."""
    header = (segment_folder(store) / "header.bin").read_bytes()
    return int(struct.unpack_from("<Q", header, 20)[0])


# Stores -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def persisted_index(bundled_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled index plus enough papers that Chroma has written its HNSW files.

    Chroma keeps the first 1000 vectors in its SQLite log and replays them on
    every load; only past that does it persist the HNSW segment whose damage
    these tests are about.
    """
    home = tmp_path_factory.mktemp("persisted") / "home"
    shutil.copytree(bundled_index, home)
    store = home / "store"
    if persisted_vectors(store) == 0:
        import sqlite3

        with sqlite3.connect(store / "chroma.sqlite3") as db:
            chunks = db.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0]
        extra = home.parent / "extra.jsonl"
        write_papers(extra, max(10, 1000 - chunks + 10), tag="PER")
        ingested = run_cli("ingest", "--quiet", str(extra), ASSISTANT_HOME=str(home))
        assert ingested.returncode == 0, ingested.stderr
    assert persisted_vectors(store) > 0
    return home


@pytest.fixture
def damaged_home(persisted_index: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "damaged-home"
    shutil.copytree(persisted_index, home)
    monkeypatch.setenv("ASSISTANT_HOME", str(home))
    return home


def search(home: Path) -> subprocess.CompletedProcess[str]:
    return run_cli("search", "layer normalization", "--json", "-k", "5", ASSISTANT_HOME=str(home))


def results(found: subprocess.CompletedProcess[str]) -> list[str]:
    return [r["paper_id"] for r in json.loads(found.stdout)["results"]]


def assert_refused(result: subprocess.CompletedProcess[str], error: str, hint: str) -> None:
    assert result.returncode == 3, result.stderr
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert lines[-1] == hint, result.stderr
    assert lines[-2].startswith("Error: ") and error in lines[-2], result.stderr


def assert_doctor_fails(home: Path, detail: str, hint: str) -> None:
    doctor = run_cli("doctor", ASSISTANT_HOME=str(home))
    assert doctor.returncode == 3, doctor.stdout
    first, second = doctor.stdout.splitlines()[:2]
    assert first.startswith("[FAIL] index: ") and detail in first, doctor.stdout
    assert second == f"       Hint: {hint}"


# Detection ----------------------------------------------------------------------

# (what to damage, how, what the error names)
CHROMA_CASES = [
    ("chroma.sqlite3", truncate(0.5), "chroma.sqlite3: database disk image is malformed"),
    ("chroma.sqlite3", truncate(0.0), "chroma.sqlite3 is empty"),
    ("chroma.sqlite3", garble(0.0, 100), "chroma.sqlite3 is not an SQLite database"),
]
SEGMENT_CASES = [
    ("header.bin", truncate(0.5), "header.bin is 50 bytes long, not 100"),
    ("header.bin", garble(0.5, 25), "header.bin holds impossible values"),
    ("header.bin", delete, "header.bin is missing"),
    ("data_level0.bin", truncate(0.5), "data_level0.bin is cut short"),
    ("data_level0.bin", garble(0.5, 4096), "data_level0.bin is garbled"),
    ("link_lists.bin", zero, "link_lists.bin does not match header.bin"),
    ("link_lists.bin", truncate(0.5), "link_lists.bin is cut short"),
    ("index_metadata.pickle", delete, "index_metadata.pickle is missing"),
    ("", delete, "the vector segment folder"),
]


@pytest.mark.parametrize(("name", "damage", "error"), CHROMA_CASES + SEGMENT_CASES)
def test_damaged_vector_store_is_refused_by_search_and_doctor(
    damaged_home: Path, name: str, damage: Callable[[Path], None], error: str
) -> None:
    store = damaged_home / "store"
    segment = segment_folder(store)
    target = store / name if name.startswith("chroma") else segment / name
    damage(target)

    # Without the checks, several of these crash the process (SIGSEGV) or
    # search an index with vectors missing.
    searched = search(damaged_home)
    assert_refused(searched, f"The index at {store} is damaged: ", REBUILD_HINT)
    assert error in searched.stderr
    assert_doctor_fails(damaged_home, error, "Run: assistant ingest --rebuild")


LEXICAL = "lexical-abstracts.sqlite3"
MISSING_HINT = (
    "Hint: Run the ingest again (it fills in what is missing), "
    "or rebuild it with: assistant ingest --rebuild"
)


@pytest.mark.parametrize(
    ("damage", "error", "hint"),
    [
        (truncate(0.5), "is damaged: database disk image is malformed", REBUILD_HINT),
        (truncate(0.0), "is damaged: no such table: papers", REBUILD_HINT),
        (garble(0.0, 100), "is damaged: file is not a database", REBUILD_HINT),
        (delete, "is missing.", MISSING_HINT),
    ],
)
def test_damaged_lexical_index_is_refused_by_search_and_doctor(
    copy_of_bundled_index: Path, damage: Callable[[Path], None], error: str, hint: str
) -> None:
    lexical = copy_of_bundled_index / "store" / LEXICAL
    damage(lexical)
    before = lexical.read_bytes() if lexical.exists() else None

    assert_refused(search(copy_of_bundled_index), f"{lexical} {error}", hint)
    # Searching changes nothing: it does not recreate a missing or emptied file.
    assert (lexical.read_bytes() if lexical.exists() else None) == before
    assert_doctor_fails(
        copy_of_bundled_index,
        f"the lexical (BM25) index {lexical} is missing or damaged",
        "Run: assistant ingest  (it fills in what is missing), or assistant ingest --rebuild",
    )


def test_emptied_lexical_index_is_refused(copy_of_bundled_index: Path) -> None:
    """A BM25 index that lost its rows would quietly turn hybrid search into dense only."""
    import sqlite3

    lexical = copy_of_bundled_index / "store" / LEXICAL
    with sqlite3.connect(lexical) as db:
        db.execute("DELETE FROM papers")

    searched = search(copy_of_bundled_index)
    assert_refused(searched, f"The lexical (BM25) index {lexical} is empty", REBUILD_HINT)
    assert "but the vector index holds 988 chunks." in searched.stderr
    assert_doctor_fails(
        copy_of_bundled_index,
        "the BM25 index has 0 papers but the vector index 620",
        "An ingest was interrupted, or a file was replaced: run the same ingest again "
        "to complete it, or assistant ingest --rebuild",
    )


def test_ask_refuses_a_damaged_store(damaged_home: Path, tmp_path: Path) -> None:
    store = damaged_home / "store"
    lexical_home = tmp_path / "lexical-damaged"
    shutil.copytree(damaged_home, lexical_home)
    truncate(0.5)(segment_folder(store) / "data_level0.bin")
    truncate(0.5)(lexical_home / "store" / LEXICAL)

    asked = run_cli("ask", QUESTION, "--backend", "none", ASSISTANT_HOME=str(damaged_home))
    assert_refused(asked, f"The index at {store} is damaged: ", REBUILD_HINT)
    assert "data_level0.bin is cut short." in asked.stderr

    asked = run_cli("ask", QUESTION, "--backend", "none", ASSISTANT_HOME=str(lexical_home))
    assert_refused(
        asked,
        f"The lexical index {lexical_home / 'store' / LEXICAL} is damaged: "
        "database disk image is malformed",
        REBUILD_HINT,
    )


@pytest.mark.parametrize("name", ["chroma.sqlite3", LEXICAL])
def test_garbage_inside_a_database_is_found_by_doctor_and_never_misleads_search(
    copy_of_bundled_index: Path, name: str
) -> None:
    """Random bytes in the middle of an SQLite file: doctor finds them (SQLite's
    quick_check); a search either fails cleanly or, when it never reads the
    damaged page, returns what the intact index returns. quick_check reads the
    whole file, too slow to run before every search."""
    store = copy_of_bundled_index / "store"
    intact = search(copy_of_bundled_index)
    assert intact.returncode == 0, intact.stderr
    # Three whole pages (SQLite's default page size), so that b-tree pages are hit.
    path = store / name
    pages = path.stat().st_size // 4096
    with path.open("r+b") as f:
        for at in (0.25, 0.5, 0.75):
            f.seek(int(pages * at) * 4096)
            f.write(random.Random(at).randbytes(4096))

    doctor = run_cli("doctor", ASSISTANT_HOME=str(copy_of_bundled_index))
    assert doctor.returncode == 3
    assert doctor.stdout.startswith("[FAIL] index: ")
    assert f"{name}: " in doctor.stdout.splitlines()[0]

    after = search(copy_of_bundled_index)
    if after.returncode == 0:
        assert results(after) == results(intact)
    else:
        assert after.returncode == 3, after.stderr
        assert after.stderr.strip().splitlines()[-1] == REBUILD_HINT


# Recovery -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "damage", "warning"),
    [
        ("chroma.sqlite3", truncate(0.5), "removing the index (every collection in"),
        ("header.bin", garble(0.5, 25), "removing that vector segment to rebuild."),
        ("", delete, "removing that vector segment to rebuild."),
        (LEXICAL, truncate(0.5), None),
    ],
)
def test_ingest_rebuild_recovers_from_damage(
    damaged_home: Path,
    small_corpus: Path,
    name: str,
    damage: Callable[[Path], None],
    warning: str | None,
) -> None:
    store = damaged_home / "store"
    in_store = name.startswith(("chroma", "lexical"))
    target = store / name if in_store else segment_folder(store) / name
    damage(target)
    assert search(damaged_home).returncode == 3

    # Without --rebuild, ingest refuses too: writing into damaged files makes it worse.
    refused = run_cli("ingest", "--quiet", str(small_corpus), ASSISTANT_HOME=str(damaged_home))
    assert refused.returncode == 3, refused.stderr
    assert refused.stderr.strip().splitlines()[-1] == REBUILD_HINT

    rebuilt = run_cli(
        "ingest", "--rebuild", "--quiet", str(small_corpus), ASSISTANT_HOME=str(damaged_home)
    )
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "Index: 6 papers," in rebuilt.stdout
    if warning:
        assert rebuilt.stderr.startswith("Warning: ") and warning in rebuilt.stderr
    else:
        assert rebuilt.stderr == ""

    found = search(damaged_home)
    assert found.returncode == 0, found.stderr
    assert len(results(found)) == 5
    doctor = run_cli("doctor", ASSISTANT_HOME=str(damaged_home))
    assert doctor.stdout.startswith("[ok  ] index: "), doctor.stdout


@pytest.mark.parametrize("noted", [True, False])
def test_a_cut_short_cached_encoder_is_reported_and_built_again(
    copy_of_bundled_index: Path, tmp_path: Path, noted: bool
) -> None:
    """`noted`: the file has the size note written when it was built; without it
    (a file built before the notes), loading it finds the damage."""
    home = copy_of_bundled_index
    model = home / "models" / "minilm-v3-int8.onnx"
    note = model.with_name(model.name + ".size")
    whole = model.stat().st_size
    assert int(note.read_text(encoding="ascii")) == whole
    if not noted:
        note.unlink()
    with model.open("r+b") as handle:
        handle.truncate(whole // 2)
    if noted:
        doctor = run_cli("doctor", ASSISTANT_HOME=str(home))
        assert f"[FAIL] embedder: cached ONNX model cut short: {model}" in doctor.stdout
        assert "Hint: Run: assistant ingest  (it builds the model again" in doctor.stdout

    new = tmp_path / "new.jsonl"
    new.write_text(
        json.dumps({"_id": "1", "title": "A new paper", "text": "Needs embedding."}) + "\n",
        encoding="utf-8",
    )
    done = run_cli("ingest", "-q", str(new), ASSISTANT_HOME=str(home))
    assert done.returncode == 0, done.stderr
    assert "Added 1," in done.stdout
    assert model.stat().st_size == whole == int(note.read_text(encoding="ascii"))
    assert "[ok  ] embedder: " in run_cli("doctor", ASSISTANT_HOME=str(home)).stdout
