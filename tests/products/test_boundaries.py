"""A product never imports another product's tables (it calls that product's service)."""

from __future__ import annotations

import ast
from pathlib import Path

import fluide.products

ROOT = Path(fluide.products.__file__).parent
PRODUCTS = ("hr", "payroll", "pay", "books", "utils")


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


def test_no_product_imports_another_products_models() -> None:
    checked = 0
    for product in PRODUCTS:
        for path in (ROOT / product).rglob("*.py"):
            checked += 1
            for name in _imports(path):
                parts = name.split(".")
                if parts[:2] != ["fluide", "products"] or len(parts) < 4:
                    continue
                other, module = parts[2], parts[3]
                if other != product and other in PRODUCTS:
                    assert module not in ("models", "routes"), f"{path.name} imports {name}"
    assert checked >= 20
