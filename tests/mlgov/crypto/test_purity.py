"""The crypto kernel stays pure: stdlib, `cryptography` and itself, never Django or an app."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import mlgov.crypto

PACKAGE = Path(mlgov.crypto.__file__).parent


def _imported_names(tree: ast.AST) -> list[str]:
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    return names


def test_kernel_imports_only_stdlib_cryptography_and_itself():
    modules = sorted(PACKAGE.glob("*.py"))
    assert len(modules) >= 6
    for path in modules:
        for name in _imported_names(ast.parse(path.read_text())):
            top = name.split(".")[0]
            allowed = (
                top in sys.stdlib_module_names
                or top == "cryptography"
                or name == "mlgov.crypto"
                or name.startswith("mlgov.crypto.")
            )
            assert allowed, f"{path.name} imports {name}"
