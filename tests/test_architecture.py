"""The package boundaries hold: no import cycle, the static core never reaches the runtime.

Parsed from the source (ast), not imported, so these tests need no TensorFlow and fail on any
import statement, module-level or inside a function (lazy imports count: they run too).
Imports under ``if TYPE_CHECKING:`` are type-only and skipped.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ROOT

PKG = ROOT / "dropctl"

HEAVY = ("tensorflow", "keras", "tf_keras", "jax", "jaxlib", "torch", "ray", "matplotlib",
         "pyarrow", "sklearn")
"""Optional, heavy dependencies: each may be imported only where ALLOWED says."""

ALLOWED = {
    "tensorflow": ("dropctl.runtime.",),
    "keras": ("dropctl.runtime.", "dropctl.layers"),
    "tf_keras": (),
    "jax": ("dropctl.runtime.",),
    "jaxlib": ("dropctl.runtime.",),
    "torch": ("dropctl.runtime.",),
    "ray": ("dropctl.ray",),
    "matplotlib": ("dropctl.render.plots", "dropctl.render.calibration_plots"),
    "pyarrow": ("dropctl.mc.shards", "dropctl.ray"),
    "sklearn": (),
}

STATIC = ("dropctl.reader", "dropctl.rules", "dropctl.errors", "dropctl.fileio",
          "dropctl.interrupt", "dropctl._version", "dropctl.policy.config", "dropctl.policy.discover",
          "dropctl.policy.run", "dropctl.policy.results", "dropctl.policy.evaluate",
          "dropctl.render.")
"""Modules on the inspect/check/--help path: they must never import the runtime."""

RUNTIME = ("dropctl.runtime", "dropctl.layers", "dropctl.mc.engine", "dropctl.mc.diff",
           "dropctl.conversion.build", "dropctl.policy.probe")


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(path: Path) -> list[str]:
    """Every module name imported anywhere in ``path`` (relative imports resolved)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: list[str] = []
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            skip.update(id(n) for child in node.body for n in ast.walk(child))
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            out.append(base)
            # `from dropctl.mc import engine` imports the submodule dropctl.mc.engine
            out.extend(f"{base}.{alias.name}" for alias in node.names)
    return out




def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PKG.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps = set()
        for imported in _imports(path):
            if imported in modules and imported != name:
                deps.add(imported)
        graph[name] = deps
    return graph


