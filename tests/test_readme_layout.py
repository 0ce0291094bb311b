"""The README's layout table is the map a newcomer reads first: it names every package under harness/, once, in an
order where each imports only the packages listed above it."""

from __future__ import annotations

import ast
import re

from harness.paths import REPO_ROOT

PKG = REPO_ROOT / "harness"


def _listed() -> list[str]:
    text = (REPO_ROOT / "README.md").read_text()
    return [m.group(1) for m in re.finditer(r"^\| `harness/([a-z_]+)(?:/|\.py)` \|", text, re.M)]


def _packages() -> set[str]:
    dirs = {p.name for p in PKG.iterdir() if p.is_dir() and (p / "__init__.py").is_file()}
    modules = {p.stem for p in PKG.glob("*.py") if p.name != "__init__.py"}
    return dirs | modules


def _harness_imports(package: str) -> set[str]:
    """Every harness package `package` imports, at module level or inside a function."""
    files = [PKG / f"{package}.py"] if (PKG / f"{package}.py").is_file() else sorted((PKG / package).rglob("*.py"))
    found = set()
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 else []
            found |= {n.split(".")[1] for n in names if n.startswith("harness.") and n.count(".") >= 1}
    return found - {package}


def test_every_package_is_listed_once():
    listed = _listed()
    assert len(listed) == len(set(listed)), listed
    assert set(listed) == _packages()


def test_listed_in_dependency_order():
    listed = _listed()
    for i, package in enumerate(listed):
        below = _harness_imports(package) - set(listed[:i])
        assert not below, f"README layout: harness/{package} imports {sorted(below)}, listed after it"
