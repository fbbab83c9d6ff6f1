"""The folders show the data flow, and imports point one way down it (see ARCHITECTURE.md).

Every import counts, including the ones inside functions: a function-local import hides a cycle
from Python, not from the next engineer."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src" / "papertrend"

# What each layer may import from papertrend (besides itself). Anything not named here is a
# layer above all of these (jobs, worker, web, cli).
ALLOWED = {
    "errors": set(),
    "models": set(),
    "config": {"errors"},
    "ids": set(),
    "mathtext": set(),
    "addresses": {"errors"},
    "periods": {"errors"},
    "sources": {"errors", "models", "ids"},
    "store": {"config", "errors", "models", "ids"},
    "ingest": {"config", "errors", "models", "ids", "sources", "store"},
    "enrich": {"config", "errors", "models", "ids", "store"},
    "rank": {"config", "errors", "models", "ids", "periods", "store"},
    "search": {"config", "errors", "models", "ids", "store", "enrich"},
    "digest": {"config", "errors", "models", "ids", "periods", "store", "rank", "addresses", "mathtext"},
    "accounts": {"config", "errors", "models", "ids", "store", "digest", "addresses"},
}


def _module(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, set[str]]:
    """papertrend module -> the papertrend modules it imports."""
    graph: dict[str, set[str]] = {}
    for path in SRC.rglob("*.py"):
        name = _module(path)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".") if package else []
                    base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                    target = ".".join(base + ([node.module] if node.module else []))
                elif (node.module or "").startswith("papertrend"):
                    target = node.module.removeprefix("papertrend").lstrip(".")
                else:
                    continue
                for alias in node.names:
                    candidate = f"{target}.{alias.name}" if target else alias.name
                    found.add(candidate if (SRC / candidate.replace(".", "/")).with_suffix(".py").exists()
                              or (SRC / candidate.replace(".", "/")).is_dir() else target)
            elif isinstance(node, ast.Import):
                found.update(a.name.removeprefix("papertrend.") for a in node.names if a.name.startswith("papertrend."))
        found.discard(name)
        found.discard("")
        graph[name] = found
    return graph


def test_no_import_cycles() -> None:
    graph = _imports()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph.get(node, ()):
            if nxt not in graph:
                continue
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
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    # A package's __init__ importing its own modules is not a cycle between concepts.
    cycles = [c for c in cycles if len({m.split(".")[0] for m in c}) > 1 or not any("." not in m for m in c)]
    assert cycles == []


def test_imports_point_down_the_flow() -> None:
    wrong = []
    for module, targets in sorted(_imports().items()):
        layer = module.split(".")[0]
        for target in targets:
            other = target.split(".")[0]
            if other == layer:
                continue
            if layer in ALLOWED and other not in ALLOWED[layer]:
                wrong.append(f"{module} imports {target}")
            if other in ("web", "cli") and layer not in ("web", "cli"):
                wrong.append(f"{module} imports {target}, which is above it")
    assert wrong == []
