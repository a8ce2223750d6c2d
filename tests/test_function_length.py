"""No function of the package is over 60 lines: a function longer than a screen does several jobs."""
import ast
import pathlib

import rnnsound

ROOT = pathlib.Path(rnnsound.__file__).parent
LIMIT = 60


def test_no_function_is_over_60_lines():
    long = [f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
            for path in sorted(ROOT.rglob("*.py")) for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > LIMIT]
    assert long == []
