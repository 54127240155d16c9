"""The package's architecture holds: layers point down, no import cycles, and imports
inside functions are only lazy loads of heavy dependencies.

The import graph is read by grimp (import-linter's engine), which counts every import
statement of a module, those inside functions and under ``TYPE_CHECKING`` too. It
finds a package by walking its directory, so the checks run on a view of the source
laid out as installed (``persistence/`` and ``drivers/`` inside ``volumelib/``, as
``package_dir`` maps them), made of symlinks in a temporary directory.
"""

from __future__ import annotations

import ast
import json
import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SOURCES = {"volumelib": ROOT / "volumelib", "volumelib/persistence": ROOT / "persistence",
           "volumelib/drivers": ROOT / "drivers"}

#: Imports allowed inside functions: lazy loads of heavy or optional dependencies,
#: each for a reason (module imported -> why). Anything else belongs at the top.
LAZY_ALLOWED = {
    "os_brick": "os-brick (and its privsep/eventlet stack) loads on the first attach",
    "stevedore": "plugins load through stevedore on first use",
    "alembic": "alembic loads only when a schema must change",
    "volumelib.persistence.dbms": "the SQL stores and their migrations bring SQLAlchemy",
    "volumelib.cli.context": "the CLI loads the library when a command runs, so "
                             "--help and --version stay quick",
    "cliff": "cliff loads with the command line only",
    "rados": "the Ceph bindings load with the rbd driver",
    "rbd": "the Ceph bindings load with the rbd driver",
    "cinder": "Cinder loads with a Cinder driver only",
    "volumelib.drivers.cinder.driver": "the Cinder adapter loads with the first Cinder "
                                       "driver (and with it oslo.config, SQLAlchemy and "
                                       "Cinder's objects)",
    "oslo_privsep": "privsep loads with a driver that needs it",
    "importlib.metadata": "entry points are read with the first plugin (a tenth of "
                          "import volumelib otherwise)",
    "urllib": "the HTTP stack (http.client, ssl, email) loads with the first URL image",
    "http.client": "the HTTP stack loads with the first URL image",
}


@pytest.fixture(scope="module")
def installed_view(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    view = tmp_path_factory.mktemp("layout")
    package = view / "volumelib"
    package.mkdir()
    for entry in sorted(SOURCES["volumelib"].iterdir()):
        if entry.name != "__pycache__":
            (package / entry.name).symlink_to(entry)
    (package / "persistence").symlink_to(SOURCES["volumelib/persistence"])
    (package / "drivers").symlink_to(SOURCES["volumelib/drivers"])
    return view


def _run(view: pathlib.Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(view))
    return subprocess.run(args, cwd=view, env=env, capture_output=True, text=True,
                          timeout=300)


def test_layers_contract_is_kept(installed_view: pathlib.Path) -> None:
    lint = pathlib.Path(sys.executable).with_name("lint-imports")
    out = _run(installed_view, str(lint), "--no-cache", str(ROOT / "setup.cfg"))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "1 kept, 0 broken" in out.stdout, out.stdout


def test_layers_contract_catches_a_back_edge(installed_view: pathlib.Path,
                                             tmp_path: pathlib.Path) -> None:
    """The contract is not vacuous: reversing two layers breaks it."""
    config = tmp_path / "reversed.ini"
    config.write_text(textwrap.dedent("""\
        [importlinter]
        root_package = volumelib
        [importlinter:contract:reversed]
        name = reversed
        type = layers
        layers =
            volumelib.records
            volumelib.objects
        """))
    lint = pathlib.Path(sys.executable).with_name("lint-imports")
    out = _run(installed_view, str(lint), "--no-cache", str(config))
    assert out.returncode != 0 and "BROKEN" in out.stdout, out.stdout


_CYCLES = textwrap.dedent("""\
    import json, grimp
    graph = grimp.build_graph("volumelib", cache_dir=None)
    edges = {m: sorted(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    print(json.dumps(edges))
    """)


def _strongly_connected(edges: dict[str, list[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative: the components with more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(edges.get(start, ())))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(edges.get(child, ()))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def test_strongly_connected_finds_a_cycle() -> None:
    assert _strongly_connected({"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"]}) == \
        [["a", "b", "c"]]
    assert _strongly_connected({"a": ["b"], "b": []}) == []


def test_no_import_cycles_anywhere(installed_view: pathlib.Path) -> None:
    out = _run(installed_view, sys.executable, "-c", _CYCLES)
    assert out.returncode == 0, out.stderr
    edges = json.loads(out.stdout)
    assert len(edges) > 100, "grimp did not see the whole package"
    assert any(m.startswith("volumelib.persistence.") for m in edges)
    assert any(m.startswith("volumelib.drivers.") for m in edges)
    cycles = _strongly_connected(edges)
    assert cycles == [], "\n".join(
        " <-> ".join(c) + ": " + "; ".join(f"{a} -> {b}" for a in c for b in edges[a]
                                          if b in c) for c in cycles)


def _function_level_imports() -> list[tuple[str, int, str, bool]]:
    """``(file, line, imported module, commented)`` of each import inside a function."""
    found = []
    for root in SOURCES.values():
        for path in sorted(root.rglob("*.py")):
            text = path.read_text()
            lines = text.splitlines()
            for node in ast.walk(ast.parse(text)):
                if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    continue
                for sub in ast.walk(node):
                    if isinstance(sub, ast.ImportFrom):
                        base = ("." * sub.level) + (sub.module or "")
                        names = [f"{base}.{a.name}" for a in sub.names]
                        module = next((n for n in names if _allowed(n)), base)
                    elif isinstance(sub, ast.Import):
                        module = sub.names[0].name
                    else:
                        continue
                    around = lines[max(0, sub.lineno - 4):sub.end_lineno]
                    commented = any("#" in line for line in around)
                    found.append((str(path.relative_to(ROOT)), sub.lineno, module,
                                  commented))
    return found


def _allowed(module: str) -> bool:
    return any(module == lazy or module.startswith(lazy + ".") for lazy in LAZY_ALLOWED)


def test_function_level_imports_are_lazy_loads_of_heavy_dependencies() -> None:
    imports = _function_level_imports()
    wrong = [f"{f}:{line} imports {module}" for f, line, module, _ in imports
             if not _allowed(module)]
    assert wrong == [], "imports inside functions that belong at the top:\n" + \
        "\n".join(wrong)
    silent = [f"{f}:{line} ({module})" for f, line, module, commented in imports
              if not commented]
    assert silent == [], "lazy imports without a comment saying why:\n" + "\n".join(silent)
