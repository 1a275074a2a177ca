"""The package's layers follow the data (docs/architecture.md, "Layers and imports"):

    config < ingest < store < build < gates < actions < reports < pipeline < cli

(a) a module-level import never reaches up to a higher layer; (b) no two modules import each other,
directly or round a loop (function-level imports included); (c) an import of a vigil module inside a
function says why, in a comment on its line or the line above (it is there on purpose, not to dodge
a cycle). Checked on the source's syntax tree, so nothing is imported to check it.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

from fixtures.nights import REPO

PACKAGE = REPO / "include" / "vigil"
LAYERS = ("config", "ingest", "store", "build", "gates", "actions", "reports", "pipeline", "cli")
#: Modules that belong to a layer without its name: vigil.steps is the pipeline's list of steps, kept
#: apart from vigil.pipeline so that the DAG can read it at parse time without importing duckdb.
MEMBERS = {"steps": "pipeline"}


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, e.g. vigil.store.audit
    target: str  # the vigil module imported, e.g. vigil.store.ddl
    line: int
    in_function: bool
    commented: bool


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer(module: str) -> int:
    """The layer's rank; the package's own __init__ sits at the bottom with config."""
    parts = module.split(".")
    name = MEMBERS.get(parts[1], parts[1]) if len(parts) > 1 else None
    return LAYERS.index(name) if name in LAYERS else 0


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> list[str]:
    if node.level:
        base = module.split(".")
        base = base if is_package else base[:-1]
        base = base[: len(base) - (node.level - 1)]
        prefix = ".".join(base + ([node.module] if node.module else []))
    else:
        prefix = node.module or ""
    # `from vigil.store import audit` imports the module vigil.store.audit; `from x import name` imports x.
    return [prefix] + [f"{prefix}.{a.name}" for a in node.names]


def imports(root: Path) -> list[Import]:
    """Every import of a module under `root` (a package folder) by a module under it."""
    files = sorted(root.rglob("*.py"))
    known = {module_name(root, p) for p in files}
    found: list[Import] = []
    for path in files:
        module = module_name(root, path)
        source = path.read_text()
        lines = source.splitlines()
        tree = ast.parse(source, str(path))

        def visit(node: ast.AST, in_function: bool) -> None:
            for child in ast.iter_child_nodes(node):
                nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
                if isinstance(child, (ast.Import, ast.ImportFrom)):
                    if isinstance(child, ast.Import):
                        names = [a.name for a in child.names]
                    else:
                        names = _resolve(module, path.name == "__init__.py", child)
                    targets = {n for n in names if n in known and n != module}
                    # the longest known name per statement: `from vigil.store import audit` -> vigil.store.audit
                    if isinstance(child, ast.ImportFrom) and len(targets) > 1:
                        targets -= {names[0]}
                    here = lines[child.lineno - 1]
                    above = lines[child.lineno - 2].strip() if child.lineno > 1 else ""
                    commented = "#" in here or above.startswith("#")
                    found.extend(Import(module, t, child.lineno, in_function, commented) for t in sorted(targets))
                visit(child, nested)

        visit(tree, False)
    return found


def upward_imports(found: list[Import]) -> list[str]:
    return [f"{i.module}:{i.line} imports {i.target} (layer {LAYERS[layer(i.target)]} is above "
            f"{LAYERS[layer(i.module)]})" for i in found if not i.in_function and layer(i.target) > layer(i.module)]


def uncommented_function_imports(found: list[Import]) -> list[str]:
    return [f"{i.module}:{i.line} imports {i.target} inside a function without a comment saying why"
            for i in found if i.in_function and not i.commented]


def cycles(found: list[Import]) -> list[list[str]]:
    """Each import loop once, as the modules round it (Tarjan's strongly connected components)."""
    graph: dict[str, set[str]] = {}
    for i in found:
        # a package's __init__ importing its own submodule is how packages re-export: not a loop back
        if not i.target.startswith(i.module + "."):
            graph.setdefault(i.module, set()).add(i.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    loops: list[list[str]] = []

    def strongconnect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                loops.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)
    return loops


# --------------------------------------------------------------------------- the package itself


@pytest.fixture(scope="module")
def package_imports() -> list[Import]:
    found = imports(PACKAGE)
    assert len({i.module for i in found}) > 30, "the checker found too few modules: is PACKAGE right?"
    return found


def test_no_module_imports_a_higher_layer(package_imports):
    assert upward_imports(package_imports) == []


def test_no_import_cycles(package_imports):
    assert cycles(package_imports) == []


def test_function_level_imports_of_vigil_say_why(package_imports):
    assert uncommented_function_imports(package_imports) == []


def test_every_module_sits_in_a_known_layer():
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        assert MEMBERS.get(parts[0], parts[0]) in LAYERS or parts == ("__init__",), f"{path}: not in a layer ({', '.join(LAYERS)})"


# --------------------------------------------------------------------------- the checker catches what it should


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "vigil"
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for folder in [root, *(p for p in root.rglob("*") if p.is_dir())]:
        (folder / "__init__.py").touch()
    return root


def test_checker_finds_an_upward_import(tmp_path):
    root = _tree(tmp_path, {
        "config.py": "",
        "store/audit.py": "from vigil.config import x\n",             # down: fine
        "store/ddl.py": "from vigil.store import audit\n",            # same layer: fine
        "ingest/reader.py": "from vigil.store.audit import append\n",  # up: ingest < store
    })
    assert upward_imports(imports(root)) == [
        "vigil.ingest.reader:1 imports vigil.store.audit (layer store is above ingest)"]


def test_checker_finds_an_upward_relative_import(tmp_path):
    root = _tree(tmp_path, {"gates/breakers.py": "from ..actions import alerts\n", "actions/alerts.py": ""})
    assert upward_imports(imports(root)) == [
        "vigil.gates.breakers:1 imports vigil.actions.alerts (layer actions is above gates)"]


def test_checker_allows_one_layer_down_and_the_same_layer(tmp_path):
    root = _tree(tmp_path, {"cli.py": "import vigil.pipeline\n", "pipeline.py": "from vigil import config\n",
                            "config.py": ""})
    assert upward_imports(imports(root)) == []


def test_checker_finds_a_cycle_and_only_the_modules_in_it(tmp_path):
    root = _tree(tmp_path, {
        "store/a.py": "from vigil.store import b\n",
        "store/b.py": "def f():\n    # why: on purpose\n    from vigil.store.c import g\n",
        "store/c.py": "import vigil.store.a\n",
        "store/d.py": "import vigil.store.a\n",  # imports into the loop, is not part of it
    })
    assert cycles(imports(root)) == [["vigil.store.a", "vigil.store.b", "vigil.store.c"]]


def test_checker_finds_a_two_module_cycle_and_none_without_it(tmp_path):
    looped = _tree(tmp_path / "one", {"cli.py": "import vigil.ingest.importers\n",
                                      "ingest/importers.py": "from vigil.cli import console\n"})
    assert cycles(imports(looped)) == [["vigil.cli", "vigil.ingest.importers"]]
    straight = _tree(tmp_path / "two", {"cli.py": "import vigil.ingest.importers\n", "ingest/importers.py": ""})
    assert cycles(imports(straight)) == []


def test_checker_wants_a_comment_on_a_function_level_import(tmp_path):
    root = _tree(tmp_path, {
        "store/a.py": "def f():\n    from vigil.store import b\n",                       # no comment
        "store/b.py": "def f():\n    from vigil.store import c  # heavy: on purpose\n",  # same line
        "store/c.py": "def f():\n    # heavy: on purpose\n    import vigil.store.b\n",   # line above
        "store/d.py": "def f():\n    import json\n",                                     # not vigil
    })
    assert uncommented_function_imports(imports(root)) == [
        "vigil.store.a:2 imports vigil.store.b inside a function without a comment saying why"]
    assert upward_imports(imports(root)) == []
