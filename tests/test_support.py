"""The support checker on hand-written pairs, with the real bundled MiniLM.

The abstracts are made up for these tests (no paper says exactly this); each
claim is one kind of sentence a model writes when it cites a paper: a quote, a
paraphrase, or one of the ways of getting it wrong.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from assistant.answering.support import SupportChecker, Verdict, split_sentences
from assistant.embedding.embedder import minilm_path
from assistant.embedding.query_encoder import numpy_minilm
from assistant.settings import load_settings

SPARSE = (
    "Training large vision transformers is expensive because every layer attends over "
    "all image patches. We introduce PatchDrop, a training schedule that randomly "
    "removes 40% of the patches in early epochs and restores them gradually. On "
    "ImageNet-1k, PatchDrop cuts training time by 35% while matching the top-1 "
    "accuracy of full training (81.2% vs. 81.3%). The savings grow with model size: "
    "ViT-L trains 1.8x faster. Unlike token pruning at inference, PatchDrop leaves the "
    "deployed model unchanged. We also find that dropping patches uniformly at random "
    "works better than dropping low-saliency patches, which hurts robustness on "
    "ImageNet-C."
)
GRAPH = (
    "Message passing graph neural networks struggle on graphs where linked nodes tend "
    "to have different labels. We propose HopMix, which mixes features from two-hop "
    "neighbours with a learned gate. HopMix improves node classification accuracy on "
    "six heterophilous benchmarks, by up to 7.5 points on Roman-empire, and it does not "
    "require any positional encodings. Training takes 12 minutes on a single A100 GPU. "
    "On homophilous graphs such as Cora, HopMix performs on par with GCN."
)
AUDIO = (
    "Speech enhancement models are usually trained on synthetic mixtures of clean "
    "speech and noise. We collect 300 hours of real noisy recordings from call centres "
    "and fine-tune a Conformer denoiser on them without any clean references, using a "
    "self-supervised consistency loss. The fine-tuned model raises PESQ from 2.61 to "
    "2.94 on the held-out calls, and listeners preferred it in 68% of pairwise "
    "comparisons."
)


def _encoder() -> SupportChecker:
    model = numpy_minilm(minilm_path())

    def encode(texts: Sequence[str]) -> np.ndarray:
        return model.encode(list(texts))

    return SupportChecker.from_settings(encode, load_settings())


@pytest.fixture(scope="module")
def checker() -> SupportChecker:
    return _encoder()


def _accepts(checker: SupportChecker, claim: str, abstract: str) -> Verdict:
    verdict = checker.check(claim, abstract)
    assert verdict.supported, verdict
    assert verdict.reason == "supported"
    return verdict


def _rejects(checker: SupportChecker, claim: str, abstract: str, reason: str) -> Verdict:
    verdict = checker.check(claim, abstract)
    assert not verdict.supported, verdict
    assert reason in verdict.reason, verdict
    return verdict


# -- accepted --------------------------------------------------------------


def test_a_sentence_quoted_from_the_abstract_is_supported_by_that_sentence(
    checker: SupportChecker,
) -> None:
    sentences = split_sentences(SPARSE)
    for index, sentence in enumerate(sentences):
        verdict = _accepts(checker, sentence, SPARSE)
        assert verdict.evidence[0] == index
        assert verdict.score > 0.9


@pytest.mark.parametrize(
    ("claim", "abstract", "evidence"),
    [
        (
            "PatchDrop randomly drops 40% of image patches early in training and brings them "
            "back step by step.",
            SPARSE,
            1,
        ),
        (
            "On ImageNet-1k the schedule shortens training by about a third without losing "
            "top-1 accuracy.",
            SPARSE,
            2,
        ),
        (
            "Mixing in two-hop neighbour features through a learned gate lifts node "
            "classification accuracy on six heterophilous benchmarks.",
            GRAPH,
            1,
        ),
        (
            "Fine-tuning on 300 hours of real call-centre recordings, with no clean "
            "references, raised PESQ from 2.61 to 2.94.",
            AUDIO,
            1,
        ),
        # A rounded figure and a citation marker are still the abstract's.
        ("HopMix gains as much as 7.5 points on Roman-empire [2].", GRAPH, 2),
        ("Listeners preferred the fine-tuned model in about 68% of comparisons.", AUDIO, 2),
    ],
)
def test_paraphrases_are_supported_with_their_evidence(
    checker: SupportChecker, claim: str, abstract: str, evidence: int
) -> None:
    verdict = _accepts(checker, claim, abstract)
    assert evidence in verdict.evidence


# -- rejected, one or more per kind ----------------------------------------


def test_a_changed_number_is_named(checker: SupportChecker) -> None:
    _rejects(
        checker,
        "PatchDrop cuts ImageNet-1k training time by 55% while matching full-training accuracy.",
        SPARSE,
        "number 55% not in the evidence",
    )
    _rejects(
        checker,
        "HopMix improves accuracy on nine heterophilous benchmarks.",
        GRAPH,
        "number nine not in the evidence (it says six)",
    )


def test_a_changed_unit_is_named(checker: SupportChecker) -> None:
    _rejects(
        checker,
        "Training HopMix takes 12 hours on a single A100 GPU.",
        GRAPH,
        "unit changed: 12 hours where the abstract says 12 minutes",
    )


def test_a_swapped_name_is_named(checker: SupportChecker) -> None:
    # A name the abstract never mentions.
    _rejects(
        checker,
        "On homophilous graphs such as PubMed, HopMix performs on par with GCN.",
        GRAPH,
        "PubMed not in the abstract",
    )
    _rejects(
        checker,
        "The authors fine-tune a Transformer-XL denoiser on real noisy recordings.",
        AUDIO,
        "Transformer-XL not in the abstract",
    )


def test_a_reversed_direction_is_caught(checker: SupportChecker) -> None:
    _rejects(
        checker,
        "Dropping low-saliency patches works better than dropping patches uniformly at random.",
        SPARSE,
        "roles swapped",
    )
    _rejects(
        checker,
        "The savings shrink with model size.",
        SPARSE,
        "direction reversed: 'shrink' where the evidence says 'grow'",
    )
    _rejects(
        checker,
        "On homophilous graphs such as Cora, HopMix clearly outperforms GCN.",
        GRAPH,
        "'outperforms' where the evidence says 'par'",
    )


def test_a_dropped_negation_is_caught(checker: SupportChecker) -> None:
    _rejects(
        checker,
        "HopMix requires positional encodings to classify nodes on heterophilous graphs.",
        GRAPH,
        "negation differs: the evidence negates 'requires'",
    )
    _rejects(
        checker,
        "The Conformer denoiser is fine-tuned with clean references from the call centres.",
        AUDIO,
        "negation differs",
    )


def test_a_claim_from_another_paper_is_rejected(checker: SupportChecker) -> None:
    # True of SPARSE, cited to GRAPH.
    verdict = checker.check(
        "Randomly removing patches in early epochs cuts training time while keeping accuracy.",
        GRAPH,
    )
    assert not verdict.supported
    assert verdict.score < 0.5


def test_a_half_backed_sentence_is_rejected(checker: SupportChecker) -> None:
    _rejects(
        checker,
        "PatchDrop cuts training time on ImageNet-1k, and it also improves robustness to "
        "adversarial attacks.",
        SPARSE,
        "part of the claim is not in the abstract",
    )


def test_general_knowledge_is_not_backed_by_the_abstract(checker: SupportChecker) -> None:
    for claim in (
        "Self-attention costs grow quadratically with the number of tokens.",
        "Data augmentation is a standard way to reduce overfitting in deep networks.",
    ):
        verdict = checker.check(claim, SPARSE)
        assert not verdict.supported, verdict


# -- the interface ---------------------------------------------------------


def test_precomputed_sentence_vectors_give_the_same_verdict(checker: SupportChecker) -> None:
    sentences = split_sentences(GRAPH)
    vectors = checker.encode(sentences)
    claim = "HopMix needs no positional encodings."
    assert checker.check_sentences(claim, sentences, vectors) == checker.check(claim, GRAPH)


def test_nothing_to_check() -> None:
    checker = SupportChecker(lambda texts: np.zeros((len(texts), 384), dtype=np.float32))
    assert checker.check("A claim.", "") == Verdict(
        False, 0.0, (), "no abstract text to check against"
    )
    assert checker.check("[1].", GRAPH).reason == "the sentence says nothing"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "We follow Smith et al. (2020) and use e.g. dropout. Results improve by 3.5 "
            "points. See Fig. 2 for details.",
            [
                "We follow Smith et al. (2020) and use e.g. dropout.",
                "Results improve by 3.5 points.",
                "See Fig. 2 for details.",
            ],
        ),
        (
            "Accuracy rose to 89.1% (i.e. 2.3 points). J. Doe disagrees! Why? Because A vs. "
            "B differ.",
            [
                "Accuracy rose to 89.1% (i.e. 2.3 points).",
                "J. Doe disagrees!",
                "Why?",
                "Because A vs. B differ.",
            ],
        ),
        (
            'The model "works." It also scales.\n\nA second paragraph without a full stop',
            ['The model "works."', "It also scales.", "A second paragraph without a full stop"],
        ),
        ("Cost is O(n). Eq. 3 holds.", ["Cost is O(n).", "Eq. 3 holds."]),
        ("", []),
    ],
)
def test_split_sentences(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected
