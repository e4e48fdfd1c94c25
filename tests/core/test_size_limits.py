"""Issue 19's room sizes, kept by a test: no module over 400 lines and no function over 80 in
the core, the plugins and the example plugin (route tables included: they are code too)."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80


def _sources() -> list[Path]:
    return sorted(
        p for top in ("connector", "plugins", "examples") for p in (REPO / top).rglob("*.py")
    )


def test_no_module_or_function_is_over_the_limit() -> None:
    files = _sources()
    assert len(files) > 150, "the scan must see the code base"
    too_long = []
    for path in files:
        text = path.read_text()
        if text.count("\n") > MAX_MODULE_LINES:
            too_long.append(f"{path.relative_to(REPO)}: {text.count(chr(10))} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    too_long.append(f"{path.relative_to(REPO)}:{node.name}: {length} lines")
    assert too_long == []
