"""The command line: parse, call the library, render, map errors to exit codes.

Heavy libraries (torch, chromadb, llama_cpp) are imported inside commands, so
`assistant --help` and `assistant config show` stay fast.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

import typer

from assistant.errors import AssistantError, ExitCode
from assistant.readers import SUPPORTED
from assistant.render import AnswerStream, err, hit_line, report_answer

if TYPE_CHECKING:
    from assistant.filters import Filters
    from assistant.pipeline import Pipeline

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    help="Ask questions about research-paper abstracts; answers cite the papers. "
    "Everything runs on this machine.",
)
config_app = typer.Typer(help="Inspect settings.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(config_app, name="config")

T = TypeVar("T")

# The same names as settings.BackendName, repeated so that `--help` need not import pydantic.
BackendChoice = Literal["auto", "ollama", "llamacpp", "openai", "none"]
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


@dataclass(frozen=True)
class CliOptions:
    """The root options, kept on click's context for this invocation."""

    debug: bool = False


def _options(ctx: typer.Context) -> CliOptions:
    obj = ctx.find_root().obj
    return obj if isinstance(obj, CliOptions) else CliOptions()


def _fail(exc: AssistantError, options: CliOptions) -> typer.Exit:
    err(f"Error: {exc.message}")
    if exc.hint:
        err(f"Hint: {exc.hint}")
    if options.debug:
        traceback.print_exception(exc, file=sys.stderr)
    return typer.Exit(exc.exit_code)


def run(ctx: typer.Context, action: Callable[[], T]) -> T:
    """Run a command body, turning expected failures into a message and exit code."""
    try:
        return action()
    except AssistantError as exc:
        raise _fail(exc, _options(ctx)) from None
    except KeyboardInterrupt:
        err("Interrupted.")
        raise typer.Exit(ExitCode.INTERRUPTED) from None


def _pipeline(**flags: Any) -> Pipeline:
    from assistant.pipeline import Pipeline
    from assistant.settings import load_settings

    return Pipeline(load_settings(**flags))


def _filters(
    year: str | None,
    author: list[str] | None,
    category: list[str] | None,
    source: list[str] | None,
) -> Filters:
    from assistant.filters import Filters

    return Filters.parse(year, author or (), category or (), source or ())


def _warn_stale(pipeline: Pipeline, filters: Filters) -> None:
    from assistant.filters import stale_warning

    warning = stale_warning(pipeline.store, filters)
    if warning:
        err(f"Warning: {warning}")


def _check_format(output: str, as_json: bool) -> None:
    if output != "text" and as_json:
        from assistant.errors import UsageError

        raise UsageError(
            "--json and --format bibtex cannot be combined.", hint="Choose one of them."
        )


def _no_hits(filters: Filters) -> str:
    if filters:
        return f"No papers match the filters {filters.describe()}."
    return "The index is empty."


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
        typer.Argument(
            help=f"Listing {SUPPORTED} files, or folders; "
            "default: bundled data/."
        ),
    ] = None,
    rebuild: Annotated[
        bool, typer.Option("--rebuild", help="Drop the collection and build it anew.")
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
) -> None:
    """Add abstracts to the index; unchanged papers are skipped.

    Examples: assistant ingest ~/papers/listing.txt ~/papers/refs.bib;
    assistant ingest arxiv-snapshot.jsonl --category cs.LG --limit 10000
    """

    def body() -> None:
        from assistant.resources import data_dir

        pipeline = _pipeline()
        result = pipeline.ingest(
            paths or [data_dir()],
            rebuild=rebuild,
            progress=not quiet,
            limit=limit,
            categories=category or (),
        )
        for problem in result.problems:
            err(f"Warning: {problem}")
        if result.papers == 0:
            from assistant.errors import CorpusError

            if category and result.files:
                raise CorpusError(
                    f"No entries in the given paths are in --category {', '.join(category)}.",
                    hint="Check the names (e.g. cs.LG); a prefix such as cs keeps all cs.*.",
                )
            raise CorpusError(
                "No abstracts could be read from the given paths.",
                hint=f"Pass listing {SUPPORTED} files, "
                "or folders holding them.",
            )
        print(
            f"Read {result.entries} entries ({result.papers} distinct papers) "
            f"from {result.files} file(s) in {result.seconds:.1f} s."
        )
        if result.changed:
            print(
                f"Added {result.added}, replaced {result.replaced}, unchanged {result.unchanged}"
                f", sources updated {result.sources_updated}; wrote {result.chunks_written} chunks."
            )
        else:
            print(f"Nothing new: all {result.papers} papers are already in the index.")
        print(
            f"Index: {result.total_papers} papers, {result.total_chunks} chunks "
            f"at {pipeline.store_location}"
        )

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
    output: FormatOpt = "text",
) -> None:
    """Show the papers closest to a query, with scores; no LLM.

    Examples: assistant search "wavelet token mixing" -k 3;
    assistant search "distillation" --year 2015.. --author hinton --format bibtex
    """

    def body() -> None:
        from assistant.answer import clean_question

        filters = _filters(year, author, category, source)
        _check_format(output, as_json)
        text = clean_question(query)
        pipeline = _pipeline(top_k=top_k)
        _warn_stale(pipeline, filters)
        hits = pipeline.retriever.search(text, pipeline.settings.top_k, filters=filters)
        if output == "bibtex":
            from assistant.bibliography import bibliography

            if not hits:
                err(_no_hits(filters))
            sys.stdout.write(bibliography(hits))
            return
        if as_json:
            print(json.dumps({"query": text, "results": [h.as_json() for h in hits]}, indent=2))
            return
        if not hits:
            print(_no_hits(filters))
        for rank, hit in enumerate(hits, start=1):
            print(hit_line(rank, hit))

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
    output: FormatOpt = "text",
) -> None:
    """Answer one question from the abstracts, citing them as [n].

    Examples: assistant ask "Which papers replace batch normalization?" --backend none;
    assistant ask "What is knowledge distillation?" --year 2015..2020 --format bibtex
    """

    def body() -> ExitCode:
        from assistant.answer import clean_question

        # A usage error is reported before the index is opened or a model loaded.
        filters = _filters(year, author, category, source)
        _check_format(output, as_json)
        clean_question(question)
        pipeline = _pipeline(top_k=top_k, timeout_s=timeout)
        _warn_stale(pipeline, filters)
        chosen = pipeline.backend(backend, model)
        answerer = pipeline.answerer(chosen, filters)
        if not as_json:
            err(f"Backend: {chosen.name} ({chosen.model})")
        # With --format bibtex, stdout holds only the entries; the answer goes to stderr.
        quiet = as_json or output == "bibtex"
        stream = None if quiet else AnswerStream()
        answer = answerer.answer(question, on_text=stream.write if stream else None)
        if as_json:
            print(json.dumps(answer.as_json(), indent=2))
        elif output == "bibtex":
            from assistant.bibliography import bibliography

            err(answer.text)
            if answer.abstention:
                err(answer.abstention_detail or "")
            sys.stdout.write(bibliography([s.hit for s in answer.sources]))
        else:
            report_answer(answer, stream)
        if answer.interrupted:
            return ExitCode.INTERRUPTED
        if answer.incomplete:
            err(f"Error: {answer.error}")
            if answer.error_hint:
                err(f"Hint: {answer.error_hint}")
            return ExitCode.BACKEND_FAILED
        return ExitCode.OK

    code = run(ctx, body)
    raise typer.Exit(code)


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
    clear_history: Annotated[
        bool, typer.Option("--clear-history", help="Delete the saved input history and exit.")
    ] = False,
) -> None:
    """Chat with the abstracts: follow-up questions keep the conversation.

    Input history is saved in ASSISTANT_HOME/chat_history (see `assistant config show`);
    /clear-history or --clear-history deletes it. Type /help inside for commands.
    """

    def body() -> None:
        from assistant.repl import run_chat

        filters = _filters(year, author, category, source)
        pipeline = _pipeline(top_k=top_k, timeout_s=timeout)
        if clear_history:
            removed = pipeline.settings.history_file.exists()
            pipeline.settings.history_file.unlink(missing_ok=True)
            print("Chat history deleted." if removed else "There was no chat history.")
            return
        _warn_stale(pipeline, filters)
        run_chat(pipeline, backend, model, filters)

    run(ctx, body)


