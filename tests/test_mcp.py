"""`assistant mcp` end to end: the real server in a child process, driven by the MCP
SDK's own stdio client (or by hand-written JSON-RPC lines, to see every byte on
stdout), over the real bundled index."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
from conftest import ROOT, cli_env
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.types import CallToolResult, TextContent

QUESTION = "Which papers propose alternatives to batch normalization for NLP models?"
ASK_JSON_KEYS = set(json.loads((ROOT / "tests" / "golden" / "ask_json_shape.json").read_text()))


def _text(result: CallToolResult) -> str:
    first = result.content[0]
    assert isinstance(first, TextContent)
    return first.text


def _with_client(
    home: Path, log: Path, scenario: Callable[[ClientSession], Awaitable[None]]
) -> None:
    """Start `assistant mcp` on `home` as the SDK's client does, and run `scenario`."""
    server = StdioServerParameters(
        command=sys.executable,
        args=["-m", "assistant", "mcp"],
        env=cli_env(ASSISTANT_HOME=str(home)),
    )

    async def main() -> None:
        with log.open("w") as errlog, anyio.fail_after(180):
            async with (
                stdio_client(server, errlog=errlog) as (read, write),
                ClientSession(read, write) as session,
            ):
                await session.initialize()
                await scenario(session)

    anyio.run(main)


def test_the_sdk_client_uses_every_tool(bundled_index: Path, tmp_path: Path) -> None:
    async def scenario(session: ClientSession) -> None:
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
        assert set(tools) == {"search", "ask", "get_paper", "list_sources"}
        assert tools["search"].inputSchema["required"] == ["query"]

        found = await session.call_tool("search", {"query": "wavelet token mixing", "k": 3})
        assert not found.isError, _text(found)
        assert found.structuredContent is not None
        assert json.loads(_text(found)) == found.structuredContent
        results = found.structuredContent["results"]
        assert len(results) == 3 and "WaveMix" in results[0]["title"]
        for key in ("paper_id", "title", "authors", "year", "score", "abstract"):
            assert key in results[0]

        answered = await session.call_tool("ask", {"question": QUESTION, "backend": "none"})
        assert not answered.isError, _text(answered)
        answer: dict[str, Any] = answered.structuredContent or {}
        # The same fields as `ask --json` (tests/golden/ask_json_shape.json).
        assert set(answer) == ASK_JSON_KEYS
        assert answer["answer"].startswith("Extractive answer (no language model)")
        assert answer["answered"] is True and answer["abstention"] is None
        assert answer["sources"] and answer["sentences"]
        assert {s["verdict"] for s in answer["sentences"][1:]} == {"supported"}

        paper = await session.call_tool("get_paper", {"id": results[0]["paper_id"]})
        assert not paper.isError, _text(paper)
        record = paper.structuredContent or {}
        assert record["title"] == results[0]["title"]
        assert record["abstract"] == results[0]["abstract"]
        assert record["bibtex"].startswith("@misc{") and "WaveMix" in record["bibtex"]

        listed = await session.call_tool("list_sources", {})
        assert not listed.isError, _text(listed)
        contents = listed.structuredContent or {}
        assert contents["collection"] == "abstracts"
        assert {f["name"] for f in contents["source_files"]} == {
            p.name for p in (ROOT / "data").glob("*.txt")
        }

        # Bad calls: each a tool error saying what is wrong; the server goes on.
        year = await session.call_tool("search", {"query": "wavelets", "filters": {"year": "20x"}})
        assert year.isError
        assert _text(year) == (
            "Error: Invalid --year '20x'.\nHint: Use --year 2023, 2023..2024, 2023.. or ..2024."
        )
        many = await session.call_tool("search", {"query": "wavelets", "k": "many"})
        assert many.isError
        assert _text(many) == "Input validation error: 'many' is not of type 'integer'"
        missing = await session.call_tool("search", {"k": 2})
        assert missing.isError
        assert _text(missing) == "Input validation error: 'query' is a required property"
        misspelt = await session.call_tool("search", {"query": "x", "filters": {"yaer": "2020"}})
        assert misspelt.isError and "'yaer' was unexpected" in _text(misspelt)
        unknown = await session.call_tool("get_paper", {"id": "arxiv:0000.00000"})
        assert unknown.isError
        assert _text(unknown).startswith("Error: No paper with id 'arxiv:0000.00000' in the index.")
        assert "search" in _text(unknown).splitlines()[1]
        wordless = await session.call_tool("ask", {"question": "[1]", "backend": "none"})
        assert wordless.isError
        assert _text(wordless).startswith("Error: The question '[1]' has no words")
        no_tool = await session.call_tool("delete_everything", {})
        assert no_tool.isError and _text(no_tool).startswith("Error: No tool 'delete_everything'.")

        again = await session.call_tool("search", {"query": "wavelet token mixing", "k": 1})
        assert not again.isError
        assert again.structuredContent is not None
        assert again.structuredContent["results"][0]["title"] == results[0]["title"]

    log = tmp_path / "server.log"
    _with_client(bundled_index, log, scenario)
    # The server's log is stderr: its start line, each failed call, no traceback (no bug).
    logged = log.read_text()
    assert logged.startswith(f"assistant mcp: serving {bundled_index} on stdio.")
    assert "search: Error: Invalid --year '20x'.\nHint: Use --year" in logged
    assert "Traceback" not in logged


