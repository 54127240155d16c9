"""The Cinder adapter's modules keep the order docs/architecture.md gives them.

``test_architecture`` finds cycles anywhere; this pins the direction inside
``volumelib.drivers.cinder`` (imports inside functions and under ``TYPE_CHECKING``
counted, as grimp reads every import statement), so a new back-edge fails here with
the two modules named, even before it closes a cycle. ``loading`` is the light top
that ``import volumelib`` reaches; it loads ``driver`` (the adapter) lazily, the one
import inside a function that ``test_architecture.LAZY_ALLOWED`` allows here.
"""

from __future__ import annotations

import json
import pathlib
import sys
import textwrap

from tests.unit.test_architecture import _run, installed_view  # noqa: F401 (fixture)

#: Top to bottom; modules of one layer (a tuple) do not import each other.
CINDER_LAYERS: list[tuple[str, ...]] = [
    ("loading",),
    ("driver",),
    ("catalogue", "dbfacade"),
    ("records",),
    ("runtime",),
    ("config", "quirks", "stats", "extra"),
]

_CHECK = textwrap.dedent("""\
    import json, sys, grimp
    layers = [grimp.Layer(*tails, independent=True) for tails in json.loads(sys.argv[1])]
    graph = grimp.build_graph("volumelib", cache_dir=None)
    illegal = graph.find_illegal_dependencies_for_layers(
        layers, containers={"volumelib.drivers.cinder"})
    print(json.dumps(sorted(f"{d.importer} imports {d.imported}" for d in illegal)))
    """)

_IMPORTS = textwrap.dedent("""\
    import json, grimp
    graph = grimp.build_graph("volumelib", cache_dir=None)
    print(json.dumps(sorted(graph.find_modules_directly_imported_by(
        "volumelib.drivers.cinder.loading"))))
    """)


def test_cinder_adapter_modules_point_down(installed_view: pathlib.Path) -> None:  # noqa: F811
    out = _run(installed_view, sys.executable, "-c", _CHECK, json.dumps(CINDER_LAYERS))
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [], out.stdout


def test_loading_reaches_only_the_light_bottom_and_the_adapter(
        installed_view: pathlib.Path) -> None:  # noqa: F811
    """What ``import volumelib`` loads of the sub-package is ``loading`` and ``extra``;
    the rest comes through the lazy import of ``driver``."""
    out = _run(installed_view, sys.executable, "-c", _IMPORTS)
    assert out.returncode == 0, out.stderr
    ours = {m for m in json.loads(out.stdout) if m.startswith("volumelib.drivers.cinder.")}
    assert ours == {"volumelib.drivers.cinder.extra", "volumelib.drivers.cinder.driver"}


def test_every_cinder_adapter_module_has_a_layer() -> None:
    package = pathlib.Path(__file__).resolve().parents[2] / "drivers/cinder"
    modules = {p.stem for p in package.glob("*.py") if p.stem != "__init__"}
    assert modules == {m for layer in CINDER_LAYERS for m in layer}