@app.command("eval")
def evaluate(
    ctx: typer.Context,
    path: Annotated[
        Path,
        typer.Argument(
            help="A BEIR folder (corpus.jsonl, queries, qrels) or a question-set .jsonl."
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
    """Measure retrieval (nDCG@10, recall, MRR, latency) or question answering.

    Examples: assistant eval ../shared/bench/scifact --split train;
    assistant eval questions.jsonl --ask --backend none
    """

    def body() -> None:
        from dataclasses import asdict

        from assistant.evaluation import evaluate_beir, evaluate_questions
        from assistant.resources import data_dir

        pipeline = _pipeline()
        progress = not as_json
        report: Any
        if path.is_dir():
            report = evaluate_beir(pipeline.settings, path, split, progress=progress)
        else:
            # Question sets are about the bundled abstracts: their own collection,
            # so evaluating never adds papers to the user's index.
            from assistant.pipeline import Pipeline

            update: dict[str, Any] = {"collection": "eval-bundled"}
            if top_k:
                update["top_k"] = top_k
            pipeline = Pipeline(pipeline.settings.model_copy(update=update))
            pipeline.ingest([data_dir()], rebuild=False, progress=progress)
            chosen = pipeline.backend(backend, model) if ask else None
            report = evaluate_questions(
                pipeline, path, k=top_k or 5, backend=chosen, progress=progress
            )
        if as_json:
            print(json.dumps(asdict(report), indent=2))
            return
        rows = report.rows()
        width = max(len(name) for name, _ in rows)
        for name, value in rows:
            print(f"{name:<{width}}  {value}")

    run(ctx, body)


@app.command()
def doctor(ctx: typer.Context) -> None:
    """Check the index, the embedder and the LLM backend, with a hint for each problem."""

    def body() -> ExitCode:
        from assistant.doctor import run_checks

        pipeline = _pipeline()
        failed = 0
        for check in run_checks(pipeline.settings):
            mark = "ok  " if check.ok else "FAIL"
            print(f"[{mark}] {check.name}: {check.detail}")
            if not check.ok:
                failed += 1
                if check.hint:
                    print(f"       Hint: {check.hint}")
        return ExitCode.DATA if failed else ExitCode.OK

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
        from assistant.settings import config_path, describe_sources, load_settings

        flags = {"top_k": top_k, "backend": backend, "timeout_s": timeout}
        settings = load_settings(**flags)
        rows = describe_sources(settings, flags)
        if as_json:
            print(json.dumps({n: {"value": v, "source": s} for n, v, s in rows}, indent=2))
            return
        print(f"Config file: {config_path()}")
        width = max(len(n) for n, _, _ in rows)
        for name, value, source in rows:
            print(f"  {name:<{width}}  {value}   ({source})")
        print(f"  {'history_file':<{width}}  {settings.history_file}   (derived from home)")

    run(ctx, body)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        err("Interrupted.")
        sys.exit(ExitCode.INTERRUPTED)
