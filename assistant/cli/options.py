"""The options commands share, declared once (their help is part of `--help`'s golden files)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

import typer

from assistant.backends import BackendName
from assistant.errors import UsageError

if TYPE_CHECKING:
    from assistant.retrieval.filters import Filters

# The names `--backend` accepts, from the backend registry's module.
BackendChoice = BackendName

BackendOpt = Annotated[
    BackendChoice | None,
    typer.Option("--backend", "-b", help="auto, ollama, llamacpp, openai or none (no LLM)."),
]
ModelOpt = Annotated[
    str | None,
    typer.Option("--model", "-m", help="Model name (ollama, openai), or a GGUF path for llamacpp."),
]
TopKOpt = Annotated[int | None, typer.Option("-k", "--top-k", help="How many papers to use.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
UnsupportedOpt = Annotated[
    Literal["mark", "drop"] | None,
    typer.Option(
        "--unsupported",
        help="A sentence no abstract backs: mark it, or drop it "
        "(default: drop for llamacpp, mark for the others).",
    ),
]
TimeoutOpt = Annotated[
    float | None, typer.Option("--timeout", help="Seconds to wait for the LLM's next words.")
]
YearOpt = Annotated[
    str | None,
    typer.Option("--year", help="Only papers from these years: 2023, 2023..2024, 2023.., ..2024."),
]
AuthorOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--author", help="Only papers with an author of this name, e.g. hinton (repeatable)."
    ),
]
CategoryFilterOpt = Annotated[
    list[str] | None,
    typer.Option("--category", help="Only papers in this category (repeatable); cs keeps cs.*."),
]
SourceOpt = Annotated[
    list[str] | None,
    typer.Option("--source", help="Only papers read from this file name (repeatable)."),
]
FormatOpt = Annotated[
    Literal["text", "bibtex"],
    typer.Option("--format", help="text, or bibtex: the papers as BibTeX entries."),
]
AnswerFormatOpt = Annotated[
    Literal["text", "bibtex", "markdown"],
    typer.Option(
        "--format",
        help="text; bibtex: the cited papers as BibTeX entries; markdown: the answer, its "
        "Sources and their BibTeX, to keep.",
    ),
]
CollectionOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--collection", help="Only papers in this Zotero collection, or under it (repeatable)."
    ),
]
TagOpt = Annotated[
    list[str] | None,
    typer.Option("--tag", help="Only papers with this Zotero tag (repeatable)."),
]


def parse_filters(
    year: str | None,
    author: list[str] | None,
    category: list[str] | None,
    source: list[str] | None,
    collection: list[str] | None,
    tag: list[str] | None,
) -> Filters:
    """The filter options' values as `Filters` (a UsageError for a malformed one)."""
    from assistant.retrieval.filters import Filters

    return Filters.parse(
        year, author or (), category or (), source or (), collection or (), tag or ()
    )


def check_format(output: str, as_json: bool) -> None:
    """--json and a --format other than text exclude each other."""
    if output != "text" and as_json:
        raise UsageError(
            f"--json and --format {output} cannot be combined.", hint="Choose one of them."
        )
