"""`ingest --rebuild` builds beside the index in use and swaps only when complete.

Real Chroma, the real MiniLM model and the real CLI in child processes.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import DATA, cli_env, default_sigint, run_cli

ARXIV = [
    {
        "id": "2401.00001",
        "title": "Sparse attention for long documents",
        "abstract": "We propose a sparse attention pattern that scales linearly with length.",
        "authors": "Geoffrey Hinton and Ada Lovelace",
        "categories": "cs.LG cs.CL",
        "update_date": "2024-01-02",
    },
    {
        "id": "2401.00002",
        "title": "Graph networks for molecules",
        "abstract": "Message passing networks predict molecular properties from graphs.",
        "authors": "Marie Curie",
        "categories": "cs.LG q-bio.BM",
        "update_date": "2024-01-03",
    },
]
BEIR = [
    {"_id": "11", "title": "Myelin in the newborn brain", "text": "White matter matures late."},
    {
        "_id": "12",
        "title": "Protein folding kinetics",
        "text": "Folding rates follow contact order.",
    },
]


def _jsonl(path: Path, records: list[dict[str, str]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def _search(home: Path, *args: str) -> list[dict[str, object]]:
    done = run_cli("search", *args, "--json", ASSISTANT_HOME=str(home))
    assert done.returncode == 0, done.stderr
    results: list[dict[str, object]] = json.loads(done.stdout)["results"]
    return results


def _collections(home: Path) -> list[str]:
    with sqlite3.connect(home / "store" / "chroma.sqlite3") as db:
        return sorted(row[0] for row in db.execute("SELECT name FROM collections"))


def _segment_folders(home: Path) -> tuple[set[str], set[str]]:
    """Segment folders on disk, and the segments Chroma's database knows."""
    store = home / "store"
    with sqlite3.connect(store / "chroma.sqlite3") as db:
        known = {str(row[0]) for row in db.execute("SELECT id FROM segments")}
    on_disk = {p.name for p in store.iterdir() if p.is_dir() and (p / "header.bin").exists()}
    return on_disk, known


def test_rebuild_gives_new_papers_no_old_list_metadata(isolated_home: Path, tmp_path: Path) -> None:
    arxiv = _jsonl(tmp_path / "arxiv.jsonl", ARXIV)
    beir = _jsonl(tmp_path / "beir.jsonl", BEIR)
    assert run_cli("ingest", "-q", str(arxiv)).returncode == 0
    assert [r["title"] for r in _search(isolated_home, "attention", "--category", "cs.LG")]

    done = run_cli("ingest", "-q", "--rebuild", str(beir))
    assert done.returncode == 0, done.stderr
    for flags in (["--category", "cs.LG"], ["--author", "hinton"], ["--category", "q-bio.BM"]):
        assert _search(isolated_home, "brain protein folding", *flags) == []
    results = _search(isolated_home, "brain protein folding", "-k", "5")
    assert sorted(r["title"] for r in results) == sorted(r["title"] for r in BEIR)
    for result in results:
        assert result["categories"] == [] and result["authors"] == [] and result["dates"] == []
    # The cause, at its root: no list rows outlive their chunk in Chroma's file.
    with sqlite3.connect(isolated_home / "store" / "chroma.sqlite3") as db:
        orphans = db.execute(
            "SELECT COUNT(*) FROM embedding_metadata_array "
            "WHERE id NOT IN (SELECT id FROM embeddings)"
        ).fetchone()[0]
    assert orphans == 0


def test_rebuild_leaves_no_old_segment_folder(isolated_home: Path, tmp_path: Path) -> None:
    arxiv = _jsonl(tmp_path / "arxiv.jsonl", ARXIV)
    for _ in range(3):
        done = run_cli("ingest", "-q", "--rebuild", str(arxiv))
        assert done.returncode == 0, done.stderr
    on_disk, known = _segment_folders(isolated_home)
    assert on_disk and on_disk <= known
    assert _collections(isolated_home) == ["abstracts"]
    assert sorted(p.name for p in (isolated_home / "store").glob("*rebuil*")) == []


def test_rebuild_that_reads_nothing_keeps_the_index(isolated_home: Path, tmp_path: Path) -> None:
    arxiv = _jsonl(tmp_path / "arxiv.jsonl", ARXIV)
    assert run_cli("ingest", "-q", str(arxiv)).returncode == 0
    before = _search(isolated_home, "sparse attention")

    done = run_cli("ingest", "-q", "--rebuild", str(tmp_path / "refs.bbi"))
    assert done.returncode == 3
    assert (
        "Error: No abstracts could be read from the given paths. The index was left as it was."
        in (done.stderr)
    )
    assert _search(isolated_home, "sparse attention") == before
    doctor = run_cli("doctor")
    assert "[ok  ] index: " in doctor.stdout and "and 2 papers in the BM25 index" in doctor.stdout
    assert _collections(isolated_home) == ["abstracts"]


