"""qemu-img: format detection, checks that catch damaged images, conversion."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.helpers import requires_tool
from volumelib import exceptions as exc
from volumelib.image_cache import convert
from volumelib.image_cache import exceptions as ic_exc
from volumelib.testing.image_cache import (
    corrupt_compressed_cluster,
    make_image,
    make_raw,
)

MiB = 1024 ** 2
VSIZE = 96 * MiB
WRITES = {0: b"boot" * 1024, 5 * MiB: os.urandom(2 * MiB), VSIZE - 4096: b"\x01" * 4096}


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    requires_tool("qemu-img")
    d = tmp_path_factory.mktemp("images")
    raw = make_raw(str(d / "disk.raw"), VSIZE, WRITES)
    out = {"raw": raw}
    for fmt in ("qcow2", "vmdk", "vdi", "vpc"):
        out[fmt] = make_image(raw, str(d / f"disk.{fmt}"), fmt)
    return out


def compare(a: str, b: str) -> None:
    result = subprocess.run(["qemu-img", "compare", "-f", "raw", "-F", "raw", a, b],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("fmt", ["raw", "qcow2", "vmdk", "vdi", "vpc"])
def test_inspect_and_convert(images, tmp_path, fmt):
    info = convert.inspect(images[fmt])
    assert info.format == fmt and info.virtual_size >= VSIZE
    target = tmp_path / "volume"
    with open(target, "wb") as f:
        f.truncate(info.virtual_size)
    seen = []
    convert.convert(images[fmt], fmt, str(target), target_is_zero=True, progress=seen.append)
    assert seen[-1] == 100.0 and seen == sorted(seen)
    with open(target, "rb") as f:
        for offset, data in WRITES.items():
            f.seek(offset)
            assert f.read(len(data)) == data
    if fmt != "vpc":  # vpc rounds the size up to its geometry
        compare(images["raw"], str(target))
    assert os.stat(target).st_blocks * 512 < 8 * MiB  # sparse: ~2 MiB of data


def truncated(src: str, path: str, keep: int) -> str:
    with open(src, "rb") as f, open(path, "wb") as out:
        out.write(f.read(keep))
    return path


@pytest.mark.parametrize("fmt", ["qcow2", "vmdk"])
def test_truncated_images_are_refused(images, tmp_path, fmt):
    # qemu-img convert turns such files into zeros without complaint: check must catch it
    short = truncated(images[fmt], str(tmp_path / f"short.{fmt}"),
                      os.path.getsize(images[fmt]) // 2)
    with pytest.raises(ic_exc.CorruptImage) as info:
        convert.inspect(short, name="my-image")
    assert "my-image" in str(info.value) and "check" in str(info.value)
    assert isinstance(info.value, exc.InvalidArgument)


def test_damaged_headers(images, tmp_path):
    head = truncated(images["qcow2"], str(tmp_path / "head"), 100)
    with pytest.raises(ic_exc.CorruptImage, match="header"):
        convert.inspect(head)
    bad_l1 = truncated(images["qcow2"], str(tmp_path / "bad_l1"),
                       os.path.getsize(images["qcow2"]))
    with open(bad_l1, "r+b") as f:
        f.seek(40)
        f.write(b"\xff" * 8)  # the L1 table offset
    with pytest.raises(ic_exc.CorruptImage, match="L1"):
        convert.inspect(bad_l1)


def test_backing_files_are_refused(images, tmp_path):
    child = tmp_path / "child.qcow2"
    subprocess.run(["qemu-img", "create", "-f", "qcow2", "-F", "qcow2", "-b", images["qcow2"],
                    str(child)], check=True, capture_output=True)
    with pytest.raises(ic_exc.CorruptImage, match="backing file"):
        convert.inspect(str(child))


def test_data_errors_fail_the_conversion(images, tmp_path):
    bad = make_image(images["raw"], str(tmp_path / "bad.qcow2"), "qcow2", compress=True)
    corrupt_compressed_cluster(bad)
    info = convert.inspect(bad)  # the metadata is fine
    target = tmp_path / "volume"
    with open(target, "wb") as f:
        f.truncate(info.virtual_size)
    with pytest.raises(ic_exc.CorruptImage, match="reading"):
        convert.convert(bad, "qcow2", str(target), target_is_zero=True)


def test_a_target_too_small_is_a_write_error(images, tmp_path):
    target = tmp_path / "small"
    with open(target, "wb") as f:
        f.truncate(MiB)
    with pytest.raises(exc.BackendError):
        convert.convert(images["qcow2"], "qcow2", str(target))


def test_random_bytes_are_raw(tmp_path):
    path = tmp_path / "noise"
    path.write_bytes(os.urandom(64 * 1024))
    info = convert.inspect(str(path))
    assert (info.format, info.virtual_size) == ("raw", 64 * 1024)
