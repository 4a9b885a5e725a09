"""The shape of the package, held by tests: no import cycles, no module over 400
lines, Chroma's private files read in one place, one list of backend names."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import get_args

from conftest import ROOT

from assistant.backends import REGISTRY, BackendName

PACKAGE = ROOT / "assistant"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node, except those under `if TYPE_CHECKING:` (imports for the type
    checker only, which never run and so cannot make an import cycle)."""
    nodes: list[ast.AST] = []
    pending = [tree]
    while pending:
        node = pending.pop()
        nodes.append(node)
        for child in ast.iter_child_nodes(node):
            typing_only = (
                isinstance(child, ast.If)
                and isinstance(child.test, ast.Name)
                and child.test.id == "TYPE_CHECKING"
            )
            if typing_only:
                pending.extend(child.orelse)
            else:
                pending.append(child)
    return nodes


def _imports() -> dict[str, set[str]]:
    """Every module's run-time imports of other `assistant` modules, module-level
    or inside functions (a function-level import closes a cycle all the same)."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found: set[str] = set()
        for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            found |= {t for t in targets if t in modules and t != name}
        graph[name] = found
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles() -> None:
    assert _cycles(_imports()) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c"]]


def test_no_module_over_400_lines() -> None:
    sizes = {
        str(p.relative_to(ROOT)): len(p.read_text(encoding="utf-8").splitlines())
        for p in PACKAGE.rglob("*.py")
    }
    assert {name: n for name, n in sizes.items() if n > 400} == {}


def test_only_chroma_files_reads_chromas_private_files() -> None:
    private = re.compile(
        r"chroma\.sqlite3|header\.bin|embedding_metadata|collection_metadata|"
        r"embeddings_queue|max_seq_id|FROM segments"
    )
    owner = PACKAGE / "index" / "chroma_files"
    readers = {
        str(p.relative_to(ROOT))
        for p in PACKAGE.rglob("*.py")
        if owner not in p.parents and private.search(p.read_text(encoding="utf-8"))
    }
    assert readers == set()


def test_backend_names_are_the_registry() -> None:
    assert set(get_args(BackendName)) == {"auto", *REGISTRY}


def test_every_registered_backend_has_make_and_diagnose() -> None:
    from assistant.backends import backend_module

    for name in REGISTRY:
        module = backend_module(name)
        assert callable(module.make) and callable(module.diagnose), name


def test_only_the_zotero_modules_read_zoteros_files() -> None:
    private = re.compile(r"itemDataValues|collectionItems|deletedItems|extensions\.zotero")
    owners = {PACKAGE / "readers" / "zotero.py", PACKAGE / "readers" / "zotero_datadir.py"}
    readers = {
        str(p.relative_to(ROOT))
        for p in PACKAGE.rglob("*.py")
        if p not in owners and private.search(p.read_text(encoding="utf-8"))
    }
    assert readers == set()