def _wait_for(predicate: object, timeout: float, what: str) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def _rebuild_started(
    home: Path, tmp_path: Path
) -> tuple[Path, list[dict[str, object]], Path, subprocess.Popen[str]]:
    """An index of the arXiv records, and a rebuild of the bundled abstracts over it,
    running and writing its staging files: (records, their search results, the
    staging BM25 file, the rebuild's process)."""
    arxiv = _jsonl(tmp_path / "arxiv.jsonl", ARXIV)
    assert run_cli("ingest", "-q", str(arxiv)).returncode == 0
    before = _search(home, "sparse attention")
    staging = home / "store" / "lexical-abstracts.rebuilding.sqlite3"
    victim = subprocess.Popen(
        [sys.executable, "-m", "assistant", "ingest", "-q", "--rebuild", str(DATA)],
        env=cli_env(ASSISTANT_HOME=str(home)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_sigint,
    )
    _wait_for(staging.exists, 120, "the rebuild to start writing")
    return arxiv, before, staging, victim


def test_killed_rebuild_keeps_the_old_index_and_searches_meanwhile(
    isolated_home: Path, tmp_path: Path
) -> None:
    arxiv, before, staging, victim = _rebuild_started(isolated_home, tmp_path)
    try:
        # While it writes, searches read the old index.
        assert _search(isolated_home, "sparse attention") == before
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=60)
    assert victim.returncode == -signal.SIGKILL

    assert _search(isolated_home, "sparse attention") == before
    assert "[ok  ] index: " in run_cli("doctor").stdout
    # The next ingest clears the leftovers of the killed one.
    done = run_cli("ingest", "-q", str(arxiv))
    assert done.returncode == 0, done.stderr
    assert "Index: 2 papers," in done.stdout
    assert _collections(isolated_home) == ["abstracts"] and not staging.exists()
    on_disk, known = _segment_folders(isolated_home)
    assert on_disk <= known


def test_a_swap_cut_short_is_finished_by_the_next_command(
    isolated_home: Path, tmp_path: Path
) -> None:
    """The state a crash leaves between the swap's steps: the journal written,
    the old collection retired, the new one not yet renamed."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    arxiv = _jsonl(tmp_path / "arxiv.jsonl", ARXIV)
    beir = _jsonl(tmp_path / "beir.jsonl", BEIR)
    assert run_cli("ingest", "-q", str(arxiv)).returncode == 0
    assert run_cli("ingest", "-q", "--rebuild", str(beir)).returncode == 0
    store = isolated_home / "store"
    # Rebuild by hand up to the cut: a staging pair holding the arXiv papers.
    other = tmp_path / "other-home"
    assert run_cli("ingest", "-q", str(arxiv), ASSISTANT_HOME=str(other)).returncode == 0
    client = chromadb.PersistentClient(
        path=str(store), settings=ChromaSettings(anonymized_telemetry=False)
    )
    source = chromadb.PersistentClient(
        path=str(other / "store"), settings=ChromaSettings(anonymized_telemetry=False)
    )
    old = source.get_collection("abstracts", embedding_function=None)
    got = old.get(include=["embeddings", "documents", "metadatas"])
    staged = client.create_collection(
        "abstracts.rebuilding", metadata=old.metadata, embedding_function=None
    )
    staged.add(
        ids=got["ids"],
        embeddings=got["embeddings"],
        documents=got["documents"],
        metadatas=got["metadatas"],
    )
    (other / "store" / "lexical-abstracts.sqlite3").replace(
        store / "lexical-abstracts.rebuilding.sqlite3"
    )
    (store / "rebuild-abstracts.json").write_text('{"state": "swapping"}', encoding="utf-8")
    client.get_collection("abstracts", embedding_function=None).modify(name="abstracts.replaced")
    del client, source

    results = _search(isolated_home, "sparse attention", "-k", "5")
    assert sorted(r["title"] for r in results) == sorted(r["title"] for r in ARXIV)
    assert _collections(isolated_home) == ["abstracts"]
    assert not (store / "rebuild-abstracts.json").exists()
    assert not (store / "lexical-abstracts.rebuilding.sqlite3").exists()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_stopped_rebuild_says_so_cleans_up_and_keeps_the_old_index(
    isolated_home: Path, tmp_path: Path, sig: signal.Signals
) -> None:
    _, before, staging, victim = _rebuild_started(isolated_home, tmp_path)
    victim.send_signal(sig)
    _, stderr = victim.communicate(timeout=120)
    if sig == signal.SIGTERM:
        assert (victim.returncode, stderr.splitlines()[-1]) == (143, "Terminated."), stderr
    else:
        assert (victim.returncode, stderr.splitlines()[-1]) == (130, "Interrupted."), stderr
    assert "Traceback" not in stderr
    # The staging index was dropped on the way out, not left for the next ingest.
    assert _collections(isolated_home) == ["abstracts"] and not staging.exists()
    assert _search(isolated_home, "sparse attention") == before
