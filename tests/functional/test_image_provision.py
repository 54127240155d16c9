"""``backend.create_volume(size, image=...)`` on the file driver (ext4: tier 1 only),
with real images made by qemu-img, a real loopback HTTP server, and bad input: a
corrupt or truncated image, HTTP errors, a checksum mismatch, a full disk, an image
larger than the volume. After each failure: a clear error, nothing half-cached served
later, no partial volume left ``available``."""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import subprocess
import tempfile

import pytest
from volumelib.drivers.file import FileDriver, loop

import volumelib
from tests.helpers import same_raw_data, requires_root, requires_tool
from volumelib import exceptions as exc
from volumelib.image_cache import Image, load_driver
from volumelib.image_cache import exceptions as ic_exc
from volumelib.image_cache.xattr import XattrImageCache
from volumelib.testing.image_cache import (
    corrupt_compressed_cluster,
    image_server,
    make_image,
    make_raw,
)
from volumelib.testing.loopfs import loop_filesystem

MiB = 1024 ** 2
GiB = 1024 ** 3
VSIZE = 128 * MiB


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """raw/qcow2/vmdk of one 128 MiB disk with ~6 MiB written, a corrupt one, a too
    large one; in a directory the HTTP server serves."""
    requires_tool("qemu-img")
    d = tmp_path_factory.mktemp("www")
    raw = make_raw(str(d / "disk.raw"), VSIZE, {0: b"MBR!" * 128, 7 * MiB: os.urandom(4 * MiB),
                                               VSIZE - 2 * MiB: os.urandom(2 * MiB)})
    make_image(raw, str(d / "disk.qcow2"), "qcow2")
    make_image(raw, str(d / "disk.vmdk"), "vmdk")
    bad = make_image(raw, str(d / "bad.qcow2"), "qcow2", compress=True)
    corrupt_compressed_cluster(bad)
    subprocess.run(["qemu-img", "create", "-f", "qcow2", str(d / "big.qcow2"),
                    str(GiB + MiB)], check=True, capture_output=True)
    return d


@pytest.fixture
def server(images):
    with image_server(str(images)) as s:
        yield s


@pytest.fixture
def make_backend():
    made = []

    def make(root, name="img", **options):
        volumelib.setup(file_locks_path=root)
        b = volumelib.Backend(name, options.pop("volume_driver", "file"),
                              file_root=os.path.join(root, "root"), **options)
        made.append(b)
        return b

    yield make
    for b in made:
        b.close()
    volumelib.setup()


@pytest.fixture
def backend(ext4_dir, make_backend):
    return make_backend(ext4_dir)


@pytest.fixture
def cache(ext4_dir):
    return load_driver("sqlite", os.path.join(ext4_dir, "cache"))


def path_of(backend, vol):
    return FileDriver.volume_path(backend.driver, vol.id)


def same_data(reference, backend, vol):
    same_raw_data(reference, path_of(backend, vol))


def nothing_stored(backend):
    assert backend.volumes == []
    assert os.listdir(os.path.join(backend.driver.root, "volumes")) == []


@pytest.mark.parametrize("fmt", ["raw", "qcow2", "vmdk"])
def test_from_a_local_image(images, backend, fmt):
    events = []
    vol = backend.create_volume(1, name=f"from-{fmt}", image=str(images / f"disk.{fmt}"),
                                progress=lambda *e: events.append(e))
    assert vol.status == "available" and backend.get_volume(vol.id).status == "available"
    same_data(str(images / "disk.raw"), backend, vol)
    st = os.stat(path_of(backend, vol))
    assert st.st_size == GiB and st.st_blocks * 512 < 16 * MiB  # sparse kept
    converts = [done for phase, done, _ in events if phase == "convert"]
    assert converts[-1] == 100 and converts == sorted(converts)
    assert not any(phase == "download" for phase, *_ in events)  # read in place


def test_from_http_through_the_cache(images, server, backend, cache):
    events = []
    url = server.url("disk.qcow2")
    first = backend.create_volume(1, image=url, image_cache=cache,
                                  progress=lambda *e: events.append(e))
    second = backend.create_volume(1, image=url, image_cache=cache)
    for vol in (first, second):
        same_data(str(images / "disk.raw"), backend, vol)
    assert server.gets("disk.qcow2") == 1  # the second came from the cache
    [entry] = cache.get_cached_images()
    assert entry["hits"] == 2 and entry["meta"]["source"] == url
    downloads = [(d, t) for p, d, t in events if p == "download"]
    size = os.path.getsize(images / "disk.qcow2")
    assert downloads[-1] == (size, size)


def test_an_image_larger_than_the_cache_is_downloaded_aside(images, server, backend,
                                                           ext4_dir):
    small = load_driver("sqlite", os.path.join(ext4_dir, "small-cache"), max_size=MiB)
    vol = backend.create_volume(1, image=server.url("disk.qcow2"), image_cache=small)
    same_data(str(images / "disk.raw"), backend, vol)
    assert small.get_cached_images() == [] and small.get_cache_size() == 0


