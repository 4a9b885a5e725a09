"""The command line: parse, make one library call (`assistant.api.Assistant`),
render (`cli.render`), map errors to exit codes.

Heavy libraries (torch, chromadb, llama_cpp) are imported inside commands, so
`assistant --help` and `assistant config show` stay fast.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from assistant.cli import render
from assistant.cli.mcp_command import mcp
from assistant.cli.options import (
    AnswerFormatOpt,
    AuthorOpt,
    BackendChoice,
    BackendOpt,
    CategoryFilterOpt,
    CollectionOpt,
    FormatOpt,
    JsonOpt,
    ModelOpt,
    SourceOpt,
    TagOpt,
    TimeoutOpt,
    TopKOpt,
    UnsupportedOpt,
    YearOpt,
    check_format,
    parse_filters,
)
from assistant.cli.render import err
from assistant.cli.runner import CliOptions, catch_sigterm, run, silence_stdout, usable_streams
from assistant.errors import CorpusError, ExitCode, Terminated
from assistant.readers import SUPPORTED

if TYPE_CHECKING:
    from assistant.api import Assistant
    from assistant.index.ingest import IngestResult
    from assistant.retrieval.filters import Filters

__all__ = ["BackendChoice", "app", "main"]

app = typer.Typer(
    add_completion=True,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    help="Ask questions about research-paper abstracts; answers cite the papers. "
    "Everything runs on this machine.",
)
config_app = typer.Typer(help="Inspect settings.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(config_app, name="config")


def _assistant(**flags: Any) -> Assistant:
    from assistant.api import Assistant

    return Assistant(**flags)


def _warn_stale(assistant: Assistant, filters: Filters) -> None:
    from assistant.retrieval.filters import stale_warning

    warning = stale_warning(assistant.pipeline.store, filters)
    if warning:
        err(f"Warning: {warning}")


def _nothing_read(result: IngestResult, category: list[str] | None, rebuild: bool) -> CorpusError:
    kept = " The index was left as it was." if rebuild else ""
    if category and result.files:
        return CorpusError(
            f"No entries in the given paths are in --category {', '.join(category)}.{kept}",
            hint="Check the names (e.g. cs.LG); a prefix such as cs keeps all cs.*.",
        )
    return CorpusError(
        f"No abstracts could be read from the given paths.{kept}",
        hint=f"Pass listing {SUPPORTED} files, or folders holding them.",
    )


def _print_version(value: bool) -> None:
    # Eager: a group callback alone never runs without a command ("Missing command").
    if value:
        from assistant import __version__

        print(__version__)
        raise typer.Exit(ExitCode.OK)


@app.callback()
def _root(
    ctx: typer.Context,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version.", callback=_print_version, is_eager=True
        ),
    ] = False,
) -> None:
    ctx.obj = CliOptions(debug=debug or os.environ.get("ASSISTANT_DEBUG") == "1")


@app.command()
def ingest(
    ctx: typer.Context,
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help=f"Listing {SUPPORTED} files, or folders; default: bundled data/."),
    ] = None,
    rebuild: Annotated[
        bool,
        typer.Option("--rebuild", help="Build the index anew; the old one is kept until then."),
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    limit: Annotated[
        int | None,
        typer.Option("--limit", min=1, help="Stop after this many accepted entries."),
    ] = None,
    category: Annotated[
        list[str] | None,
        typer.Option(
            "--category",
            help="Keep only entries in this category (repeatable); cs keeps every cs.* one.",
        ),
    ] = None,
    zotero: Annotated[
        bool,
        typer.Option(
            "--zotero",
            help="Read Zotero (read-only): paths are data directories or zotero.sqlite files; "
            "none: this machine's.",
        ),
    ] = False,
) -> None:
    """Add abstracts to the index; unchanged papers are skipped.

    Examples: assistant ingest ~/papers/listing.txt ~/papers/refs.bib;
    assistant ingest arxiv-snapshot.jsonl --category cs.LG --limit 10000;
    assistant ingest --zotero
    """

    def body() -> None:
        assistant = _assistant()
        result = assistant.ingest(
            *(paths or []),
            rebuild=rebuild,
            progress=not quiet,
            limit=limit,
            categories=category or (),
            zotero=zotero,
        )
        render.problems(result.problems)
        if result.papers == 0:
            raise _nothing_read(result, category, rebuild)
        render.ingest_result(result, assistant.pipeline.store_location)

    run(ctx, body)


@app.command()
def search(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="What to look for.")],
    top_k: TopKOpt = None,
    as_json: JsonOpt = False,
    year: YearOpt = None,
    author: AuthorOpt = None,
    category: CategoryFilterOpt = None,
    source: SourceOpt = None,
    collection: CollectionOpt = None,
    tag: TagOpt = None,
    output: FormatOpt = "text",
) -> None:
    """Show the papers closest to a query, with scores; no LLM.

    Examples: assistant search "wavelet token mixing" -k 3;
    assistant search "distillation" --year 2015.. --author hinton --format bibtex
    """

    def body() -> None:
        from assistant.answering.chain import clean_question

        # A usage error is reported before the index is opened.
        filters = parse_filters(year, author, category, source, collection, tag)
        check_format(output, as_json)
        text = clean_question(query)
        assistant = _assistant(top_k=top_k)
        _warn_stale(assistant, filters)
        hits = assistant.search(text, filters=filters)
        render.search_results(text, hits, filters, output=output, as_json=as_json)

    run(ctx, body)


@app.command()
def ask(
    ctx: typer.Context,
    question: Annotated[str, typer.Argument(help="Your question.")],
    top_k: TopKOpt = None,
    backend: BackendOpt = None,
    model: ModelOpt = None,
    timeout: TimeoutOpt = None,
    as_json: JsonOpt = False,
    year: YearOpt = None,
    author: AuthorOpt = None,
    category: CategoryFilterOpt = None,
    source: SourceOpt = None,
    collection: CollectionOpt = None,
    tag: TagOpt = None,
    output: AnswerFormatOpt = "text",
    unsupported: UnsupportedOpt = None,
) -> None:
    """Answer one question from the abstracts, citing them as [n].

    Examples: assistant ask "Which papers replace batch normalization?" --backend none;
    assistant ask "What is knowledge distillation?" --year 2015..2020 --format bibtex;
    assistant ask "Which papers replace batch normalization?" --format markdown > answer.md
    """

    def body() -> ExitCode:
        from assistant.answering.chain import clean_question

        # A usage error is reported before the index is opened or a model loaded.
        filters = parse_filters(year, author, category, source, collection, tag)
        check_format(output, as_json)
        clean_question(question)
        assistant = _assistant(top_k=top_k, timeout_s=timeout, unsupported=unsupported)
        _warn_stale(assistant, filters)
        chosen = assistant.backend(backend, model)
        if not as_json:
            err(f"Backend: {chosen.name} ({chosen.model})")
        # With --format bibtex, stdout holds only the entries; the answer goes to
        # stderr. Markdown is written whole, once the answer is checked.
        stream = None if as_json or output != "text" else render.answer_stream()
        answer = assistant.ask(
            question, backend=chosen, filters=filters, on_text=stream.write if stream else None
        )
        return render.answer(answer, stream, output=output, as_json=as_json)

    raise typer.Exit(run(ctx, body))


@app.command()
def chat(
    ctx: typer.Context,
    top_k: TopKOpt = None,
    backend: BackendOpt = None,
    model: ModelOpt = None,
    timeout: TimeoutOpt = None,
    year: YearOpt = None,
    author: AuthorOpt = None,
    category: CategoryFilterOpt = None,
    source: SourceOpt = None,
    collection: CollectionOpt = None,
    tag: TagOpt = None,
    unsupported: UnsupportedOpt = None,
    clear_history: Annotated[
        bool, typer.Option("--clear-history", help="Delete the saved input history and exit.")
    ] = False,
) -> None:
    """Chat with the abstracts: follow-up questions keep the conversation.

    Input history is saved in ASSISTANT_HOME/chat_history (see `assistant config show`);
    /clear-history or --clear-history deletes it. Type /help inside for commands.
    """

    def body() -> None:
        from assistant.cli.repl import run_chat

        filters = parse_filters(year, author, category, source, collection, tag)
        assistant = _assistant(top_k=top_k, timeout_s=timeout, unsupported=unsupported)
        if clear_history:
            render.history_cleared(assistant.clear_history())
            return
        _warn_stale(assistant, filters)
        run_chat(assistant.pipeline, backend, model, filters)

    run(ctx, body)


@app.command("eval")
def evaluate(
    ctx: typer.Context,
    path: Annotated[
        Path,
        typer.Argument(
            help="A BEIR folder (corpus.jsonl, queries, qrels), a question-set .jsonl, or a "
            "claims .jsonl (claim, abstract, label) to score the support checker."
        ),
    ],
    split: Annotated[str, typer.Option(help="BEIR split whose queries and qrels to use.")] = "test",
    ask: Annotated[
        bool, typer.Option("--ask", help="Question sets: also answer, and score citations.")
    ] = False,
    backend: BackendOpt = None,
    model: ModelOpt = None,
    top_k: TopKOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Measure retrieval (nDCG@10, recall, MRR), answers or the citation checker.

    Examples: assistant eval ../shared/bench/scifact --split train;
    assistant eval questions.jsonl --ask --backend none;
    assistant eval ../shared/eval/claims_dev.jsonl --json
    """

    def body() -> None:
        assistant = _assistant()
        report = assistant.evaluate(
            path,
            split=split,
            ask=ask,
            backend=backend,
            model=model,
            top_k=top_k,
            progress=not as_json,
        )
        render.report(report, as_json=as_json)

    run(ctx, body)


