"""The package's import graph is flat: no import cycle, no private name imported across
modules, and no name taken through a lazy package (whose names are imported by name on first
use, which would hide the real edge from this graph).

The graph is read from the source with :mod:`ast`, so it sees what a run may import, not only
what one run happened to: every ``import`` statement counts wherever it stands, a lazy import
inside a function included. Importing ``a.b.c`` also executes the packages ``a.b`` and ``a``
(their ``__init__``), so it is an edge to each package the importer is not itself inside. Left
out: imports under ``if TYPE_CHECKING:`` (never executed: a type annotation is not a
dependency at run time) and modules named in strings (``"module:attr"`` registries such as the
deferred strategies or Gymnasium's entry point, resolved by name after every module is loaded).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "maxent_portfolio"

Graph = Mapping[str, set[str]]


def module_files(package: Path) -> dict[str, Path]:
    """Every module of ``package`` by dotted name (a package by its own name)."""
    modules = {}
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _executed(node: ast.AST) -> Iterator[ast.AST]:
    """``node`` and every node below it, except the bodies of ``if TYPE_CHECKING:``."""
    yield node
    if isinstance(node, ast.If) and _is_type_checking(node.test):
        children: list[ast.AST] = [node.test, *node.orelse]
    else:
        children = list(ast.iter_child_nodes(node))
    for child in children:
        yield from _executed(child)


def imported(module: str, path: Path, modules: Mapping[str, Path]
             ) -> Iterator[tuple[str, str | None]]:
    """``(target module, name)`` for each name ``module`` imports from the package; ``name`` is
    None when the target is imported as a module, else the attribute taken from it."""
    is_package = path.name == "__init__.py"
    for node in _executed(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from ((alias.name, None) for alias in node.names if alias.name in modules)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the module's package, up level - 1
                here = module.split(".") if is_package else module.split(".")[:-1]
                here = here[: len(here) - node.level + 1]
                base = ".".join([*here, base] if base else here)
            for alias in node.names:
                if f"{base}.{alias.name}" in modules:
                    yield f"{base}.{alias.name}", None
                elif base in modules:
                    yield base, alias.name


def _inside(module: str, package: str) -> bool:
    return module == package or module.startswith(f"{package}.")


def import_graph(package: Path) -> dict[str, set[str]]:
    """Module -> the package modules importing it executes (see the module docstring)."""
    modules = module_files(package)
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for target, _ in imported(name, path, modules):
            parts = target.split(".")
            ancestors = (".".join(parts[:i]) for i in range(1, len(parts)))
            graph[name] |= {target, *(a for a in ancestors if not _inside(name, a))}
        graph[name].discard(name)
    return graph


def find_cycles(graph: Graph) -> list[list[str]]:
    """The import cycles: strongly connected components of two or more modules (Tarjan),
    each sorted, in a stable order."""
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        order[node] = low[node] = len(order)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in order:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], order[nxt])
        if low[node] == order[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in order:
            visit(node)
    return sorted(cycles)


def private_imports(package: Path) -> list[str]:
    """Every ``from <package module> import _name`` taking a private name of another module."""
    modules = module_files(package)
    return [f"{name} imports {attr} from {target}"
            for name, path in modules.items()
            for target, attr in imported(name, path, modules)
            if attr is not None and attr.startswith("_") and target != name]


def lazy_package_imports(package: Path) -> list[str]:
    """Every name a module takes from a lazy package (one whose ``__init__`` defines a module
    ``__getattr__``): such a package imports by name on first use, so an import through it hides
    the real edge from the graph. Inside the package, import from the defining module."""
    modules = module_files(package)
    lazy = {name for name, path in modules.items() if path.name == "__init__.py" and any(
        isinstance(node, ast.FunctionDef) and node.name == "__getattr__"
        for node in ast.parse(path.read_text(encoding="utf-8")).body)}
    return [f"{name} imports {attr} through {target}"
            for name, path in modules.items()
            for target, attr in imported(name, path, modules)
            if attr is not None and target in lazy and target != name]


# --- the finders themselves, on small fakes ------------------------------------------------------

def test_find_cycles_finds_a_cycle_and_only_the_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert find_cycles(graph) == [["a", "b", "c"]]
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": set(), "d": {"a", "c"}}) == []
    assert find_cycles({"x": {"y"}, "y": {"x"}, "p": {"q"}, "q": {"p"}}) == [["p", "q"],
                                                                            ["x", "y"]]


def _fake_package(root: Path, files: Mapping[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root / "pkg"


def test_the_graph_counts_lazy_and_package_imports_but_not_type_only_ones(
        tmp_path: Path) -> None:
    package = _fake_package(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/low.py": "from typing import TYPE_CHECKING\n"
                      "if TYPE_CHECKING:\n    from pkg.high import High\n",
        "pkg/high.py": "def f():\n    from pkg import low\n    from .sub.leaf import x\n",
        "pkg/sub/__init__.py": "from pkg.sub.leaf import x\n",
        "pkg/sub/leaf.py": "import pkg.low\nfrom pkg.sub import leaf\n",
    })
    graph = import_graph(package)
    assert graph["pkg.low"] == set()  # type-only
    assert graph["pkg.high"] == {"pkg.low", "pkg.sub.leaf", "pkg.sub"}  # lazy, and sub's init
    assert graph["pkg.sub.leaf"] == {"pkg.low"}  # its own package is not an edge
    assert find_cycles(graph) == []
    (package / "low.py").write_text("import pkg.high\n", encoding="utf-8")  # now executed
    assert find_cycles(import_graph(package)) == [["pkg.high", "pkg.low", "pkg.sub",
                                                   "pkg.sub.leaf"]]


def test_private_imports_are_found_across_modules_only(tmp_path: Path) -> None:
    package = _fake_package(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "_secret = 1\n",
        "pkg/_mod.py": "",
        "pkg/b.py": "def f():\n    from pkg.a import _secret\n    from pkg import _mod\n",
    })
    assert private_imports(package) == ["pkg.b imports _secret from pkg.a"]


def test_imports_through_a_lazy_package_are_found(tmp_path: Path) -> None:
    package = _fake_package(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/sub/__init__.py": "def __getattr__(name):\n    return name\n",
        "pkg/sub/leaf.py": "x = 1\n",
        "pkg/user.py": "from pkg.sub import leaf\nfrom pkg.sub.leaf import x\n"
                       "def f():\n    from pkg.sub import x\n",
    })
    assert lazy_package_imports(package) == ["pkg.user imports x through pkg.sub"]


# --- the package ---------------------------------------------------------------------------------

def test_the_package_has_no_import_cycle() -> None:
    graph = import_graph(PACKAGE)
    assert len(graph) > 50 and "maxent_portfolio.config" in graph
    assert find_cycles(graph) == []


def test_no_module_imports_a_private_name_of_another() -> None:
    assert private_imports(PACKAGE) == []


def test_no_module_imports_through_a_lazy_package() -> None:
    assert lazy_package_imports(PACKAGE) == []


def test_the_bottom_modules_import_nothing_above_them() -> None:
    """The shared vocabulary stays at the bottom: anyone may import it without a cycle."""
    graph = import_graph(PACKAGE)
    for bottom in ("maxent_portfolio.rebalance", "maxent_portfolio.errors",
                   "maxent_portfolio.lazy"):
        assert graph[bottom] <= {"maxent_portfolio.errors"}, bottom
