"""The NumPy question encoder must give the vectors the ingest path gives."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from assistant.embedder import MiniLMEmbedder, minilm_path
from assistant.query_encoder import NumpyMiniLM, _erf
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
        "from assistant.embedder import MiniLMEmbedder\n"
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