def test_a_changed_image_is_downloaded_again(images, server, backend, cache, tmp_path):
    (images / "changing.raw").write_bytes(b"old!" * MiB)
    url = server.url("changing.raw")
    old = backend.create_volume(1, image=url, image_cache=cache)
    shutil.copy(images / "changing.raw", tmp_path / "old.raw")
    os.unlink(images / "changing.raw")
    (images / "changing.raw").write_bytes(b"new!" * MiB)  # a new file: a new ETag
    new = backend.create_volume(1, image=url, image_cache=cache)
    assert server.gets("changing.raw") == 2
    same_data(str(tmp_path / "old.raw"), backend, old)
    same_data(str(images / "changing.raw"), backend, new)
    assert cache.get_cached_images()[0]["hits"] == 1  # the entry was replaced


def test_image_larger_than_the_volume(images, server, backend, cache):
    for source in (str(images / "big.qcow2"), server.url("big.qcow2")):
        with pytest.raises(ic_exc.ImageTooLarge) as info:
            backend.create_volume(1, image=source, image_cache=cache)
        assert info.value.min_size == 2 and "at least 2 GiB" in str(info.value)
        assert isinstance(info.value, exc.InvalidSize)
        nothing_stored(backend)
    vol = backend.create_volume(2, image=str(images / "big.qcow2"))
    assert vol.status == "available" and vol.size == 2


def test_bad_arguments_are_refused_before_any_download(server, backend, cache):
    url = server.url("disk.qcow2")
    for kwargs, error in (({"name": "a/b"}, exc.InvalidName),
                          ({"metadata": {"k": 1}}, exc.InvalidArgument),
                          ({"id": "not-a-uuid"}, exc.InvalidId),
                          ({"volume_type": "no-such-type"}, exc.NotFound),
                          ({"size": 0}, exc.InvalidSize),
                          ({"size": 100_000}, exc.InsufficientCapacity)):
        kwargs.setdefault("size", 1)
        with pytest.raises(error):
            backend.create_volume(image=url, image_cache=cache, **kwargs)
    assert server.requests == [] and cache.get_cached_images() == []
    vol = backend.create_volume(1, image=url)
    with pytest.raises(exc.AlreadyExists):
        backend.create_volume(1, image=url, id=vol.id)
    assert server.gets("disk.qcow2") == 1


def test_http_errors_store_nothing(server, backend, cache):
    for kind, error in (("status/404", ic_exc.ImageNotFound),
                        ("status/500", ic_exc.ImageFetchError)):
        with pytest.raises(error) as info:
            backend.create_volume(1, image=f"http://127.0.0.1:{server.port}/{kind}",
                                  image_cache=cache)
        assert "HTTP" in str(info.value)
    nothing_stored(backend)
    assert cache.get_cached_images() == []


@pytest.mark.parametrize("use_cache", [True, False])
def test_truncated_download(images, server, backend, cache, use_cache):
    before = set(glob.glob(os.path.join(tempfile.gettempdir(), "volumelib-image-*")))
    bad = Image(server.url("disk.qcow2", f"truncate/{MiB}"), id="disk")
    with pytest.raises(ic_exc.ImageFetchError, match="truncated|broke off"):
        backend.create_volume(1, image=bad, image_cache=cache if use_cache else None)
    nothing_stored(backend)
    assert not cache.is_cached("disk") and os.listdir(cache.incomplete_dir) == []
    assert set(glob.glob(os.path.join(tempfile.gettempdir(), "volumelib-image-*"))) == before
    good = backend.create_volume(1, image=Image(server.url("disk.qcow2"), id="disk"),
                                 image_cache=cache)  # nothing half-cached is served
    same_data(str(images / "disk.raw"), backend, good)


