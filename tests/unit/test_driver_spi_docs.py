"""The driver SPI says, method by method, what a vendor must know (Args, Returns,
Raises, Idempotency), and docs/drivers.md shows exactly that: tools/gen_driver_docs.py
renders it from the docstrings and ``--check`` fails when the file drifts."""

from __future__ import annotations

import importlib.util
import inspect
import pathlib
import re
import subprocess
import sys
from types import ModuleType

import pytest

from volumelib.drivers.base import VolumeDriver

ROOT = pathlib.Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "gen_driver_docs.py"
DOC = ROOT / "docs" / "drivers.md"


def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_driver_docs", TOOL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tool = _tool()
MEMBERS = dict(tool.spi_members())


def test_the_reference_covers_the_whole_spi() -> None:
    public = {n for n in dir(VolumeDriver) if not n.startswith("_")} - {
        "name", "vendor_name", "version", "storage_protocol", "options", "supported"}
    assert set(MEMBERS) == public | {"__init__"}
    for name in ("create_volume", "delete_volume", "gc", "validate_connector",
                 "create_consistencygroup", "delete_cgsnapshot", "capabilities",
                 "describe", "redacted_config", "check_capacity", "health"):
        assert name in MEMBERS


@pytest.mark.parametrize("name", list(MEMBERS))
def test_every_method_documents_its_contract(name: str) -> None:
    func = tool._function(MEMBERS[name])
    doc = inspect.getdoc(func) or ""
    params = [p for p in inspect.signature(func).parameters.values()
              if p.name not in ("self", "cls")]
    expected = (["Args"] if params else []) + (["Returns"] if name != "__init__" else [])
    expected += ["Raises", "Idempotency"]
    assert re.findall(r"^([A-Z]\w*):$", doc, re.M) == expected, doc
    args = doc.split("Args:", 1)[-1].split("Returns:", 1)[0].split("Raises:", 1)[0]
    for p in params:
        assert re.search(rf"^\s+\**{p.name}:", args, re.M), f"{name}: {p.name} undocumented"
    idempotency = doc.split("Idempotency:", 1)[1].strip()
    assert len(idempotency) > 20, f"{name}: say what a second call does"


def _check(doc: pathlib.Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(TOOL), "--check", "--doc", str(doc)],
                          capture_output=True, text=True, timeout=120)


def test_the_doc_shows_every_signature_and_docstring() -> None:
    text = DOC.read_text()
    for name, attr in MEMBERS.items():
        func = tool._function(attr)
        assert f"### `{name}`" in text
        assert tool.signature(name, func) in text
        first = (inspect.getdoc(func) or "").splitlines()[0]
        assert first in text, name


def test_check_fails_when_the_doc_drifts_and_writing_repairs_it(tmp_path) -> None:
    copy = tmp_path / "drivers.md"
    copy.write_text(DOC.read_text())
    assert _check(copy).returncode == 0

    line = inspect.getdoc(VolumeDriver.delete_volume).splitlines()[0]
    copy.write_text(DOC.read_text().replace(line, line.replace("Delete", "Remove"), 1))
    proc = _check(copy)
    assert proc.returncode == 1 and "SPI reference" in proc.stderr, proc.stderr

    copy.write_text(DOC.read_text().replace("| `file_root` |", "| `file_rot` |", 1))
    proc = _check(copy)
    assert proc.returncode == 1 and "options" in proc.stderr, proc.stderr

    write = subprocess.run([sys.executable, str(TOOL), "--doc", str(copy)],
                           capture_output=True, text=True, timeout=120)
    assert write.returncode == 0, write.stderr
    assert copy.read_text() == DOC.read_text()


def test_check_names_missing_markers(tmp_path) -> None:
    copy = tmp_path / "drivers.md"
    copy.write_text(DOC.read_text().replace(tool.SPI_END, ""))
    proc = _check(copy)
    assert proc.returncode != 0 and "markers" in proc.stderr
