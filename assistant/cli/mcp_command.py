"""`assistant mcp`: the command that starts the MCP server (`assistant.mcp_server`),
with the settings flags `ask` has."""

from __future__ import annotations

import typer

from assistant.cli.options import BackendOpt, ModelOpt, TimeoutOpt, TopKOpt, UnsupportedOpt
from assistant.cli.render import err
from assistant.cli.runner import cli_options, run


def mcp(
    ctx: typer.Context,
    top_k: TopKOpt = None,
    backend: BackendOpt = None,
    model: ModelOpt = None,
    timeout: TimeoutOpt = None,
    unsupported: UnsupportedOpt = None,
) -> None:
    """Serve the index to an MCP client (a desktop assistant) over stdio.

    Tools: search, ask, get_paper, list_sources. The client starts it (see the README);
    the flags set defaults, e.g. assistant mcp --backend ollama
    """

    def body() -> None:
        from assistant.api import Assistant
        from assistant.mcp_server import claim_stdout, serve

        # First: from here on, only the protocol writes to stdout.
        protocol = claim_stdout()
        assistant = Assistant(
            top_k=top_k, backend=backend, timeout_s=timeout, unsupported=unsupported
        )
        err(f"assistant mcp: serving {assistant.settings.home} on stdio.")
        serve(assistant, protocol, model, debug=cli_options(ctx).debug)

    run(ctx, body)
