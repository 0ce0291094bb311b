"""One direction of imports: actions <- data <- models/train <- policy <- robot <- sim; vqa <- reports.

Leaves (specs, records, actions) import nothing above them; reports never import torch or hardware code; and no
module imports itself back through others (every import counts: at the top, inside a function, under TYPE_CHECKING).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from harness.paths import REPO_ROOT

PKG = REPO_ROOT / "harness"
# layer -> harness subpackages it must not import
FORBIDDEN = {
    "specs": {"actions", "data", "models", "train", "policy", "robot", "sim", "vqa", "reports", "mechanism", "cli", "serve"},
    "records": {"actions", "data", "models", "train", "policy", "robot", "sim", "vqa", "reports", "mechanism", "cli", "serve"},
    "actions": {"data", "models", "train", "policy", "robot", "sim", "vqa", "reports", "mechanism", "cli", "serve"},
    "data": {"models", "train", "policy", "robot", "sim", "vqa", "reports", "mechanism", "cli", "serve"},
    "models": {"train", "policy", "robot", "sim", "vqa", "reports", "mechanism", "cli", "serve"},
    "train": {"policy", "robot", "sim", "vqa", "reports", "mechanism", "cli", "serve"},
    "policy": {"robot", "sim", "vqa", "reports", "mechanism", "cli", "serve"},
    "serve": {"robot", "sim", "vqa", "reports", "mechanism", "cli"},
    "robot": {"sim", "vqa", "reports", "mechanism", "cli"},
    "sim": {"vqa", "reports", "mechanism", "cli"},
    "vqa": {"robot", "sim", "reports", "mechanism", "cli"},
    "reports": {"actions", "data", "models", "train", "policy", "robot", "sim", "vqa", "mechanism", "cli", "serve"},
    "mechanism": {"policy", "robot", "sim", "vqa", "reports", "cli", "serve"},
}
THIRD_PARTY_FORBIDDEN = {"reports": {"torch", "transformers", "peft", "mujoco", "interbotix_xs_modules"}}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _modules():
    for layer in FORBIDDEN:
        for path in sorted((PKG / layer).rglob("*.py")) if (PKG / layer).is_dir() else []:
            yield layer, path


@pytest.mark.parametrize("layer, path", list(_modules()), ids=lambda v: str(v) if isinstance(v, str) else v.name)
def test_imports_point_downwards(layer, path):
    for name in _imports(path):
        parts = name.split(".")
        if parts[0] == "harness" and len(parts) > 1:
            assert parts[1] not in FORBIDDEN[layer], f"{path.relative_to(REPO_ROOT)} imports {name}"
        assert parts[0] not in THIRD_PARTY_FORBIDDEN.get(layer, set()), f"{path} imports {name}"


def test_library_never_imports_tests():
    for path in PKG.rglob("*.py"):
        assert not any(n.split(".")[0] == "tests" for n in _imports(path)), path


def _module_name(path: Path, root: Path = REPO_ROOT) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported_modules(path: Path, known: set[str], root: Path = REPO_ROOT) -> set[str]:
    """The harness modules `path` imports anywhere in the file, relative imports resolved: `from a import b` names
    module a.b when that is a module, else a (the package that defines b)."""
    here = _module_name(path, root)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            found |= {f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names}
    return {name for name in found if name in known and name != here}


def _import_graph(root: Path = REPO_ROOT) -> dict[str, set[str]]:
    """harness module -> the harness modules it imports."""
    paths = sorted((root / "harness").rglob("*.py"))
    known = {_module_name(p, root) for p in paths}
    return {_module_name(p, root): _imported_modules(p, known, root) for p in paths}


def _cycles(graph: dict[str, set[str]]) -> list[str]:
    """One cycle through each strongly connected component of more than one module (Tarjan's algorithm); a
    component's other modules are listed after its cycle, so every module involved is named."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    cycles = []
    for component in components:
        cycle = _cycle_in(graph, set(component))
        others = [m for m in component if m not in cycle]
        cycles.append(" -> ".join(cycle) + (f" (in the same knot: {', '.join(others)})" if others else ""))
    return cycles


def _cycle_in(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """A path from the component's first module back to itself, through the component only."""
    start = min(component)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v] & component):
                if w == start:
                    return [*paths[v], start]
                if w not in paths:
                    paths[w] = [*paths[v], w]
                    nxt.append(w)
        frontier = nxt
    raise AssertionError(f"{sorted(component)} is not strongly connected")


def test_no_import_cycles():
    cycles = _cycles(_import_graph())
    assert not cycles, "import cycles (break each, e.g. move the shared part into a module both import):\n" + \
        "\n".join(cycles)


def test_the_cycle_check_sees_function_level_and_relative_imports(tmp_path):
    """The check itself: an import inside a function and a relative import close a cycle it reports."""
    pkg = tmp_path / "harness" / "p"
    pkg.mkdir(parents=True)
    for path, text in {"harness/__init__.py": "", "harness/p/__init__.py": "",
                       "harness/p/a.py": "def f():\n    from harness.p import b\n",
                       "harness/p/b.py": "from .a import f\n", "harness/p/c.py": "from . import a\n"}.items():
        (tmp_path / path).write_text(text)
    graph = _import_graph(tmp_path)
    assert graph["harness.p.c"] == {"harness.p.a"}
    assert _cycles(graph) == ["harness.p.a -> harness.p.b -> harness.p.a"]
