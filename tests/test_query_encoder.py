"""The NumPy question encoder must give the vectors the ingest path gives."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from assistant.embedding.embedder import MiniLMEmbedder, minilm_path
from assistant.embedding.query_encoder import NumpyMiniLM, _erf
from tests.conftest import DATA

QUESTIONS = [
    "diffusion models for video",
    "What dataset did they use?",
    "Wie funktioniert maschinelle Übersetzung? 中文问题 سؤال",
    "x",
    "\x00\x07 control \x1b[31m characters",
]


@pytest.fixture(scope="module")
def reference() -> object:
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(minilm_path()), device="cpu", local_files_only=True)


def test_erf_matches_the_standard_library() -> None:
    import math

    xs = np.linspace(-7.0, 7.0, 2001)
    exact = np.array([math.erf(x) for x in xs])
    assert float(np.max(np.abs(_erf(xs) - exact))) < 2e-7


def test_numpy_vectors_match_sentence_transformers(reference: object) -> None:
    # Real abstracts too: long texts exercise truncation at 256 tokens.
    lines = (DATA / "000_f182f684adaecd22.txt").read_text(encoding="utf-8").splitlines()
    abstracts = [line for line in lines if len(line) > 1500][:3]
    assert abstracts
    texts = QUESTIONS + abstracts
    ours = NumpyMiniLM(minilm_path()).encode(texts)
    theirs = reference.encode(texts, normalize_embeddings=True)  # type: ignore[attr-defined]
    cosines = (ours * theirs).sum(axis=1)
    assert ours.shape == (len(texts), 384)
    assert float(cosines.min()) > 1 - 1e-5, cosines
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_a_question_is_embedded_without_importing_torch() -> None:
    code = (
        "import sys\n"
        "from assistant.embedding.embedder import MiniLMEmbedder\n"
        "v = MiniLMEmbedder().embed_query('graph neural networks')\n"
        "assert len(v) == 384\n"
        "print(sorted(m for m in ('torch', 'sentence_transformers', 'transformers')"
        " if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == "[]"


def test_small_batches_and_the_torch_path_agree() -> None:
    embedder = MiniLMEmbedder()
    texts = ["sparse attention for long documents", "protein folding with language models"]
    light = embedder._light().encode(texts)
    heavy = embedder._load().encode(texts, normalize_embeddings=True)
    assert float((light * heavy).sum(axis=1).min()) > 1 - 1e-5


def test_onnx_graphs_match_sentence_transformers(reference: object, tmp_path: Path) -> None:
    """fp32: the same vectors (so one fingerprint); int8: close, and fingerprinted apart."""
    from assistant.embedding.onnx_encoder import GRAPH_VERSION, OnnxMiniLM

    lines = (DATA / "001_0e3b8f3a0da38401.txt").read_text(encoding="utf-8").splitlines()
    # Mixed lengths in one batch exercise the padding mask.
    texts = [line for line in lines if line.strip()][4:40] + QUESTIONS
    theirs = reference.encode(texts, normalize_embeddings=True)  # type: ignore[attr-defined]
    fp32 = OnnxMiniLM(minilm_path(), tmp_path, "fp32").encode(texts, batch_size=8)
    assert float((fp32 * theirs).sum(axis=1).min()) > 1 - 1e-5
    int8 = OnnxMiniLM(minilm_path(), tmp_path, "int8").encode(texts, batch_size=8)
    cosines = (int8 * theirs).sum(axis=1)
    assert float(cosines.mean()) > 0.98
    assert float(cosines.min()) < 1 - 1e-4  # quantized: really a different model
    assert sorted(p.name for p in tmp_path.glob("*.onnx")) == [
        f"minilm-v{GRAPH_VERSION}-fp32.onnx",
        f"minilm-v{GRAPH_VERSION}-int8.onnx",
    ]
    fingerprints = {
        MiniLMEmbedder(encoder=name).fingerprint for name in ("torch", "onnx-fp32", "onnx-int8")
    }
    assert len(fingerprints) == 2