def test_corrupt_images(images, tmp_path, backend, cache):
    truncated = tmp_path / "truncated.qcow2"
    with open(images / "disk.qcow2", "rb") as f:
        truncated.write_bytes(f.read(os.path.getsize(images / "disk.qcow2") // 2))
    with pytest.raises(ic_exc.CorruptImage, match="check"):
        backend.create_volume(1, image=str(truncated), image_cache=cache)
    nothing_stored(backend)
    # Found only while writing (its metadata is fine): the volume ends error, no file.
    with pytest.raises(ic_exc.CorruptImage, match="reading"):
        backend.create_volume(1, name="victim", image=str(images / "bad.qcow2"))
    [vol] = backend.volumes
    assert (vol.name, vol.status) == ("victim", "error")
    assert os.listdir(os.path.join(backend.driver.root, "volumes")) == []
    vol.delete()
    assert backend.volumes == []


def test_checksums(images, server, backend, cache):
    with pytest.raises(ic_exc.ChecksumMismatch):
        backend.create_volume(1, image=Image(server.url("disk.qcow2"),
                                             checksum="sha256:" + "0" * 64),
                              image_cache=cache)
    with pytest.raises(ic_exc.ChecksumMismatch):
        backend.create_volume(1, image=Image(str(images / "disk.raw"),
                                             checksum="md5:" + "0" * 32))
    nothing_stored(backend)
    assert cache.get_cached_images() == []
    digest = hashlib.sha256((images / "disk.qcow2").read_bytes()).hexdigest()
    vol = backend.create_volume(1, image={"source": server.url("disk.qcow2"),
                                          "checksum": digest}, image_cache=cache)
    same_data(str(images / "disk.raw"), backend, vol)


def test_drivers_without_volume_files(backend, images):
    volumelib.setup()
    fake = volumelib.Backend("fake-img", "fake")
    try:
        with pytest.raises(exc.NotSupported, match="volume_path"):
            fake.create_volume(1, image=str(images / "disk.qcow2"))
        assert fake.volumes == []
    finally:
        fake.close()
    with pytest.raises(exc.InvalidArgument):
        backend.create_volume(1, image_cache=object())  # image-only options need image


class NoPathFileDriver(FileDriver):
    """The file driver hiding its files: provisioning must attach the volume."""

    name = "file-nopath"
    volume_path = None  # type: ignore[assignment]


def test_through_a_local_attach(images, ext4_dir, make_backend):
    requires_root()
    requires_tool("losetup")
    backend = make_backend(ext4_dir, volume_driver=NoPathFileDriver)
    vol = backend.create_volume(1, image=str(images / "disk.vmdk"))
    assert vol.status == "available" and vol.connections == []
    same_data(str(images / "disk.raw"), backend, vol)
    assert loop.devices_for_file(path_of(backend, vol)) == []


def test_cache_disk_full(images, server, backend):
    """A real ENOSPC: the cache lives on a small XFS filled up to its last MiBs."""
    requires_root()
    make_raw(str(images / "noise.raw"), 24 * MiB, {0: os.urandom(24 * MiB)})
    with loop_filesystem("xfs", size_bytes=320 * MiB) as fs:
        filler = os.path.join(fs.mountpoint, "filler")
        st = os.statvfs(fs.mountpoint)
        with open(filler, "wb") as f:
            os.posix_fallocate(f.fileno(), 0, st.f_bavail * st.f_frsize - 8 * MiB)
        cache = load_driver("xattr", os.path.join(fs.mountpoint, "cache"))
        for kind in ("files", "stream"):  # with and without a Content-Length
            with pytest.raises(ic_exc.ImageCacheFull) as info:
                backend.create_volume(1, image=Image(server.url("noise.raw", kind), id="n"),
                                      image_cache=cache)
            assert info.value.no_space is True and "no space" in str(info.value)
            assert not cache.is_cached("n")
            assert os.listdir(cache.incomplete_dir) == os.listdir(cache.invalid_dir) == []
            nothing_stored(backend)
        os.unlink(filler)
        vol = backend.create_volume(1, image=Image(server.url("noise.raw"), id="n"),
                                    image_cache=cache)
        same_data(str(images / "noise.raw"), backend, vol)


@pytest.fixture(scope="module")
def expanding_image(tmp_path_factory):
    """A 3 MiB compressed qcow2 holding 400 MiB of data: more than a 320 MiB XFS."""
    requires_tool("qemu-img")
    d = tmp_path_factory.mktemp("expanding")
    big = make_raw(str(d / "full.raw"), 400 * MiB, {})
    with open(big, "r+b") as f:
        f.writelines(b"\x5a" * MiB for _ in range(400))
    image = make_image(big, str(d / "full.qcow2"), "qcow2", compress=True)
    os.unlink(big)
    return image


@pytest.mark.parametrize("tier2", [False, True])
def test_backend_disk_full_while_writing(expanding_image, make_backend, tier2):
    """The volume's filesystem (a small XFS) fills up during qemu-img convert: the
    volume ends ``error`` with its file removed; with tier 2 the failed image-volume
    leaves nothing at all."""
    requires_root()
    image = expanding_image
    with loop_filesystem("xfs", size_bytes=320 * MiB) as fs:
        backend = make_backend(fs.mountpoint, max_over_subscription_ratio=10.0)
        free = os.statvfs(fs.mountpoint).f_bavail
        with pytest.raises(exc.BackendError, match="No space left"):
            backend.create_volume(1, name="too-much", image=image,
                                  image_volume_cache=tier2)
        if tier2:
            assert backend.volumes == []
            assert backend.persistence.get_key_values() == []
        else:
            [vol] = backend.volumes
            assert (vol.name, vol.status) == ("too-much", "error")
        assert os.listdir(os.path.join(backend.driver.root, "volumes")) == []
        assert os.statvfs(fs.mountpoint).f_bavail >= free - 1024  # the space came back
        backend.close()


def test_xattr_cache_needs_xattrs(tmp_path):
    """ramfs has no user extended attributes: configure() says so; sqlite works there."""
    requires_root()
    mnt = tmp_path / "ramfs"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "ramfs", "ramfs", str(mnt)], check=True, timeout=30)
    try:
        with pytest.raises(exc.InvalidConfig) as info:
            XattrImageCache(str(mnt / "cache")).configure()
        assert "extended attributes" in str(info.value) and "ramfs" in str(info.value)
        assert "sqlite" in str(info.value)
        load_driver("sqlite", str(mnt / "cache")).configure()
    finally:
        subprocess.run(["umount", str(mnt)], check=True, timeout=30)
