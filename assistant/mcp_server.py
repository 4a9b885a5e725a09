"""`assistant mcp`: the index as an MCP server on stdio, with the official `mcp` SDK.

Four tools, each one call into `api.Assistant` with the CLI's settings and filters:
`search`, `ask`, `get_paper` and `list_sources`. Results are the CLI's JSON (`ask`
gives exactly `ask --json`), as structured content and as JSON text.

Failures never stop the server. An `AssistantError` becomes a tool error whose
text is the CLI's "Error: ..." and "Hint: ..." lines; arguments a tool's schema
refuses get the SDK's validation error; anything else is a tool error too, with
its traceback on stderr (the server's log).

Standard output belongs to the protocol: `claim_stdout` keeps a private copy of
file descriptor 1 for it and points fd 1 at stderr before anything loads, so a
library that prints (a C library, a progress bar, a stray `print`) cannot
corrupt the stream.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, TextIO

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.json_schema import SkipJsonSchema

from assistant.backends import BackendName
from assistant.errors import AssistantError, OutputError
from assistant.terminal import for_terminal

if TYPE_CHECKING:
    import anyio
    from mcp import types
    from mcp.server.lowlevel import Server

    from assistant.api import Assistant
    from assistant.retrieval.filters import Filters

INSTRUCTIONS = (
    "Research-paper abstracts indexed on this machine. search finds papers, ask answers "
    "a question citing them as [n], get_paper gives one paper's record and BibTeX, "
    "list_sources the files, Zotero collections and tags in the index. Paper ids come "
    "from search results."
)


class _Arguments(BaseModel):
    # Unknown names are refused (a misspelt filter must not be ignored silently).
    # An optional argument is left out, not null: the schema says its plain type, so
    # a wrong value gets a plain message ("'many' is not of type 'integer'").
    model_config = ConfigDict(extra="forbid")


class FilterArgs(_Arguments):
    """Which papers may be used: the CLI's --year, --author, --category, --source."""

    # Named as `Filters.parse`'s parameters, so a new filter is one line here.
    year: str | SkipJsonSchema[None] = Field(
        default=None, description="Years: 2023, 2023..2024, 2023.. or ..2024."
    )
    authors: list[str] = Field(
        default_factory=list, description="Papers by any of these authors, e.g. hinton."
    )
    categories: list[str] = Field(
        default_factory=list, description="arXiv categories such as cs.LG; cs keeps every cs.*."
    )
    sources: list[str] = Field(
        default_factory=list, description="File names as ingested (see list_sources)."
    )
    collections: list[str] = Field(
        default_factory=list,
        description="Zotero collections; a collection keeps those under it (see list_sources).",
    )
    tags: list[str] = Field(default_factory=list, description="Zotero tags (see list_sources).")

    def parse(self) -> Filters:
        from assistant.retrieval.filters import Filters

        return Filters.parse(**self.model_dump())


_ONLY = "Only papers that match these."


class SearchArgs(_Arguments):
    query: str = Field(description="What to look for.")
    k: int | SkipJsonSchema[None] = Field(
        default=None, ge=1, le=50, description="How many papers (default: top_k)."
    )
    filters: FilterArgs = Field(default_factory=FilterArgs, description=_ONLY)


class AskArgs(_Arguments):
    question: str = Field(description="The question, answered from the abstracts.")
    backend: BackendName | SkipJsonSchema[None] = Field(
        default=None, description="The LLM backend; none answers with quoted sentences, no LLM."
    )
    filters: FilterArgs = Field(default_factory=FilterArgs, description=_ONLY)


class PaperArgs(_Arguments):
    id: str = Field(description="A paper_id from search results.")


class NoArgs(_Arguments):
    pass


@dataclass(frozen=True)
class Reply:
    """A tool's result; `error` set for a failure that still has a result to show."""

    data: dict[str, Any]
    error: str | None = None