def test_display_hooks_import_nothing_of_dropctl() -> None:
    """Results draw themselves through renderers the facade installs (dropctl/__init__.py), so
    the display mixin the result types inherit imports no dropctl module: no arrow runs up."""
    imported = set(_imports(PKG / "display.py"))
    assert not {m for m in imported if m.startswith("dropctl")}, imported


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every back edge of a depth-first walk, as the cycle it closes (iterative)."""
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    for root in sorted(graph):
        if state.get(root):
            continue
        stack: list[tuple[str, list[str]]] = [(root, sorted(graph[root]))]
        path = [root]
        state[root] = 1
        while stack:
            node, todo = stack[-1]
            if not todo:
                stack.pop()
                path.pop()
                state[node] = 2
                continue
            nxt = todo.pop()
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt):] + [nxt])
            elif not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append((nxt, sorted(graph.get(nxt, ()))))
    return cycles


FLOORS: tuple[tuple[str, ...], ...] = (
    ("dropctl._version", "dropctl.errors", "dropctl.display", "dropctl.rules"),
    ("dropctl.fileio",),
    ("dropctl.interrupt",),
    ("dropctl.reader",),
    ("dropctl.layers",),
    ("dropctl.runtime",),
    ("dropctl.mc",),
    ("dropctl.conversion", "dropctl.deploy", "dropctl.policy", "dropctl.ray"),
    ("dropctl.render",),
    ("dropctl",),
    ("dropctl.cli",),
    ("dropctl.__main__",),
)
"""The floors of the house, ground first. A room is a top-level module or package of dropctl/
(its modules and its ``__init__``); a room imports only rooms on floors below its own. Data flows
reader -> runtime -> (mc | conversion | policy) -> render -> cli: the static reader stands low,
the always-on layers below the runtime that builds every model with them, the facade
(``dropctl/__init__.py``) above everything it hands on, the CLI on top."""


def _room(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2])


def upward_arrows(graph: dict[str, set[str]], floors: tuple[tuple[str, ...], ...]) -> list[str]:
    """Every import from a room to a room on its own floor or above (``module -> module``),
    and every room that stands on no floor."""
    floor = {room: level for level, rooms in enumerate(floors) for room in rooms}
    bad = []
    for module, deps in sorted(graph.items()):
        here = _room(module)
        if here not in floor:
            bad.append(f"{here} stands on no floor: add it to FLOORS")
            continue
        for dep in sorted(deps):
            there = _room(dep)
            if there != here and floor.get(there, len(floors)) >= floor[here]:
                bad.append(f"{module} -> {dep}")
    return sorted(set(bad))


def test_no_arrow_runs_back_up() -> None:
    """0 upward arrows: each module imports only modules of its own room or of lower floors."""
    arrows = upward_arrows(_graph(), FLOORS)
    assert not arrows, "imports that run back up a floor: " + "; ".join(arrows)


def test_the_floor_check_finds_a_planted_upward_arrow() -> None:
    floors = (("dropctl.reader",), ("dropctl.runtime",), ("dropctl.mc", "dropctl.policy"))
    graph = {"dropctl.runtime.loader": {"dropctl.reader.walker", "dropctl.runtime.compat"},
             "dropctl.reader.walker": {"dropctl.runtime.imports"},
             "dropctl.mc.engine": {"dropctl.policy.run"},
             "dropctl.newroom": set()}
    assert upward_arrows(graph, floors) == [
        "dropctl.mc.engine -> dropctl.policy.run",
        "dropctl.newroom stands on no floor: add it to FLOORS",
        "dropctl.reader.walker -> dropctl.runtime.imports",
    ]


def test_no_import_cycle_inside_dropctl() -> None:
    cycles = find_cycles(_graph())
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_cycle_finder_finds_a_planted_cycle() -> None:
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert find_cycles({"a": {"b"}, "b": set(), "c": {"a", "b"}}) == []


def test_graph_sees_lazy_imports() -> None:
    """Function-level imports count (they run too): the graph holds one we know of."""
    assert "dropctl.conversion.build" in _graph()["dropctl.conversion.run"]


def test_heavy_dependencies_only_where_allowed() -> None:
    bad = []
    for path in sorted(PKG.rglob("*.py")):
        name = _module_name(path)
        for imported in _imports(path):
            top = imported.split(".", 1)[0]
            if top in HEAVY and not any(
                    name == a or name.startswith(a) for a in ALLOWED[top]):
                bad.append(f"{name} imports {imported}")
    assert not bad, bad


def test_private_keras_only_in_runtime_compat() -> None:
    bad = [f"{_module_name(p)}" for p in PKG.rglob("*.py")
           if "keras.src" in p.read_text() and _module_name(p) != "dropctl.runtime.compat"]
    assert not bad, f"private keras.src access outside dropctl/runtime/compat.py: {bad}"


def test_static_packages_never_import_the_runtime() -> None:
    bad = []
    for path in sorted(PKG.rglob("*.py")):
        name = _module_name(path)
        if not any(name == s or name.startswith(s if s.endswith(".") else s + ".")
                   or name == s.rstrip(".") for s in STATIC):
            continue
        if name == "dropctl.render.plots":
            continue  # matplotlib figures: not on the inspect/check path
        for imported in _imports(path):
            if any(imported == r or imported.startswith(r + ".") for r in RUNTIME):
                if name == "dropctl.policy.run" and imported.startswith("dropctl.policy.probe"):
                    continue  # --probe is the policy gate's one runtime part (imports lazily)
                bad.append(f"{name} imports {imported}")
    assert not bad, bad


@pytest.mark.parametrize("entry", [
    "import dropctl, dropctl.cli",
    "import dropctl; dropctl.inspect('sample_models/cnn.keras')",
    "import dropctl; dropctl.check(['sample_models'], config=False)",
    "import dropctl.policy.run, dropctl.render.sarif, dropctl.render.formats",
])
def test_static_paths_import_no_heavy_module(entry: str) -> None:
    code = (f"import sys; {entry}; "
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_collecting_the_tests_imports_no_tensorflow() -> None:
    code = ("import sys, pytest; "
            "rc = pytest.main(['--collect-only', '-q', '-p', 'no:cacheprovider', 'tests']); "
            "print('TF-IMPORTED' if 'tensorflow' in sys.modules or 'keras' in sys.modules "
            "else 'CLEAN', rc)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=False)
    assert "CLEAN 0" in out.stdout, out.stdout[-2000:] + out.stderr[-2000:]
