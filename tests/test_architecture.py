"""The house stays walkable (ARCHITECTURE.md): no module in mailbot/ over 500 lines, no
function over 60 lines, no cyclomatic complexity grade worse than C."""

from __future__ import annotations

import ast
from pathlib import Path

from radon.complexity import cc_rank, cc_visit

PACKAGE = Path(__file__).resolve().parent.parent / "mailbot"
SOURCES = sorted(p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts)
MAX_MODULE, MAX_FUNCTION, WORST_GRADE = 500, 60, "C"


def test_there_are_modules_to_check() -> None:
    assert len(SOURCES) > 50


def test_no_module_is_over_500_lines() -> None:
    long = {str(p.relative_to(PACKAGE)): n for p in SOURCES if (n := _lines(p)) > MAX_MODULE}
    assert long == {}


def test_no_function_is_over_60_lines() -> None:
    long = {
        f"{p.relative_to(PACKAGE)}:{node.name}": length
        for p in SOURCES
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8")))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and (length := (node.end_lineno or node.lineno) - node.lineno + 1) > MAX_FUNCTION
    }
    assert long == {}


def test_no_function_is_more_complex_than_grade_c() -> None:
    worse = {
        f"{p.relative_to(PACKAGE)}:{block.name}": cc_rank(block.complexity)
        for p in SOURCES
        for block in cc_visit(p.read_text(encoding="utf-8"))
        if cc_rank(block.complexity) > WORST_GRADE
    }
    assert worse == {}


def _lines(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())
