"""One direction of imports: actions <- data <- models/train <- policy <- robot <- sim; vqa <- reports.

Leaves (specs, records, actions) import nothing above them; reports never import torch or hardware code.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from harness.paths import REPO_ROOT

PKG = REPO_ROOT / "harness"
# layer -> harness subpackages it must not import
FORBIDDEN = {
    "specs": {"actions", "data", "models", "train", "policy", "robot", "sim", "vqa", "reports", "mechanism", "cli"},
    "records": {"actions", "data", "models", "train", "policy", "robot", "sim", "vqa", "reports", "mechanism", "cli"},
    "actions": {"data", "models", "train", "policy", "robot", "sim", "vqa", "reports", "mechanism", "cli"},
    "data": {"models", "train", "policy", "robot", "sim", "vqa", "reports", "mechanism", "cli"},
    "models": {"train", "policy", "robot", "sim", "vqa", "reports", "mechanism", "cli"},
    "train": {"policy", "robot", "sim", "vqa", "reports", "mechanism", "cli"},
    "policy": {"robot", "sim", "vqa", "reports", "mechanism", "cli"},
    "serve": {"robot", "sim", "vqa", "reports", "mechanism", "cli"},
    "robot": {"sim", "vqa", "reports", "mechanism", "cli"},
    "sim": {"vqa", "reports", "mechanism", "cli"},
    "vqa": {"robot", "sim", "reports", "mechanism", "cli"},
    "reports": {"actions", "data", "models", "train", "policy", "robot", "sim", "vqa", "mechanism", "cli"},
    "mechanism": {"policy", "robot", "sim", "vqa", "reports", "cli"},
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
