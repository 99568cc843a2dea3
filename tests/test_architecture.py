"""The import rules of ARCHITECTURE.md, checked on the source (every import, also those
inside functions): no cycles; ``tracking`` imports nothing of ``moebius_video``; the model
imports neither the engine, io nor the cli; library code imports no cli and parses no
command line."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("moebius_video", "tracking")
#: Where command-line parsing may live.
CLI_MODULES = ("moebius_video.cli", "moebius_video.__main__", "tracking.__main__", "tracking.cli")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def _imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The project modules ``name`` imports (``from pkg import sub`` counts as ``pkg.sub``)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            subs = {f"{module}.{alias.name}" for alias in node.names} & known.keys()
            found.update(subs or {module})
    return {m for m in found if m in known and m != name}


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    known = _modules()
    return {name: _imports(name, path, known) for name, path in known.items()}


def _in(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_no_import_cycles(graph: dict[str, set[str]]) -> None:
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_tracking_imports_nothing_of_moebius_video(graph: dict[str, set[str]]) -> None:
    bad = {m: sorted(d for d in deps if _in(d, "moebius_video"))
           for m, deps in graph.items() if _in(m, "tracking")}
    assert not {m: d for m, d in bad.items() if d}


def test_model_imports_neither_engine_io_nor_cli(graph: dict[str, set[str]]) -> None:
    upper = ("moebius_video.engine", "moebius_video.io", "moebius_video.cli")
    bad = {m: sorted(d for d in deps if any(_in(d, u) for u in upper))
           for m, deps in graph.items() if _in(m, "moebius_video.model")}
    assert not {m: d for m, d in bad.items() if d}


def test_library_code_imports_no_cli(graph: dict[str, set[str]]) -> None:
    library = [m for m in graph if not any(_in(m, c) for c in CLI_MODULES)]
    bad = {m: sorted(d for d in graph[m] if _in(d, "moebius_video.cli")) for m in library}
    assert not {m: d for m, d in bad.items() if d}


def test_library_code_parses_no_command_line() -> None:
    parsers = []
    for name, path in _modules().items():
        if any(_in(name, c) for c in CLI_MODULES):
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module] if isinstance(node, ast.ImportFrom) else [])
            if "argparse" in names:
                parsers.append(name)
    assert not parsers, f"argparse outside the command line: {parsers}"


def test_the_rules_see_real_imports(graph: dict[str, set[str]]) -> None:
    # The checks above are only as good as the graph: it must see known edges, including
    # an import inside a function and a relative one.
    assert "moebius_video.fill.base" in graph["moebius_video.fill"]
    assert "tracking.base" in graph["tracking.flow_tracker"]
    assert "moebius_video.cli.remove" in graph["moebius_video.cli"]
