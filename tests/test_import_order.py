"""The package's imports run one way, bottom to top, in the order docs/design.md gives; no module
imports one above it, and none imports the package's own modules inside a function."""
import ast
import pathlib

import rnnsound

ROOT = pathlib.Path(rnnsound.__file__).parent
ORDER = [  # bottom to top: a module may import only modules before it
    "allocator",
    "errors",
    "atomic",
    "files",
    "config",
    "runtime",
    "interrupts",
    "audio",
    "default_song",
    "song",
    "prepare",
    "streams",
    "heads",
    "cells",
    "graph",
    "optim",
    "compiled",
    "generator",
    "epoch_clips",
    "checkpoint",
    "baselines",
    "metrics",
    "plots",
    "rundir",
    "train",
    "generate",
    "listen",
    "sweeps.spec",
    "sweeps.run",
    "sweeps.report",
    "sweeps.plan",
    "sweeps.job",
    "sweeps.cluster",
    "sweeps.task",
    "sweeps.executor",
    "sweeps.sweep",
    "sweeps.cli",
    "sweeps",
    "cli",
    "__main__",
]
# __main__ installs the signal handlers before the command line's heavy imports (its docstring)
LOCAL_IMPORTS_ALLOWED = {"__main__ -> cli"}


def module_name(path):
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1]) if parts[-1] == "__init__" else ".".join(parts)


def imports(path):
    """[(imported module, inside a function?)] of the package's own modules that `path` imports."""
    name, tree = module_name(path), ast.parse(path.read_text())
    package = name.split(".")[:-1] if path.name != "__init__.py" else name.split(".")
    found = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            inside = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, ast.ImportFrom) and child.level:
                base = package[:len(package) - (child.level - 1)] if child.level > 1 else package
                target = ".".join(base + ([child.module] if child.module else []))
                for alias in child.names:
                    full = f"{target}.{alias.name}" if target else alias.name
                    found.append((full if full in ORDER else target, inside))
            elif isinstance(child, ast.ImportFrom) and (child.module or "").startswith("rnnsound"):
                found.append((child.module.removeprefix("rnnsound").lstrip("."), inside))
            visit(child, inside)
    visit(tree, False)
    return [(m, inside) for m, inside in found if m]


def test_every_module_has_its_place_in_the_order():
    assert sorted(module_name(p) for p in ROOT.rglob("*.py") if module_name(p)) == sorted(ORDER)


def test_imports_run_one_way_and_never_from_inside_a_function():
    upward, local = [], []
    for path in ROOT.rglob("*.py"):
        name = module_name(path)
        if not name:
            continue
        for target, inside in imports(path):
            assert target in ORDER, f"{name} imports {target}, which is not in the order"
            if ORDER.index(target) >= ORDER.index(name):
                upward.append(f"{name} -> {target}")
            if inside:
                local.append(f"{name} -> {target}")
    assert not upward, f"imports running up: {upward}"
    assert set(local) <= LOCAL_IMPORTS_ALLOWED, f"imports inside functions: {local}"
