"""The compat layer's modules keep the order docs/architecture.md gives them.

``test_architecture`` finds cycles anywhere; this pins the direction inside
``volumelib.compat.cinderlib`` (imports inside functions and under ``TYPE_CHECKING``
counted, as grimp reads every import statement), so a new back-edge fails here
with the two modules named, even before it closes a cycle.
"""

from __future__ import annotations

import json
import pathlib
import sys
import textwrap

from tests.unit.test_architecture import _run, installed_view  # noqa: F401 (fixture)

#: Top to bottom; modules of one layer (a tuple) do not import each other.
COMPAT_LAYERS: list[tuple[str, ...]] = [
    ("cmd",),
    ("objects",),
    ("connection",),
    ("resource", "serialization"),
    ("backend",),
    ("persistence",),
    ("identity",),
    ("exception", "lenient", "extras", "drivers"),
]

_CHECK = textwrap.dedent("""\
    import json, sys, grimp
    layers = [grimp.Layer(*tails, independent=True) for tails in json.loads(sys.argv[1])]
    graph = grimp.build_graph("volumelib", cache_dir=None)
    illegal = graph.find_illegal_dependencies_for_layers(
        layers, containers={"volumelib.compat.cinderlib"})
    print(json.dumps(sorted(f"{d.importer} imports {d.imported}" for d in illegal)))
    """)


def test_compat_modules_point_down(installed_view: pathlib.Path) -> None:  # noqa: F811
    out = _run(installed_view, sys.executable, "-c", _CHECK, json.dumps(COMPAT_LAYERS))
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [], out.stdout


def test_every_compat_module_has_a_layer() -> None:
    package = pathlib.Path(__file__).resolve().parents[2] / "volumelib/compat/cinderlib"
    modules = {p.stem for p in package.glob("*.py") if p.stem != "__init__"}
    modules |= {p.name for p in package.iterdir() if (p / "__init__.py").exists()}
    assert modules == {m for layer in COMPAT_LAYERS for m in layer}
