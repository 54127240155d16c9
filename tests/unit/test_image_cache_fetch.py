"""Fetching images from files and from a real loopback HTTP server."""

from __future__ import annotations

import hashlib
import os
import socket
import threading

import pytest

from volumelib import exceptions as exc
from volumelib.image_cache import exceptions as ic_exc
from volumelib.image_cache import fetch
from volumelib.image_cache.fetch import Image
from volumelib.image_cache.sqlite import SQLiteImageCache
from volumelib.testing.image_cache import FakeClock, image_server

MiB = 1024 ** 2


@pytest.fixture
def served(tmp_path):
    directory = tmp_path / "www"
    directory.mkdir()
    data = os.urandom(3 * MiB) + bytes(2 * MiB) + b"tail"
    (directory / "disk.img").write_bytes(data)
    with image_server(str(directory)) as server:
        yield server, data, directory
    assert not [t for t in threading.enumerate() if t.name == "volumelib-image-server"]


@pytest.fixture
def cache(tmp_path):
    c = SQLiteImageCache(str(tmp_path / "cache"), clock=FakeClock())
    c.configure()
    return c


def test_image_ids_are_stable_and_checked(tmp_path):
    a, b = Image("/srv/img.qcow2"), Image("file:///srv/img.qcow2")
    assert a.id == b.id and a.local_path == "/srv/img.qcow2"
    assert Image("http://h/x").id != a.id and Image("http://h/x").is_http
    assert Image("/x", id="glance-uuid-1").id == "glance-uuid-1"
    assert Image.of({"source": "/x", "checksum": "md5:" + "0" * 32}).checksum
    for bad in ({"source": ""}, {"source": "ftp://h/x"}, {"source": "/x", "id": "../x"},
                {"source": "/x", "checksum": "sha256:00"}):
        with pytest.raises(exc.InvalidArgument):
            Image(**bad)
    with pytest.raises(exc.InvalidArgument):
        Image.of(42)


def test_probe_a_file_and_its_version(tmp_path):
    path = tmp_path / "img"
    path.write_bytes(b"one")
    first = fetch.probe(Image(str(path)))
    assert first.size == 3
    path.write_bytes(b"other")
    assert fetch.probe(Image(str(path))).version != first.version
    with pytest.raises(ic_exc.ImageNotFound):
        fetch.probe(Image(str(tmp_path / "missing")))
    with pytest.raises(ic_exc.CorruptImage):
        fetch.probe(Image(str(tmp_path)))


def test_probe_http(served):
    server, data, directory = served
    info = fetch.probe(Image(server.url("disk.img")))
    assert info.size == len(data) and info.version.startswith("etag=")
    assert server.requests == [("HEAD", "/files/disk.img")]  # nothing downloaded
    (directory / "disk.img").write_bytes(b"changed")
    assert fetch.probe(Image(server.url("disk.img"))).version != info.version
    assert fetch.probe(Image(server.url("disk.img", "stream"))) == fetch.SourceInfo(None, None)


@pytest.mark.parametrize("url,error", [("status/404", ic_exc.ImageNotFound),
                                       ("status/410", ic_exc.ImageNotFound),
                                       ("status/500", ic_exc.ImageFetchError),
                                       ("status/403", ic_exc.ImageFetchError),
                                       ("files/nothing-here", ic_exc.ImageNotFound)])
def test_http_errors(served, url, error):
    server = served[0]
    image = Image(f"http://127.0.0.1:{server.port}/{url}")
    with pytest.raises(error) as info:
        fetch.probe(image)
    assert "HTTP" in str(info.value)
    with pytest.raises(error):
        fetch.stream(image, lambda chunk: None)


def test_an_unreachable_server(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ic_exc.ImageFetchError) as info:
        fetch.probe(Image(f"http://127.0.0.1:{port}/x"))
    assert "refused" in str(info.value).lower()


def test_fetch_into_cache_with_progress(served, cache):
    server, data, _ = served
    seen = []
    image = Image(server.url("disk.img"), checksum="sha256:" + hashlib.sha256(data).hexdigest())
    record = fetch.fetch_into_cache(cache, image, progress=lambda *a: seen.append(a))
    assert record.size == len(data) and record.meta["source"] == image.source
    assert record.meta["version"].startswith("etag=")
    with cache.open_for_read(image.id) as f:
        assert f.read() == data
    assert seen[0] == ("download", 0, len(data)) and seen[-1] == ("download", len(data),
                                                                  len(data))
    assert [d for _, d, _ in seen] == sorted(d for _, d, _ in seen)


def test_stream_without_length(served, cache):
    server, data, _ = served
    image = Image(server.url("disk.img", "stream"))
    fetch.fetch_into_cache(cache, image)
    with cache.open_for_read(image.id) as f:
        assert f.read() == data


def test_truncated_download_is_never_served(served, cache):
    server, data, _ = served
    bad = Image(server.url("disk.img", f"truncate/{MiB}"), id="disk")
    with pytest.raises(ic_exc.ImageFetchError) as info:
        fetch.fetch_into_cache(cache, bad)
    assert "truncated" in str(info.value) or "broke off" in str(info.value)
    assert not cache.is_cached("disk")
    assert os.listdir(cache.invalid_dir) == ["disk"] and os.listdir(cache.incomplete_dir) == []
    with pytest.raises(ic_exc.ImageNotCached):
        cache.open_for_read("disk").__enter__()
    fetch.fetch_into_cache(cache, Image(server.url("disk.img"), id="disk"))  # retry works
    with cache.open_for_read("disk") as f:
        assert f.read() == data


def test_checksum_mismatch_over_http(served, cache):
    server = served[0]
    image = Image(server.url("disk.img"), checksum="md5:" + "0" * 32)
    with pytest.raises(ic_exc.ChecksumMismatch):
        fetch.fetch_into_cache(cache, image)
    assert not cache.is_cached(image.id)


def test_download_to_a_file(served, tmp_path):
    server, data, _ = served
    target = tmp_path / "copy"
    got = fetch.download_to(Image(server.url("disk.img")), str(target))
    assert target.read_bytes() == data and got.size == len(data)
    assert os.stat(target).st_blocks * 512 < len(data)  # the zero MiBs are holes
    bad = tmp_path / "bad"
    with pytest.raises(ic_exc.ImageFetchError):
        fetch.download_to(Image(server.url("disk.img", "truncate/100")), str(bad))
    assert not bad.exists()


def test_prefetch(served, cache):
    server, data, _ = served
    assert cache.queue_image("good", source=server.url("disk.img"))
    assert cache.queue_image("gone", source=server.url("nothing"))
    assert cache.queue_image("nowhere")
    result = fetch.prefetch(cache)
    assert result["cached"] == ["good"]
    assert set(result["failed"]) == {"gone", "nowhere"} and "404" in result["failed"]["gone"]
    assert cache.get_queued_images() == ["gone", "nowhere"]  # failures stay queued
    with cache.open_for_read("good") as f:
        assert f.read() == data