class Papers:
    """The tools: one `Assistant`, used by one call at a time."""

    def __init__(
        self, assistant: Assistant, model: str | None = None, *, debug: bool = False
    ) -> None:
        import anyio

        self.assistant = assistant
        self.model = model
        self.debug = debug
        # Calls run in a worker thread (the protocol keeps flowing), one at a time:
        # the pipeline's parts are built lazily and a local model is not re-entrant.
        self.lock: anyio.Lock = anyio.Lock()

    def _warned(self, data: dict[str, Any], filters: Filters) -> dict[str, Any]:
        from assistant.retrieval.filters import stale_warning

        warning = stale_warning(self.assistant.pipeline.store, filters)
        return {**data, "warning": warning} if warning else data

    def search(self, args: SearchArgs) -> Reply:
        from assistant.answering.chain import clean_question

        filters = args.filters.parse()
        text = clean_question(args.query)
        hits = self.assistant.search(text, args.k, filters)
        return Reply(self._warned({"query": text, "results": [h.as_json() for h in hits]}, filters))

    def ask(self, args: AskArgs) -> Reply:
        filters = args.filters.parse()
        # --model belongs to the backend the server was started with.
        same = args.backend in (None, self.assistant.settings.backend)
        answer = self.assistant.ask(
            args.question,
            backend=args.backend,
            model=self.model if same else None,
            filters=filters,
        )
        data = self._warned(answer.as_json(), filters)
        if answer.incomplete:
            error = answer.error or "The answer is incomplete."
            return Reply(data, _error_text(error, answer.error_hint))
        return Reply(data)

    def get_paper(self, args: PaperArgs) -> Reply:
        from assistant.bibliography import bibliography

        paper = self.assistant.paper(args.id)
        return Reply({**paper.as_json(), "bibtex": bibliography([paper])})

    def list_sources(self, args: NoArgs) -> Reply:
        return Reply(self.assistant.contents().as_json())

    async def list_tools(self) -> list[types.Tool]:
        from mcp import types

        return [
            types.Tool(
                name=tool.name,
                description=tool.description,
                inputSchema=tool.arguments.model_json_schema(),
                annotations=types.ToolAnnotations(readOnlyHint=True, openWorldHint=False),
            )
            for tool in TOOLS.values()
        ]

    async def call(self, name: str, arguments: dict[str, Any]) -> types.CallToolResult:
        """Run a tool; every failure is a tool error, and the server goes on."""
        import anyio

        tool = TOOLS.get(name)
        if tool is None:
            return _result(error=_error_text(f"No tool {name!r}.", "Tools: " + ", ".join(TOOLS)))
        try:
            args = tool.arguments.model_validate(arguments)
        except ValidationError as exc:  # the SDK checked the schema; pydantic checks the rest
            return _result(error=str(exc))
        async with self.lock:
            try:
                reply = await anyio.to_thread.run_sync(partial(tool.run, self, args))
            except AssistantError as exc:
                return _result(error=self._failed(name, exc))
            except Exception as exc:
                return _result(error=self._failed(name, self._unexpected(exc)))
        return _result(reply.data, reply.error)

    def _failed(self, tool: str, exc: AssistantError) -> str:
        """The tool error's text, also written to the server's log (stderr)."""
        if self.debug:
            traceback.print_exception(exc, file=sys.stderr)
        text = _error_text(exc.message, exc.hint)
        # The text carries the caller's arguments: sanitized for a terminal.
        print(for_terminal(f"{tool}: {text}"), file=sys.stderr, flush=True)
        return text

    def _unexpected(self, exc: Exception) -> AssistantError:
        from assistant.disk import disk_full, not_writable, refused_write, says_disk_full

        # As the CLI does (cli.runner): a full or read-only disk is named, not a bug.
        home = self.assistant.settings.home
        refused = refused_write(exc)
        if refused is not None:
            return not_writable(refused, home)
        if says_disk_full(exc):
            return disk_full(home)
        traceback.print_exception(exc, file=sys.stderr)
        return AssistantError(
            f"Unexpected error: {type(exc).__name__}: {exc}",
            hint="This is a bug: the traceback is in the server's log (its stderr).",
        )


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    arguments: type[_Arguments]
    run: Callable[[Papers, Any], Reply]


TOOLS = {
    tool.name: tool
    for tool in (
        ToolSpec(
            "search",
            "The papers closest to a query, best first: id, title, authors, year, score, "
            "abstract. No LLM.",
            SearchArgs,
            Papers.search,
        ),
        ToolSpec(
            "ask",
            "Answer a question from the abstracts: the answer text, its sentences with "
            "citations and their support, the sources, and whether it abstained.",
            AskArgs,
            Papers.ask,
        ),
        ToolSpec(
            "get_paper",
            "One paper's full stored record and its BibTeX entry.",
            PaperArgs,
            Papers.get_paper,
        ),
        ToolSpec(
            "list_sources",
            "What the index holds: the source files, Zotero collections and Zotero tags with "
            "their paper counts, and the index's collection.",
            NoArgs,
            Papers.list_sources,
        ),
    )
}


def _error_text(message: str, hint: str | None) -> str:
    return f"Error: {message}" + (f"\nHint: {hint}" if hint else "")


def _result(data: dict[str, Any] | None = None, error: str | None = None) -> types.CallToolResult:
    from mcp import types

    content: list[types.ContentBlock] = []
    if error:
        content.append(types.TextContent(type="text", text=error))
    if data is not None:
        text = json.dumps(data, indent=2, ensure_ascii=False)
        content.append(types.TextContent(type="text", text=text))
    return types.CallToolResult(content=content, structuredContent=data, isError=bool(error))


def claim_stdout() -> TextIO:
    """Standard output for the protocol alone: its own copy of fd 1, returned, while
    fd 1 itself (print, C libraries) now writes to stderr.

    Raises:
        OutputError: standard output is closed.
    """
    sys.stdout.flush()
    try:
        protocol = os.dup(1)
    except OSError as exc:
        raise OutputError(
            "Standard output is closed: an MCP client reads the replies there.",
            hint="Let the MCP client start assistant mcp (see the README).",
        ) from exc
    try:
        os.dup2(2, 1)
    except OSError:  # no stderr either: what libraries print is lost
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    return open(protocol, "w", encoding="utf-8", newline="\n")


def build_server(papers: Papers) -> Server[Any, Any]:
    from mcp.server.lowlevel import Server

    from assistant import __version__

    server: Server[Any, Any] = Server("assistant", __version__, INSTRUCTIONS)
    # The SDK leaves this decorator untyped; the handler itself is typed.
    server.list_tools()(papers.list_tools)  # type: ignore[no-untyped-call]
    # validate_input: the SDK checks arguments against each tool's schema.
    server.call_tool(validate_input=True)(papers.call)
    return server


def serve(
    assistant: Assistant, protocol: TextIO, model: str | None = None, *, debug: bool = False
) -> None:
    """Serve the tools on stdin and `protocol` (from `claim_stdout`) until the client
    closes stdin."""
    import anyio

    async def main() -> None:
        from mcp.server.stdio import stdio_server

        server = build_server(Papers(assistant, model, debug=debug))
        async with stdio_server(stdout=anyio.wrap_file(protocol)) as (read, write):
            await server.run(read, write, server.create_initialization_options())

    anyio.run(main)
