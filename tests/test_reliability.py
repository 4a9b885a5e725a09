"""Reliability and security: one writer at a time, crash safety, nothing leaves the machine.

All three tests drive the real `python -m assistant` in child processes, because
what they check (a held flock, SIGKILL, a process-wide socket guard) only exists
across process boundaries.
"""

from __future__ import annotations

import fcntl
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import DATA, cli_env, closed_port, run_cli

# Enough papers to take a while to embed, few enough for ten crash rounds.
PAPERS = 60


@pytest.fixture
def listing(tmp_path: Path) -> Path:
    """The first PAPERS papers of a bundled listing (2-line header, title/abstract lines)."""
    lines = (DATA / "002_31e192c6d4481839.txt").read_text(encoding="utf-8").splitlines()
    folder = tmp_path / "listing"
    folder.mkdir()
    (folder / "papers.txt").write_text("\n".join(lines[: 2 + 2 * PAPERS]) + "\n", encoding="utf-8")
    return folder


def start_ingest(home: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "assistant", "ingest", "--quiet", *args],
        env=cli_env(ASSISTANT_HOME=str(home)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_lock_holder(lock: Path, proc: subprocess.Popen[str], timeout_s: float) -> None:
    """Until `proc` has written its pid into the lock file, which it does once it holds it."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the first ingest ended early: {proc.communicate()}"
        if lock.exists() and lock.read_text(encoding="ascii").strip() == str(proc.pid):
            return
        time.sleep(0.05)
    raise AssertionError(f"{lock} never named pid {proc.pid}")


def test_second_ingest_is_refused_while_one_runs(isolated_home: Path, listing: Path) -> None:
    store_dir = isolated_home / "store"
    lock = store_dir / "ingest.lock"
    first = start_ingest(isolated_home, str(listing))
    try:
        wait_for_lock_holder(lock, first, timeout_s=120)
        # The pid is written only after flock succeeds, so probing now cannot steal it.
        with lock.open("rb") as probe, pytest.raises(BlockingIOError):
            fcntl.flock(probe.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)

        started = time.monotonic()
        second = run_cli("ingest", "--quiet", str(listing), ASSISTANT_HOME=str(isolated_home))
        assert time.monotonic() - started < 60, "the second ingest waited instead of failing"
        assert first.poll() is None, "the first ingest finished too soon to prove anything"
        assert second.returncode == 3, second.stderr
        assert second.stdout == ""
        assert second.stderr.splitlines() == [
            f"Error: Another ingest is running on {store_dir} (pid {first.pid}).",
            "Hint: wait for it to finish; a crashed ingest releases the lock by itself.",
        ]
    finally:
        out, errors = first.communicate(timeout=300)
    assert first.returncode == 0, errors
    assert f"Added {PAPERS}," in out

    again = run_cli("ingest", "--quiet", str(listing), ASSISTANT_HOME=str(isolated_home))
    assert again.returncode == 0, again.stderr
    assert f"Nothing new: all {PAPERS} papers are already in the index." in again.stdout


# -- Crash safety -----------------------------------------------------------------


def store_contents(home: Path) -> dict[str, Any]:
    """Everything the crash test compares, read straight from Chroma's and FTS5's files."""
    import chromadb
    from chromadb.api.client import SharedSystemClient
    from chromadb.config import Settings as ChromaSettings

    # chromadb caches one system per path in a process: read the files afresh.
    SharedSystemClient.clear_system_cache()
    client = chromadb.PersistentClient(
        path=str(home / "store"), settings=ChromaSettings(anonymized_telemetry=False)
    )
    collection = client.get_collection("abstracts")
    got = collection.get(include=["metadatas", "embeddings"])
    ids: list[str] = list(got["ids"])
    metas = got["metadatas"] or []
    # The vector index must hold every chunk: each chunk's own vector finds itself first.
    nearest = collection.query(query_embeddings=got["embeddings"], n_results=1, include=[])
    lost = [cid for cid, found in zip(ids, nearest["ids"], strict=True) if found != [cid]]
    expected_chunks = {
        f"{m['paper_id']}#{i}" for m in metas if m["chunk_index"] == 0 for i in range(m["n_chunks"])
    }
    with sqlite3.connect(home / "store" / "chroma.sqlite3") as db:
        duplicated_rows = db.execute(
            "SELECT COUNT(*) FROM (SELECT segment_id, embedding_id FROM embeddings "
            "GROUP BY segment_id, embedding_id HAVING COUNT(*) > 1)"
        ).fetchone()[0]
    with sqlite3.connect(home / "store" / "lexical-abstracts.sqlite3") as db:
        lexical = [row[0] for row in db.execute("SELECT paper_id FROM papers")]
    first_chunks = [m for m in metas if m["chunk_index"] == 0]
    return {
        "chunk_count": collection.count(),
        "chunk_ids": sorted(ids),
        "paper_ids": sorted({str(m["paper_id"]) for m in metas}),
        "papers_with_first_chunk": sorted(
            str(m["paper_id"]) for m in metas if m["chunk_index"] == 0
        ),
        "chunks_named_by_first_chunks": sorted(expected_chunks),
        "hashes": sorted(str(m["content_hash"]) for m in first_chunks),
        "vectors_not_found": lost,
        "duplicated_rows": duplicated_rows,
        "lexical_ids": sorted(lexical),
        "lexical_duplicates": sorted(p for p, n in Counter(lexical).items() if n > 1),
    }


def test_sigkill_during_ingest_never_corrupts_the_store(
    isolated_home: Path, listing: Path, tmp_path: Path
) -> None:
    reference = tmp_path / "reference-home"
    clean = run_cli("ingest", "--quiet", str(listing), ASSISTANT_HOME=str(reference))
    assert clean.returncode == 0, clean.stderr
    # Timed on a rebuild: the first ingest in a home also builds the int8
    # encoder, which the later rounds in that home do not pay for again.
    started = time.monotonic()
    clean = run_cli("ingest", "--quiet", "--rebuild", str(listing), ASSISTANT_HOME=str(reference))
    full_s = time.monotonic() - started
    assert clean.returncode == 0, clean.stderr

    rng = random.Random(20240611)
    rounds: list[tuple[float, int | None]] = []
    for n in range(10):
        # Every round but the first rewrites everything (--rebuild), so each kill
        # lands in real writing work. The delay spans 0.5 s to a full ingest but
        # leans late: the first seconds are imports, the writes come at the end.
        victim = start_ingest(isolated_home, *(["--rebuild"] if n else []), str(listing))
        delay = rng.triangular(0.5, full_s, 0.75 * full_s)
        try:
            victim.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            victim.send_signal(signal.SIGKILL)
        victim.communicate(timeout=60)
        rounds.append((round(delay, 1), victim.returncode))
        after = run_cli("ingest", "--quiet", str(listing), ASSISTANT_HOME=str(isolated_home))
        assert after.returncode == 0, f"round {n} (killed at {delay:.1f} s): {after.stderr}"
        assert f"Index: {PAPERS} papers," in after.stdout, after.stdout
    # Most rounds must really have been killed, or the test proves little.
    assert sum(code == -signal.SIGKILL for _, code in rounds) >= 6, rounds

    got = store_contents(isolated_home)
    want = store_contents(reference)
    assert len(want["paper_ids"]) == PAPERS
    assert got == want, rounds
    assert got["chunk_count"] == len(got["chunk_ids"]) == len(got["chunks_named_by_first_chunks"])
    assert got["lexical_ids"] == got["paper_ids"]
    assert got["vectors_not_found"] == [] and got["duplicated_rows"] == 0

    title = (listing / "papers.txt").read_text(encoding="utf-8").splitlines()[4]
    searched = run_cli("search", title, "--json", "-k", "3", ASSISTANT_HOME=str(isolated_home))
    assert searched.returncode == 0, searched.stderr
    assert json.loads(searched.stdout)["results"][0]["title"] == title


# -- Privacy ----------------------------------------------------------------------

GUARD = '''
"""Installed by tests/test_reliability.py: refuse and record any non-loopback traffic."""
import ipaddress
import os
import socket

_RECORD = os.environ["NET_GUARD_RECORD"]
_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


def _record(what):
    with open(_RECORD, "a", encoding="utf-8") as f:
        f.write(f"{os.getpid()} {what}\\n")


def _is_loopback(host):
    if host is None or str(host).lower() in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


def _check(family, address):
    if family == socket.AF_UNIX or not isinstance(address, tuple):
        return
    if not _is_loopback(address[0]):
        _record(f"connect {address!r}")
        raise OSError(f"net guard: refused connection to {address!r}")


_connect = socket.socket.connect
_connect_ex = socket.socket.connect_ex
_create_connection = socket.create_connection
_getaddrinfo = socket.getaddrinfo


def connect(self, address):
    _check(self.family, address)
    return _connect(self, address)


def connect_ex(self, address):
    _check(self.family, address)
    return _connect_ex(self, address)


def create_connection(address, *args, **kwargs):
    if not _is_loopback(address[0]):
        _record(f"create_connection {address!r}")
        raise OSError(f"net guard: refused connection to {address!r}")
    return _create_connection(address, *args, **kwargs)


def getaddrinfo(host, *args, **kwargs):
    if not _is_loopback(host):
        _record(f"getaddrinfo {host!r}")
        raise socket.gaierror(f"net guard: refused to resolve {host!r}")
    return _getaddrinfo(host, *args, **kwargs)


socket.socket.connect = connect
socket.socket.connect_ex = connect_ex
socket.create_connection = create_connection
socket.getaddrinfo = getaddrinfo
'''


def test_nothing_leaves_the_machine(tmp_path: Path, small_corpus: Path) -> None:
    guard_dir = tmp_path / "guard"
    guard_dir.mkdir()
    (guard_dir / "sitecustomize.py").write_text(textwrap.dedent(GUARD), encoding="utf-8")
    record = tmp_path / "net-attempts.log"
    record.touch()
    env = cli_env(
        ASSISTANT_HOME=str(tmp_path / "guarded-home"),
        ASSISTANT_MAX_ANSWER_TOKENS="32",
        OLLAMA_HOST=f"http://127.0.0.1:{closed_port()}",
        NET_GUARD_RECORD=str(record),
        PYTHONPATH=os.pathsep.join([str(guard_dir), *filter(None, [os.environ.get("PYTHONPATH")])]),
    )
    # The code itself, not the caller, must switch Chroma's telemetry off.
    env.pop("ANONYMIZED_TELEMETRY", None)

    def guarded(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, *args], env=env, capture_output=True, text=True, timeout=600
        )

    # The guard itself works: an outside connection is refused and recorded.
    probe = guarded("-c", "import socket; socket.create_connection(('192.0.2.1', 80), 1)")
    assert probe.returncode == 1 and "net guard: refused" in probe.stderr, probe.stderr
    assert "create_connection ('192.0.2.1', 80)" in record.read_text(encoding="utf-8")
    record.write_text("", encoding="utf-8")

    ingested = guarded("-m", "assistant", "ingest", "--quiet", str(small_corpus))
    assert ingested.returncode == 0, ingested.stderr
    searched = guarded("-m", "assistant", "search", "transformer attention", "-k", "3")
    assert searched.returncode == 0, searched.stderr
    assert searched.stdout.strip()
    asked = guarded("-m", "assistant", "ask", "What do these papers propose?", "-b", "llamacpp")
    assert asked.returncode == 0, asked.stderr
    assert "Backend: llamacpp" in asked.stderr
    assert record.read_text(encoding="utf-8") == ""


# -- Readers while an ingest writes -------------------------------------------------


def test_search_and_ask_keep_working_while_an_ingest_writes(
    copy_of_bundled_index: Path, tmp_path: Path
) -> None:
    """Chroma's local store is not safe for several processes: without the access
    lock a search that loads the HNSW files while the ingest rewrites them
    crashes (SIGSEGV), fails, or leaves the store damaged for good."""
    from synthetic import write_papers

    # Embedding is fast: enough papers for several write steps, so that readers
    # overlap the writes, not just the reading of the input.
    new = tmp_path / "new.jsonl"
    titles = write_papers(new, 800, tag="CONC")
    home = copy_of_bundled_index
    ingest = start_ingest(home, str(new))
    runs: list[tuple[str, subprocess.CompletedProcess[str], float]] = []

    def read_while_ingesting(first: int) -> None:
        n = first
        while ingest.poll() is None and n < 60:
            command = ["search", "layer normalization", "--json", "-k", "3"]
            if n % 3 == 2:
                command = ["ask", "Which paper introduces Layer Normalization?", "-b", "none"]
            started = time.monotonic()
            result = run_cli(*command, timeout=120, ASSISTANT_HOME=str(home))
            runs.append((command[0], result, time.monotonic() - started))
            n += 2

    readers = [threading.Thread(target=read_while_ingesting, args=(i,)) for i in (0, 1)]
    try:
        wait_for_lock_holder(home / "store" / "ingest.lock", ingest, timeout_s=120)
        for reader in readers:
            reader.start()
    finally:
        out, errors = ingest.communicate(timeout=600)
        for reader in readers:
            if reader.ident is not None:  # started
                reader.join(timeout=300)
    assert ingest.returncode == 0, errors
    assert "Added 800," in out
    # Enough readers overlapped the ingest to mean something.
    assert len(runs) >= 4, runs
    for command, result, seconds in runs:
        assert result.returncode == 0, (command, result.stderr)
        assert "database is locked" not in result.stderr
        assert seconds < 90, (command, seconds)  # waits briefly, never for minutes
        if command == "search":
            assert json.loads(result.stdout)["results"][0]["title"] == "Layer Normalization"
        else:
            assert "Layer Normalization" in result.stdout

    # The store is whole afterwards: every vector finds itself, and both indexes agree.
    got = store_contents(home)
    assert got["vectors_not_found"] == [] and got["duplicated_rows"] == 0
    assert got["lexical_ids"] == got["paper_ids"]
    found = run_cli("search", titles[7], "--json", "-k", "1", ASSISTANT_HOME=str(home))
    assert json.loads(found.stdout)["results"][0]["title"] == titles[7]
    doctor = run_cli("doctor", ASSISTANT_HOME=str(home))
    assert doctor.stdout.startswith("[ok  ] index: "), doctor.stdout


def test_a_reader_waits_for_the_access_lock_and_says_so(copy_of_bundled_index: Path) -> None:
    from assistant.index.locking import store_access

    store = copy_of_bundled_index / "store"
    search = subprocess.Popen(
        [sys.executable, "-m", "assistant", "search", "layer normalization", "-k", "1"],
        env=cli_env(ASSISTANT_HOME=str(copy_of_bundled_index)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        with store_access(store):
            assert search.stderr is not None
            line = search.stderr.readline()  # printed after a second of waiting
            time.sleep(1.0)
            assert search.poll() is None, "the search did not wait for the lock"
        out, errors = search.communicate(timeout=120)
    finally:
        if search.poll() is None:
            search.kill()
            search.wait()
    assert line == f"Waiting for the index at {store}: process {os.getpid()} is using it...\n"
    assert search.returncode == 0, errors
    assert "Layer Normalization" in out


def test_a_long_running_session_sees_what_another_process_ingested(
    copy_of_bundled_index: Path, tmp_path: Path
) -> None:
    """A chat keeps its store open; an ingest in another process must not leave it
    answering from a stale in-memory index (Chroma: "Error finding id")."""
    from synthetic import write_papers

    from assistant.pipeline import Pipeline
    from assistant.settings import load_settings

    pipeline = Pipeline(load_settings())
    before = pipeline.retriever.search("layer normalization", 3)
    assert before[0].title == "Layer Normalization"

    new = tmp_path / "new.jsonl"
    titles = write_papers(new, 12, tag="LATE")
    ingested = run_cli("ingest", "--quiet", str(new), ASSISTANT_HOME=str(copy_of_bundled_index))
    assert ingested.returncode == 0, ingested.stderr

    after = pipeline.retriever.search(titles[3], 3)
    assert after[0].title == titles[3]
    assert after[0].dense is not None  # found by its vector, not only by BM25
    assert pipeline.store.chunk_count() > pipeline.store.paper_count() >= 632
