"""The package's layers, read from its source with ``ast``: every import (inside functions and under
TYPE_CHECKING too) points to the module's own layer or below, no modules import each other in a
cycle, and no module reaches for another module's private (``_name``) names."""

from __future__ import annotations

import ast
import fnmatch
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import provena_widgets

BASE = ("errors", "units", "redact", "private_files", "credentials", "location", "s3errors", "s3objects")
# Lowest first. A module ("transfer.engine", "" for the package itself) sits in the first layer one
# of whose patterns matches its name; "x.*" also matches the package "x". transfer.report is base:
# the per-file records a ProvenaWidgetsError carries, plain data (importing it runs the transfer
# package's __init__ too, which therefore is base as well, and empty).
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("base", (*BASE, "transfer.report", "transfer")),
    ("transfer engine and Provena client", ("transfer.*", "provena.*")),
    ("store internals and planning", ("folder.*",)),
    ("sync", ("sync",)),
    ("Dask fan-out", ("cluster.*",)),
    ("DatasetStore facade", ("store", "store_sync")),
    ("widgets", ("widgets.*",)),
    ("tooling and the package's front", ("sandbox.*", "")),
]


@dataclass
class Module:
    name: str
    tree: ast.Module
    imports: set[str] = field(default_factory=set)  # our modules this one imports (or runs the __init__ of)
    defines: set[str] = field(default_factory=set)  # private names it defines: functions, classes, attributes
    private_uses: list[str] = field(default_factory=list)  # "_name (line 3)" of names another module owns


def read_package(root: Path) -> dict[str, Module]:
    """Every module of the package at ``root``, with its imports and private names."""
    files = {_module_name(root, path): path for path in sorted(root.rglob("*.py"))}
    modules = {name: Module(name, ast.parse(path.read_text(), str(path))) for name, path in files.items()}
    packages = {name for name, path in files.items() if path.name == "__init__.py"}
    for module in modules.values():
        module.defines = _private_definitions(module.tree)
    owned = {name: module.defines for name, module in modules.items()}
    for module in modules.values():
        _read_imports(module, modules, packages, owned)
    return modules


def layer_of(module: str) -> int | None:
    for index, (_, patterns) in enumerate(LAYERS):
        for pattern in patterns:
            if module == pattern or (pattern.endswith(".*") and fnmatch.fnmatchcase(module + ".", pattern)):
                return index
    return None


def upward_imports(modules: dict[str, Module]) -> list[str]:
    found = []
    for module in modules.values():
        own = layer_of(module.name)
        for target in sorted(module.imports):
            theirs = layer_of(target)
            if own is not None and theirs is not None and theirs > own:
                found.append(f"{module.name} ({LAYERS[own][0]}) imports {target} ({LAYERS[theirs][0]})")
    return found


def cycles(modules: dict[str, Module]) -> list[list[str]]:
    """The import graph's strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(name: str) -> None:
        index[name] = low[name] = len(index)
        stack.append(name)
        for target in sorted(modules[name].imports):
            if target not in index:
                visit(target)
                low[name] = min(low[name], low[target])
            elif target in stack:
                low[name] = min(low[name], index[target])
        if low[name] == index[name]:
            component: list[str] = []
            while not component or component[-1] != name:
                component.append(stack.pop())
            if len(component) > 1:
                found.append(sorted(component))

    for name in sorted(modules):
        if name not in index:
            visit(name)
    return found


def _module_name(root: Path, path: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _private_definitions(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
    return {name for name in names if _private(name)}


def _private(name: str) -> bool:
    return name.startswith("_") and not name.endswith("__")


def _read_imports(
    module: Module, modules: dict[str, Module], packages: set[str], owned: dict[str, set[str]]
) -> None:
    top = provena_widgets.__name__
    package = module.name if module.name in packages else module.name.rpartition(".")[0]
    module_aliases: set[str] = set()  # local names bound to one of our modules
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == top or alias.name.startswith(top + "."):
                    target = alias.name.removeprefix(top).lstrip(".")
                    module.imports.add(target)
                    module_aliases.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".") if package else []
                base = base[: len(base) - (node.level - 1)]
                source = ".".join([*base, *([node.module] if node.module else [])])
            elif node.module and (node.module == top or node.module.startswith(top + ".")):
                source = node.module.removeprefix(top).lstrip(".")
            else:
                continue
            for alias in node.names:
                submodule = f"{source}.{alias.name}".lstrip(".")
                if submodule in modules:
                    module.imports.add(submodule)
                    module_aliases.add(alias.asname or alias.name)
                else:
                    module.imports.add(source)
                    if _private(alias.name):
                        module.private_uses.append(f"{alias.name} from {source} (line {node.lineno})")
    for target in list(module.imports):  # importing a.b.c runs the __init__ of a and a.b first
        parts = target.split(".")
        for depth in range(1, len(parts)):
            parent = ".".join(parts[:depth])
            if not (module.name + ".").startswith(parent + "."):
                module.imports.add(parent)
    module.imports.discard(module.name)
    for node in ast.walk(module.tree):
        if not (isinstance(node, ast.Attribute) and _private(node.attr)):
            continue
        receiver = node.value.id if isinstance(node.value, ast.Name) else None
        if receiver in module_aliases:
            module.private_uses.append(f"{receiver}.{node.attr} (line {node.lineno})")
        elif receiver not in ("self", "cls") and node.attr not in module.defines:
            owners = sorted(name for name, defined in owned.items() if node.attr in defined)
            if owners:
                module.private_uses.append(
                    f"{node.attr}, defined in {', '.join(owners)} (line {node.lineno})"
                )


PACKAGE = read_package(Path(provena_widgets.__file__).parent)


def test_every_module_has_a_layer() -> None:
    assert [name for name in PACKAGE if layer_of(name) is None] == []


def test_imports_point_to_the_same_layer_or_below() -> None:
    assert upward_imports(PACKAGE) == []


def test_no_modules_import_each_other() -> None:
    assert cycles(PACKAGE) == []


def test_no_module_uses_another_modules_private_names() -> None:
    assert {name: module.private_uses for name, module in PACKAGE.items() if module.private_uses} == {}


@pytest.fixture
def tangled(tmp_path: Path) -> dict[str, Module]:
    """A small package with one of each fault."""
    root = tmp_path / "pkg"
    (root / "widgets").mkdir(parents=True)
    files = {
        "__init__.py": "",
        "errors.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .sync import Plan\n",
        "sync.py": "from .store import _helper\n",
        "store.py": "def _helper(): ...\ndef run():\n    from . import sync\n    sync._plan()\n",
        "widgets/__init__.py": "from .panel import Panel\n",
        "widgets/panel.py": "from .. import errors\ndef show(store):\n    store._objects()\n",
        "units.py": "class Store:\n    def _objects(self): ...\n",
    }
    for name, text in files.items():
        (root / name).write_text(text)
    return read_package(root)


def test_the_checks_find_each_fault(tangled: dict[str, Module]) -> None:
    assert upward_imports(tangled) == [
        "errors (base) imports sync (sync)",
        "sync (sync) imports store (DatasetStore facade)",
    ]
    assert cycles(tangled) == [["store", "sync"]]
    assert tangled["sync"].private_uses == ["_helper from store (line 1)"]
    assert tangled["store"].private_uses == ["sync._plan (line 4)"]
    assert tangled["widgets.panel"].private_uses == ["_objects, defined in units (line 3)"]