app.command()(mcp)


@app.command()
def doctor(ctx: typer.Context) -> None:
    """Check the index, the embedder and the LLM backend, with a hint for each problem."""

    def body() -> ExitCode:
        from assistant.cli.doctor import run_checks
        from assistant.settings import load_settings

        return render.checks(run_checks(load_settings()))

    raise typer.Exit(run(ctx, body))


@config_app.command("show")
def config_show(
    ctx: typer.Context,
    top_k: TopKOpt = None,
    backend: BackendOpt = None,
    timeout: TimeoutOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Print the effective settings and where each came from (flag, env, config file, default).

    Example: assistant config show -k 8 --backend none
    """

    def body() -> None:
        from assistant.settings import describe_sources, load_settings

        flags = {"top_k": top_k, "backend": backend, "timeout_s": timeout}
        settings = load_settings(**flags)
        render.settings_table(settings, describe_sources(settings, flags), as_json=as_json)

    run(ctx, body)


def main() -> None:
    usable_streams()
    catch_sigterm()
    try:
        app()
    except KeyboardInterrupt:
        err("Interrupted.")
        sys.exit(ExitCode.INTERRUPTED)
    except Terminated:
        err("Terminated.")
        sys.exit(ExitCode.TERMINATED)
    except BrokenPipeError:
        silence_stdout()
        sys.exit(ExitCode.BROKEN_PIPE)
