"""Splitting abstracts into chunks that the 256-token embedder sees whole.

Every chunk starts with the paper's title (so a chunk from the middle of an
abstract still says what it is about) and holds whole sentences, as many as fit.
A sentence longer than a chunk is cut at word boundaries. No text is lost:
every word of the abstract is in at least one chunk, inside the token limit.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from assistant.domain import Paper

# Split after ., ! or ? followed by space and a capital, digit or bracket.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\[\"'])")
# Titles are a prefix on every chunk; a very long title must not crowd out the text.
_TITLE_BUDGET_TOKENS = 48
# [CLS] and [SEP].
_SPECIAL_TOKENS = 2

TokenCounter = Callable[[Sequence[str]], list[int]]


@dataclass(frozen=True)
class ChunkSpec:
    """Chunking settings; part of the index fingerprint."""

    max_tokens: int = 256
    overlap_sentences: int = 0

    def describe(self) -> str:
        return (
            f"sentences<= {self.max_tokens} tokens, title prefix, overlap {self.overlap_sentences}"
        )


@dataclass(frozen=True)
class Chunk:
    paper_id: str
    index: int
    text: str


def split_sentences(text: str) -> list[str]:
    return [s for s in (p.strip() for p in _SENTENCE_END.split(text)) if s]


def _cut_words(text: str, budget: int, count: TokenCounter) -> list[str]:
    """Cut one over-long sentence into pieces of at most `budget` tokens."""
    words = text.split()
    pieces: list[str] = []
    sizes = count(words)
    current: list[str] = []
    used = 0
    for word, size in zip(words, sizes, strict=True):
        if size > budget:
            # A single "word" over the budget (e.g. a long URL or formula):
            # split it by characters, keeping each piece within budget.
            if current:
                pieces.append(" ".join(current))
                current, used = [], 0
            pieces.extend(_cut_chars(word, size, budget, count))
            continue
        if current and used + size > budget:
            pieces.append(" ".join(current))
            current, used = [], 0
        current.append(word)
        used += size
    if current:
        pieces.append(" ".join(current))
    return pieces


def _cut_chars(word: str, size: int, budget: int, count: TokenCounter) -> list[str]:
    """Cut one word of `size` tokens into pieces of at most `budget` tokens each.

    Tokens are not spread evenly over characters (punctuation is a token of its
    own, a run of letters may be one), so an even first cut is checked and every
    piece still over budget is halved until it fits.
    """
    step = max(1, len(word) * budget // (size + 1))
    pieces = [word[i : i + step] for i in range(0, len(word), step)]
    while True:
        sizes = count(pieces)
        if all(n <= budget or len(p) == 1 for p, n in zip(pieces, sizes, strict=True)):
            return pieces
        halved: list[str] = []
        for piece, n in zip(pieces, sizes, strict=True):
            mid = len(piece) // 2
            halved.extend((piece[:mid], piece[mid:]) if n > budget and mid else (piece,))
        pieces = halved


def _title_prefix(title: str, count: TokenCounter) -> str:
    if count([title])[0] <= _TITLE_BUDGET_TOKENS:
        return title
    words = title.split()
    while words and count([" ".join(words)])[0] > _TITLE_BUDGET_TOKENS:
        words = words[: max(1, len(words) * 3 // 4)]
        if len(words) == 1:
            break
    prefix = " ".join(words)
    size = count([prefix])[0]
    if size > _TITLE_BUDGET_TOKENS:
        # One "word" over the budget (a title without spaces, dense with punctuation).
        prefix = _cut_chars(prefix, size, _TITLE_BUDGET_TOKENS, count)[0]
    return prefix


def chunk_papers(papers: Sequence[Paper], spec: ChunkSpec, count: TokenCounter) -> list[Chunk]:
    """The chunks of several papers, in order; each fits the embedder whole.

    Token counts for all sentences are asked for in one batch: the tokenizer is
    fast per call but not free, and ingest chunks thousands of papers.
    """
    prefixes = [_title_prefix(p.title, count) + "." for p in papers]
    prefix_sizes = count(prefixes)
    split = [split_sentences(p.abstract) for p in papers]
    flat_sizes = count([s for sentences in split for s in sentences])
    chunks: list[Chunk] = []
    offset = 0
    for paper, prefix, prefix_size, sentences in zip(
        papers, prefixes, prefix_sizes, split, strict=True
    ):
        sizes = flat_sizes[offset : offset + len(sentences)]
        offset += len(sentences)
        budget = spec.max_tokens - _SPECIAL_TOKENS - prefix_size
        if any(size > budget for size in sizes):
            pieces: list[str] = []
            for sentence, size in zip(sentences, sizes, strict=True):
                pieces.extend(_cut_words(sentence, budget, count) if size > budget else [sentence])
            sentences, sizes = pieces, count(pieces)
        bodies = _pack(sizes, budget, spec.overlap_sentences)
        chunks.extend(
            Chunk(paper.paper_id, i, " ".join([prefix, *(sentences[a:b])]).strip())
            for i, (a, b) in enumerate(bodies)
        )
    return chunks


def chunk_paper(paper: Paper, spec: ChunkSpec, count: TokenCounter) -> list[Chunk]:
    return chunk_papers([paper], spec, count)


def _pack(sizes: Sequence[int], budget: int, overlap: int) -> list[tuple[int, int]]:
    """Sentence ranges [a, b) of at most `budget` tokens, overlapping by `overlap` sentences."""
    ranges: list[tuple[int, int]] = []
    start = 0
    while start < len(sizes):
        end, used = start, 0
        while end < len(sizes) and (end == start or used + sizes[end] <= budget):
            used += sizes[end]
            end += 1
        ranges.append((start, end))
        if end >= len(sizes):
            break
        # Step back for overlap, but always move forward by at least one sentence.
        start = max(start + 1, end - overlap)
    return ranges or [(0, 0)]
