"""all-MiniLM-L6-v2 forward pass in NumPy, for questions.

Importing sentence-transformers (and torch with it) costs about five seconds,
more than everything else a cold `assistant search` does. A question is a few
dozen tokens, for which six small BERT layers in NumPy take milliseconds. The
weights and tokenizer are the same files sentence-transformers loads, and the
arithmetic is the same (BERT, mean pooling, unit length), so the vectors
agree with the ingest path to float precision; `tests/test_query_encoder.py`
holds them to 1e-5 cosine.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from tokenizers import Tokenizer

_LOCK = threading.Lock()
_CACHE: dict[Path, NumpyMiniLM] = {}


@dataclass(frozen=True)
class _Layer:
    qkv_w: np.ndarray  # (hidden, 3 * hidden): query, key and value in one product
    qkv_b: np.ndarray
    out_w: np.ndarray
    out_b: np.ndarray
    ln1_g: np.ndarray
    ln1_b: np.ndarray
    up_w: np.ndarray
    up_b: np.ndarray
    down_w: np.ndarray
    down_b: np.ndarray
    ln2_g: np.ndarray
    ln2_b: np.ndarray


def _layer_norm(x: np.ndarray, gain: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    normed: np.ndarray = (x - mean) / np.sqrt(var + eps) * gain + bias
    return normed


def _erf(x: np.ndarray) -> np.ndarray:
    """erf for arrays (NumPy has none), relative error below 1.2e-7.

    The Chebyshev fit for erfc from Numerical Recipes (2nd ed., section 6.2),
    in float64: far below the float32 noise of the matrix products around it.
    """
    z = np.abs(x.astype(np.float64))
    t = 1.0 / (1.0 + 0.5 * z)
    poly = -1.26551223 + t * (
        1.00002368
        + t
        * (
            0.37409196
            + t
            * (
                0.09678418
                + t
                * (
                    -0.18628806
                    + t
                    * (
                        0.27886807
                        + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))
                    )
                )
            )
        )
    )
    erfc = t * np.exp(-z * z + poly)
    result: np.ndarray = np.where(x >= 0, 1.0 - erfc, erfc - 1.0)
    return result


def _gelu(x: np.ndarray) -> np.ndarray:
    # BERT's "gelu" is the exact erf form, not the tanh approximation.
    result: np.ndarray = (0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))).astype(np.float32)
    return result


class NumpyMiniLM:
    """Encodes short texts with the bundled MiniLM weights, one text at a time."""

    def __init__(self, model_dir: Path, max_tokens: int = 256) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
        self.heads = int(config["num_attention_heads"])
        self.eps = float(config["layer_norm_eps"])
        weights = load_file(str(model_dir / "model.safetensors"))
        # Some exports prefix every name with the architecture.
        if any(name.startswith("bert.") for name in weights):
            weights = {name.removeprefix("bert."): w for name, w in weights.items()}
        self.word = weights["embeddings.word_embeddings.weight"]
        self.position = weights["embeddings.position_embeddings.weight"]
        self.token_type = weights["embeddings.token_type_embeddings.weight"][0]
        self.emb_g = weights["embeddings.LayerNorm.weight"]
        self.emb_b = weights["embeddings.LayerNorm.bias"]
        self.layers = [
            self._layer(weights, f"encoder.layer.{i}.")
            for i in range(int(config["num_hidden_layers"]))
        ]
        tokenizer: Tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=max_tokens)
        self.tokenizer = tokenizer

    @staticmethod
    def _layer(w: dict[str, np.ndarray], p: str) -> _Layer:
        attn = p + "attention."
        qkv_w = np.concatenate(
            [w[f"{attn}self.{n}.weight"].T for n in ("query", "key", "value")], axis=1
        )
        qkv_b = np.concatenate([w[f"{attn}self.{n}.bias"] for n in ("query", "key", "value")])
        return _Layer(
            qkv_w=np.ascontiguousarray(qkv_w),
            qkv_b=qkv_b,
            out_w=np.ascontiguousarray(w[attn + "output.dense.weight"].T),
            out_b=w[attn + "output.dense.bias"],
            ln1_g=w[attn + "output.LayerNorm.weight"],
            ln1_b=w[attn + "output.LayerNorm.bias"],
            up_w=np.ascontiguousarray(w[p + "intermediate.dense.weight"].T),
            up_b=w[p + "intermediate.dense.bias"],
            down_w=np.ascontiguousarray(w[p + "output.dense.weight"].T),
            down_b=w[p + "output.dense.bias"],
            ln2_g=w[p + "output.LayerNorm.weight"],
            ln2_b=w[p + "output.LayerNorm.bias"],
        )

    def _forward(self, ids: Sequence[int]) -> np.ndarray:
        n = len(ids)
        x = self.word[np.asarray(ids)] + self.position[:n] + self.token_type
        x = _layer_norm(x, self.emb_g, self.emb_b, self.eps)
        hidden = x.shape[1]
        head_dim = hidden // self.heads
        scale = np.float32(1.0 / math.sqrt(head_dim))
        for layer in self.layers:
            qkv = x @ layer.qkv_w + layer.qkv_b
            # (3, heads, n, head_dim)
            q, k, v = qkv.reshape(n, 3, self.heads, head_dim).transpose(1, 2, 0, 3)
            scores = (q @ k.transpose(0, 2, 1)) * scale
            scores -= scores.max(axis=-1, keepdims=True)
            probs = np.exp(scores)
            probs /= probs.sum(axis=-1, keepdims=True)
            context = (probs @ v).transpose(1, 0, 2).reshape(n, hidden)
            x = _layer_norm(
                context @ layer.out_w + layer.out_b + x, layer.ln1_g, layer.ln1_b, self.eps
            )
            up = _gelu(x @ layer.up_w + layer.up_b)
            x = _layer_norm(
                up @ layer.down_w + layer.down_b + x, layer.ln2_g, layer.ln2_b, self.eps
            )
        return x

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length mean-pooled vectors, shape (len(texts), 384), float32."""
        vectors = []
        for encoding in self.tokenizer.encode_batch(list(texts)):
            # Unpadded, so every token counts in the mean: what the attention
            # mask does for a padded batch.
            pooled = self._forward(encoding.ids).mean(axis=0)
            vectors.append(pooled / max(float(np.linalg.norm(pooled)), 1e-12))
        if not vectors:
            return np.zeros((0, self.word.shape[1]), dtype=np.float32)
        return np.stack(vectors).astype(np.float32)


def numpy_minilm(model_dir: Path) -> NumpyMiniLM:
    """The process-wide encoder for `model_dir`, loaded on first use."""
    with _LOCK:
        if model_dir not in _CACHE:
            _CACHE[model_dir] = NumpyMiniLM(model_dir)
        return _CACHE[model_dir]