def test_without_an_index_the_tools_say_how_to_build_one(
    isolated_home: Path, tmp_path: Path
) -> None:
    async def scenario(session: ClientSession) -> None:
        for name, arguments in [("list_sources", {}), ("search", {"query": "wavelets"})]:
            result = await session.call_tool(name, arguments)
            assert result.isError
            message, hint = _text(result).splitlines()
            assert message == f"Error: No index found at {isolated_home / 'store'}."
            assert hint.startswith("Hint: Build it with: assistant ingest")

    _with_client(isolated_home, tmp_path / "server.log", scenario)


# A library that prints to stdout (Python's print, or C code writing to fd 1), and a
# bug: stand-ins for what the real libraries could do, which cannot be provoked here.
_NOISY_SERVER = """
import os, sys
import assistant.api as api

search = api.Assistant.search

def noisy_search(self, *args, **kwargs):
    print("noise from print", flush=True)
    os.write(1, b"noise from fd 1\\n")
    return search(self, *args, **kwargs)

def broken_contents(self):
    raise RuntimeError("boom")

api.Assistant.search = noisy_search
api.Assistant.contents = broken_contents
from assistant.cli.app import main
sys.argv = ["assistant", "mcp"]
main()
"""


def _request(n: int, method: str, params: dict[str, Any]) -> str:
    return json.dumps({"jsonrpc": "2.0", "id": n, "method": method, "params": params})


def _call(n: int, tool: str, arguments: dict[str, Any]) -> str:
    return _request(n, "tools/call", {"name": tool, "arguments": arguments})


def test_stdout_carries_only_protocol_messages(bundled_index: Path, tmp_path: Path) -> None:
    initialize = {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "test", "version": "0"},
    }
    lines = [
        _request(1, "initialize", initialize),
        json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        _request(2, "tools/list", {}),
        _call(3, "search", {"query": "wavelet token mixing", "k": 2}),
        _call(4, "list_sources", {}),
        _call(5, "search", {"query": "layer normalization", "k": 1}),
    ]
    log = tmp_path / "server.log"
    with log.open("w") as errlog:
        server = subprocess.Popen(
            [sys.executable, "-c", _NOISY_SERVER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errlog,
            text=True,
            env=cli_env(ASSISTANT_HOME=str(bundled_index)),
        )
    assert server.stdin is not None and server.stdout is not None
    replies: dict[int, dict[str, Any]] = {}
    try:
        for line in lines:
            server.stdin.write(line + "\n")
            server.stdin.flush()
            if '"id"' in line:
                # One request at a time: every line on stdout must be its reply.
                reply = json.loads(server.stdout.readline())
                assert reply["jsonrpc"] == "2.0"
                replies[reply["id"]] = reply
        server.stdin.close()  # the client leaves: the server ends
        assert server.wait(timeout=60) == 0
        assert server.stdout.read() == ""  # nothing after the last reply either
    finally:
        server.kill()
    stderr = log.read_text()
    assert set(replies) == {1, 2, 3, 4, 5}
    assert not replies[3]["result"]["isError"]
    assert len(replies[3]["result"]["structuredContent"]["results"]) == 2
    # The bug is a tool error, its traceback goes to the log, and the server goes on.
    broken = replies[4]["result"]
    assert broken["isError"]
    assert broken["content"][0]["text"].startswith("Error: Unexpected error: RuntimeError: boom")
    assert "Traceback" in stderr and "RuntimeError: boom" in stderr
    assert not replies[5]["result"]["isError"]
    assert "noise from print" in stderr and "noise from fd 1" in stderr
