"""The vectors on a real Chroma server (`chroma run`) on loopback, through the real CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from assistant.readers import load_abstracts
from tests.conftest import OFFLINE_ENV, closed_port, run_cli

QUERY = "growing neural networks by recombining learned parameters"


def _chroma_binary() -> str | None:
    beside = Path(sys.executable).with_name("chroma")
    return str(beside) if beside.is_file() else shutil.which("chroma")


@pytest.fixture(scope="module")
def chroma_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Chroma server bound to 127.0.0.1 only, telemetry off; stopped afterwards."""
    binary = _chroma_binary()
    if binary is None:
        pytest.skip("the chromadb package installed no `chroma` command")
    folder = tmp_path_factory.mktemp("chroma-server")
    port = closed_port()
    log = (folder / "server.log").open("wb")
    server = subprocess.Popen(
        [binary, "run", "--path", str(folder / "db"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, **OFFLINE_ENV, "ANONYMIZED_TELEMETRY": "False"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if server.poll() is not None:
                pytest.skip(
                    f"`chroma run` exited with {server.returncode}: "
                    + (folder / "server.log").read_text(errors="replace")[-500:]
                )
            try:
                if httpx.get(f"{url}/api/v2/heartbeat", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.skip("`chroma run` did not answer its heartbeat within 60 s")
            time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


@pytest.fixture(scope="module")
def ingested(
    chroma_url: str, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, subprocess.CompletedProcess[str]]:
    """The small corpus ingested into the server by a first client (home `writer`)."""
    folder = tmp_path_factory.mktemp("server-corpus")
    data = Path(__file__).resolve().parent.parent / "data" / "003_099459961173535e.txt"
    lines = data.read_text(encoding="utf-8").splitlines()
    (folder / "listing.txt").write_text("\n".join(lines[:36]) + "\n", encoding="utf-8")
    home = tmp_path_factory.mktemp("writer")
    done = run_cli(
        "ingest",
        str(folder),
        "--quiet",
        ASSISTANT_HOME=str(home),
        ASSISTANT_STORE_URL=chroma_url,
    )
    return str(home), done


def _search(home: str | Path, url: str) -> list[dict[str, object]]:
    done = run_cli("search", QUERY, "--json", ASSISTANT_HOME=str(home), ASSISTANT_STORE_URL=url)
    assert done.returncode == 0, done.stderr
    hits: list[dict[str, object]] = json.loads(done.stdout)["results"]
    return hits


def test_ingest_into_server_keeps_no_vectors_locally(
    chroma_url: str, ingested: tuple[str, subprocess.CompletedProcess[str]]
) -> None:
    home, done = ingested
    assert done.returncode == 0, done.stderr
    assert "papers, " in done.stdout and f"at {chroma_url}" in done.stdout
    store = Path(home) / "store"
    assert not (store / "chroma.sqlite3").exists()
    assert (store / "lexical-abstracts.sqlite3").is_file()


def test_search_and_ask_read_the_server(
    chroma_url: str, ingested: tuple[str, subprocess.CompletedProcess[str]]
) -> None:
    home, _ = ingested
    hits = _search(home, chroma_url)
    assert hits and hits[0]["lexical"] is not None
    done = run_cli(
        "ask",
        "How can a neural network grow by recombining learned parameters?",
        "--backend",
        "none",
        "--json",
        ASSISTANT_HOME=home,
        ASSISTANT_STORE_URL=chroma_url,
    )
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["sources"]


def test_second_client_sees_the_same_papers_and_ranking(
    chroma_url: str,
    ingested: tuple[str, subprocess.CompletedProcess[str]],
    tmp_path: Path,
) -> None:
    home, _ = ingested
    other = tmp_path / "reader"
    mine = _search(home, chroma_url)
    done = run_cli(
        "search", QUERY, "--json", ASSISTANT_HOME=str(other), ASSISTANT_STORE_URL=chroma_url
    )
    assert done.returncode == 0, done.stderr
    # Its BM25 copy is made from the server's abstracts, so both rank alike.
    assert "Copying the BM25 index from the Chroma server" in done.stderr
    theirs = json.loads(done.stdout)["results"]
    assert [h["paper_id"] for h in theirs] == [h["paper_id"] for h in mine]
    assert [h["score"] for h in theirs] == [h["score"] for h in mine]
    # Now current: the next search uses the copy as it is.
    second = run_cli(
        "search", QUERY, "--json", ASSISTANT_HOME=str(other), ASSISTANT_STORE_URL=chroma_url
    )
    assert second.returncode == 0, second.stderr
    assert "Copying" not in second.stderr


def test_server_down_is_a_clear_error(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    done = run_cli("search", QUERY, ASSISTANT_HOME=str(tmp_path), ASSISTANT_STORE_URL=url)
    assert done.returncode == 3
    assert f"Error: The Chroma server at {url} is not reachable" in done.stderr
    assert "Hint: Start it with: chroma run --path DIR --host 127.0.0.1" in done.stderr
    assert "Traceback" not in done.stderr


def test_bad_store_url_is_a_config_error(tmp_path: Path) -> None:
    done = run_cli(
        "search", QUERY, ASSISTANT_HOME=str(tmp_path), ASSISTANT_STORE_URL="127.0.0.1:8000"
    )
    assert done.returncode == 3
    assert "store_url: Value error, must start with http:// or https://" in done.stderr


def test_other_settings_are_refused_by_the_server_fingerprint(
    chroma_url: str, ingested: tuple[str, subprocess.CompletedProcess[str]]
) -> None:
    home, _ = ingested
    done = run_cli(
        "search",
        QUERY,
        ASSISTANT_HOME=home,
        ASSISTANT_STORE_URL=chroma_url,
        ASSISTANT_CHUNK_TOKENS="128",
    )
    assert done.returncode == 3
    assert f"Error: The index at {chroma_url} was built with other settings (chunking:" in (
        done.stderr
    )
    assert "Hint: Rebuild it with: assistant ingest --rebuild" in done.stderr


def test_doctor_reports_the_server_store(
    chroma_url: str, ingested: tuple[str, subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    done = run_cli(
        "doctor",
        ASSISTANT_HOME=str(tmp_path),
        ASSISTANT_STORE_URL=chroma_url,
        ASSISTANT_BACKEND="none",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"12 chunks of 6 papers on the Chroma server at {chroma_url}, settings match" in (
        done.stdout
    ), done.stdout + done.stderr


def test_doctor_names_an_unreachable_server(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    done = run_cli(
        "doctor", ASSISTANT_HOME=str(tmp_path), ASSISTANT_STORE_URL=url, ASSISTANT_BACKEND="none"
    )
    assert done.returncode == 3
    assert f"the Chroma server at {url} is not reachable" in done.stdout + done.stderr


def test_a_reader_refreshes_its_copy_after_another_client_ingests(
    chroma_url: str, small_corpus: Path, tmp_path: Path
) -> None:
    # A collection of its own, so that the shared fixture's counts stay put.
    env = {"ASSISTANT_STORE_URL": chroma_url, "ASSISTANT_COLLECTION": "growing"}
    writer, reader = str(tmp_path / "writer"), str(tmp_path / "reader")
    made = run_cli("ingest", str(small_corpus), "--quiet", ASSISTANT_HOME=writer, **env)
    assert made.returncode == 0, made.stderr
    first = run_cli("search", QUERY, ASSISTANT_HOME=reader, **env)
    assert first.returncode == 0, first.stderr
    # The writer adds the next papers of the same listing.
    more = tmp_path / "more"
    more.mkdir()
    data = Path(__file__).resolve().parent.parent / "data" / "003_099459961173535e.txt"
    lines = data.read_text(encoding="utf-8").splitlines()
    (more / "listing.txt").write_text("\n".join(lines[:12] + lines[36:60]) + "\n", "utf-8")
    added = run_cli("ingest", str(more), "--quiet", ASSISTANT_HOME=writer, **env)
    assert added.returncode == 0, added.stderr
    assert "Added 0" not in added.stdout
    theirs = run_cli("search", QUERY, "--json", ASSISTANT_HOME=reader, **env)
    assert "Copying the BM25 index from the Chroma server" in theirs.stderr
    mine = run_cli("search", QUERY, "--json", ASSISTANT_HOME=writer, **env)
    assert "Copying" not in mine.stderr  # the writer's own copy is current
    assert json.loads(theirs.stdout) == json.loads(mine.stdout)


def test_a_copied_bm25_index_keeps_filtered_search_hybrid(
    chroma_url: str,
    ingested: tuple[str, subprocess.CompletedProcess[str]],
    tmp_path: Path,
) -> None:
    """The copy carries the filter facets: filtered rankings match the ingesting home's."""
    home, _ = ingested
    args = ("search", QUERY, "--json", "--source", "listing.txt")
    mine = run_cli(*args, ASSISTANT_HOME=home, ASSISTANT_STORE_URL=chroma_url)
    theirs = run_cli(*args, ASSISTANT_HOME=str(tmp_path / "r2"), ASSISTANT_STORE_URL=chroma_url)
    assert mine.returncode == 0 and theirs.returncode == 0, (mine.stderr, theirs.stderr)
    ours, copied = json.loads(mine.stdout)["results"], json.loads(theirs.stdout)["results"]
    assert ours and [h["score"] for h in copied] == [h["score"] for h in ours]
    assert [h["paper_id"] for h in copied] == [h["paper_id"] for h in ours]


def test_a_rebuild_on_the_server_swaps_only_when_complete(
    chroma_url: str, small_corpus: Path, tmp_path: Path
) -> None:
    env = {"ASSISTANT_STORE_URL": chroma_url, "ASSISTANT_COLLECTION": "rebuilt"}
    home, reader = str(tmp_path / "writer"), str(tmp_path / "reader")
    made = run_cli("ingest", str(small_corpus), "--quiet", ASSISTANT_HOME=home, **env)
    assert made.returncode == 0, made.stderr
    before = run_cli("search", QUERY, "--json", ASSISTANT_HOME=home, **env)

    nothing = run_cli("ingest", "--rebuild", str(tmp_path / "typo.bbi"), ASSISTANT_HOME=home, **env)
    assert nothing.returncode == 3
    assert "The index was left as it was." in nothing.stderr
    kept = run_cli("search", QUERY, "--json", ASSISTANT_HOME=home, **env)
    assert json.loads(kept.stdout) == json.loads(before.stdout)

    other = tmp_path / "other"
    other.mkdir()
    data = Path(__file__).resolve().parent.parent / "data" / "003_099459961173535e.txt"
    lines = data.read_text(encoding="utf-8").splitlines()
    (other / "listing.txt").write_text("\n".join(lines[:12] + lines[36:48]) + "\n", "utf-8")
    rebuilt = run_cli("ingest", "--rebuild", str(other), "--quiet", ASSISTANT_HOME=home, **env)
    assert rebuilt.returncode == 0, rebuilt.stderr
    papers, _ = load_abstracts([other])
    assert f"Index: {len(papers)} papers," in rebuilt.stdout
    # Another client sees the new papers, and only those.
    theirs = run_cli("search", QUERY, "--json", "-k", "10", ASSISTANT_HOME=reader, **env)
    titles = {r["title"] for r in json.loads(theirs.stdout)["results"]}
    assert titles == {p.title for p in papers}
    names = {
        c["name"]
        for c in httpx.get(
            f"{chroma_url}/api/v2/tenants/default_tenant/databases/default_database/collections"
        ).json()
    }
    assert "rebuilt" in names and not {n for n in names if n.startswith("rebuilt.")}


def test_a_copied_bm25_index_keeps_zotero_collections_and_tags(
    chroma_url: str, tmp_path: Path
) -> None:
    """The facet copy carries collection and tag keys too, so the filters still hold."""
    from tests.zotero_fixture import ZoteroDatabase

    db = ZoteroDatabase(tmp_path / "zotero.sqlite")
    parent = db.collection("Glaciology")
    child = db.collection("Fronts", parent=parent)
    abstract = "Glacier calving fronts retreat, measured in satellite radar images."
    db.item("journalArticle", {"title": "Fronts", "abstractNote": abstract}, collections=(child,))
    db.item("journalArticle", {"title": "Moraines", "abstractNote": abstract}, tags=("field",))
    db.close()
    env = {"ASSISTANT_STORE_URL": chroma_url, "ASSISTANT_COLLECTION": "zotero"}
    made = run_cli(
        "ingest",
        "--quiet",
        str(tmp_path / "zotero.sqlite"),
        ASSISTANT_HOME=str(tmp_path / "w"),
        **env,
    )
    assert made.returncode == 0, made.stderr
    for flags, title in (
        (("--collection", "glaciology"), "Fronts"),
        (("--tag", "Field"), "Moraines"),
    ):
        found = run_cli(
            "search", "calving fronts", "--json", *flags, ASSISTANT_HOME=str(tmp_path / "r"), **env
        )
        assert found.returncode == 0, found.stderr
        (hit,) = json.loads(found.stdout)["results"]
        # A BM25 score: the copied facets let the paper through the lexical side too.
        assert hit["title"] == title and hit["lexical"] is not None
