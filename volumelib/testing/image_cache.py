"""The image cache conformance suite, and tools for image tests.

A cache driver joins the suite with a fixtures subclass and one test class::

    from volumelib.testing import image_cache as suite

    class MyFixtures(suite.ImageCacheFixtures):
        @pytest.fixture
        def cache(self, tmp_path, clock):
            c = MyCache(str(tmp_path / "cache"), clock=clock)
            c.configure()
            return c

    class TestMine(MyFixtures, suite.ImageCacheSuite):
        pass

``cache`` raises until it is overridden. Tests needing limits build a *variant*
(:meth:`ImageCacheFixtures.make_variant`: same class, options of the fixture plus
the test's, in a sibling directory); override it when the driver's constructor needs
more. Time is the ``clock`` fixture (:class:`FakeClock`), never a sleep.

Also here: :class:`ImageServer`, a loopback HTTP server with fault endpoints, and
:func:`make_raw` / :func:`make_image`, which build real images with ``qemu-img``.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import os
import struct
import subprocess
import threading
import urllib.parse
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from volumelib import exceptions as exc
from volumelib.image_cache import exceptions as ic_exc

__all__ = [
    "ChecksumTests",
    "CleanTests",
    "FakeClock",
    "ImageCacheFixtures",
    "ImageCacheSuite",
    "ImageServer",
    "LimitTests",
    "QueueTests",
    "StateTests",
    "WriteReadTests",
    "corrupt_compressed_cluster",
    "image_server",
    "make_image",
    "make_raw",
]

KiB = 1024
MiB = 1024 ** 2


class FakeClock:
    """A clock tests move by hand: ``clock()`` is ``clock.now``."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


# -- images -------------------------------------------------------------------------

def make_raw(path: str, size: int, writes: Mapping[int, bytes]) -> str:
    """A sparse raw file of ``size`` bytes with ``writes`` (``offset -> bytes``)."""
    with open(path, "wb") as f:
        f.truncate(size)
        for offset, data in writes.items():
            f.seek(offset)
            f.write(data)
    return path


def make_image(raw: str, path: str, fmt: str = "qcow2", *, compress: bool = False) -> str:
    """Convert the raw file ``raw`` into ``path`` in ``fmt`` with ``qemu-img``."""
    cmd = ["qemu-img", "convert", "-f", "raw", "-O", fmt]
    if compress:
        cmd.append("-c")
    subprocess.run([*cmd, raw, path], check=True, capture_output=True, timeout=300)
    return path


def corrupt_compressed_cluster(path: str) -> None:
    """Overwrite the deflate stream of the first compressed cluster: the metadata stays
    valid (``qemu-img check`` passes) but reading the data fails."""
    with open(path, "r+b") as f:
        header = f.read(48)
        cluster_bits = struct.unpack(">I", header[20:24])[0]
        l1_offset = struct.unpack(">Q", header[40:48])[0]
        f.seek(l1_offset)
        l2_offset = struct.unpack(">Q", f.read(8))[0] & 0x00FFFFFFFFFFFE00
        f.seek(l2_offset)
        entry = struct.unpack(">Q", f.read(8))[0]
        assert entry & (1 << 62), "not a compressed cluster"
        f.seek((entry & ((1 << (62 - (cluster_bits - 8))) - 1)) + 16)
        f.write(b"\xde\xad\xbe\xef" * 64)


# -- a loopback HTTP server ------------------------------------------------------------

class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def do_GET(self) -> None:
        self._serve(body=True)

    def _serve(self, body: bool) -> None:
        self.server.owner.requests.append((self.command, self.path))
        parts = urllib.parse.unquote(self.path).lstrip("/").split("/")
        kind, args = parts[0], parts[1:]
        if kind == "status":
            self.send_error(int(args[0]))
            return
        path = os.path.join(self.server.owner.directory, os.path.basename(args[-1]
                                                                          if args else ""))
        if kind not in ("files", "truncate", "stream") or not os.path.isfile(path):
            self.send_error(404)
            return
        st = os.stat(path)
        length = st.st_size
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        if kind == "files":
            self.send_header("Content-Length", str(length))
            self.send_header("ETag", f'"{st.st_mtime_ns:x}-{st.st_size:x}"')
            self.send_header("Last-Modified", self.date_time_string(int(st.st_mtime)))
        elif kind == "truncate":  # promises everything, sends args[0] bytes
            self.send_header("Content-Length", str(length))
            length = min(length, int(args[0]))
        self.end_headers()  # stream: no length, no validators; the body ends at close
        if body:
            with open(path, "rb") as f, \
                    contextlib.suppress(BrokenPipeError, ConnectionResetError):
                while length > 0:
                    chunk = f.read(min(length, 1024 * 1024))
                    if not chunk:
                        break
                    self.wfile.write(chunk)
                    length -= len(chunk)
                self.wfile.flush()


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    owner: ImageServer


class ImageServer:
    """Serves the files of ``directory`` on ``127.0.0.1`` from a thread.

    URLs (:meth:`url`): ``files/NAME`` (with ``Content-Length``, ``ETag`` from the
    file's mtime and size, ``Last-Modified``), ``stream/NAME`` (no length, no
    validators), ``truncate/N/NAME`` (announces the whole file, sends N bytes and
    closes), ``status/CODE`` (that error). ``requests`` logs ``(method, path)``.
    Use as a context manager; :meth:`stop` joins the thread.
    """

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.requests: list[tuple[str, str]] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> ImageServer:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        name="volumelib-image-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self) -> ImageServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "not started"
        return self._server.server_address[1]

    def url(self, name: str, kind: str = "files") -> str:
        return f"http://127.0.0.1:{self.port}/{kind}/{name}"

    def gets(self, name: str) -> int:
        """How many GETs asked for ``name`` so far."""
        return sum(1 for m, p in self.requests if m == "GET" and p.endswith("/" + name))


# -- the conformance suite -------------------------------------------------------------

class ImageCacheFixtures:
    """Fixtures the suite needs. ``cache`` must be overridden (configured, using the
    ``clock`` fixture as its clock)."""

    @pytest.fixture
    def clock(self) -> FakeClock:
        return FakeClock()

    @pytest.fixture
    def cache(self, clock: FakeClock) -> Any:
        raise NotImplementedError("override the `cache` fixture with a configured "
                                  "ImageCacheDriver using the `clock` fixture")

    def make_variant(self, cache: Any, name: str = "variant", **options: Any) -> Any:
        """Another configured cache of the same class in a sibling directory, with
        the fixture's options updated by ``options``."""
        base = dict(cache.options)
        base.pop("db_path", None)
        base.update(options)
        other = type(cache)(f"{cache.base_dir}-{name}", **base)
        other.configure()
        return other

    def same_dir(self, cache: Any, **options: Any) -> Any:
        """A second driver on the same directory (what another process would see)."""
        base = dict(cache.options)
        base.update(options)
        other = type(cache)(cache.base_dir, **base)
        other.configure()
        return other


def put(cache: Any, image_id: str, data: bytes, **kwargs: Any) -> None:
    with cache.open_for_write(image_id, **kwargs) as w:
        w.write(data)


def read(cache: Any, image_id: str, **kwargs: Any) -> bytes:
    with cache.open_for_read(image_id, **kwargs) as f:
        return f.read()


class WriteReadTests:
    def test_configure_makes_the_layout(self, cache: Any) -> None:
        for sub in ("incomplete", "invalid", "queue"):
            path = os.path.join(cache.base_dir, sub)
            assert os.path.isdir(path) and os.stat(path).st_mode & 0o777 == 0o700

    def test_write_then_read(self, cache: Any) -> None:
        data = os.urandom(300 * KiB)
        put(cache, "img-1", data)
        assert cache.is_cached("img-1") and not cache.is_cacheable("img-1")
        assert read(cache, "img-1") == data
        assert cache.get_image_size("img-1") == len(data)
        assert cache.get_image_filepath("img-1") == os.path.join(cache.base_dir, "img-1")
        assert not os.listdir(cache.incomplete_dir) and not os.listdir(cache.invalid_dir)

    def test_hits_and_times_follow_the_clock(self, cache: Any, clock: FakeClock) -> None:
        written_at = clock.now
        put(cache, "img-1", b"x" * 1000)
        clock.advance(60)
        read(cache, "img-1")
        clock.advance(60)
        read(cache, "img-1")
        [entry] = cache.get_cached_images()
        assert set(entry) >= {"image_id", "hits", "last_modified", "last_accessed", "size"}
        assert (entry["image_id"], entry["hits"], entry["size"]) == ("img-1", 2, 1000)
        assert entry["last_modified"] == written_at
        assert entry["last_accessed"] == written_at + 120

    def test_a_failed_read_block_counts_no_hit(self, cache: Any) -> None:
        put(cache, "img-1", b"abc")
        with pytest.raises(RuntimeError), cache.open_for_read("img-1"):
            raise RuntimeError("consumer failed")
        assert cache.get_cached_images()[0]["hits"] == 0

    def test_cached_images_sorted_and_lru(self, cache: Any, clock: FakeClock) -> None:
        for image_id in ("c", "a", "b"):
            put(cache, image_id, image_id.encode() * 10)
            clock.advance(1)
        read(cache, "c")
        assert [e["image_id"] for e in cache.get_cached_images()] == ["a", "b", "c"]
        assert cache.get_least_recently_accessed() == ("a", 10)

    def test_zero_blocks_stay_holes(self, cache: Any) -> None:
        with cache.open_for_write("sparse") as w:
            w.write(bytes(8 * MiB))
            w.write(b"end" * 1000)
        path = cache.get_image_filepath("sparse")
        st = os.stat(path)
        assert st.st_size == 8 * MiB + 3000
        assert st.st_blocks * 512 < 1 * MiB
        assert read(cache, "sparse")[-3000:] == b"end" * 1000

    def test_bad_ids_are_refused(self, cache: Any) -> None:
        for bad in ("", "../etc", "a/b", ".hidden", "queue", "x" * 200, None):
            with pytest.raises(exc.InvalidArgument):
                cache.get_image_filepath(bad)
        with pytest.raises(exc.InvalidArgument):
            cache.get_image_filepath("ok", "elsewhere")

    def test_delete(self, cache: Any) -> None:
        for image_id in ("a", "b", "c"):
            put(cache, image_id, b"data")
        cache.delete_cached_image("a")
        cache.delete_cached_image("never-there")  # no-op
        assert not cache.is_cached("a") and cache.is_cached("b")
        assert cache.delete_all_cached_images() == 2
        assert cache.get_cached_images() == [] and cache.get_cache_size() == 0

    def test_an_entry_being_read_is_not_deleted(self, cache: Any) -> None:
        put(cache, "a", b"data")
        with cache.open_for_read("a") as f:
            with pytest.raises(ic_exc.ImageInUse):
                cache.delete_cached_image("a")
            assert cache.delete_all_cached_images() == 0
            assert f.read() == b"data"
        assert cache.is_cached("a")
        cache.delete_cached_image("a")
        assert not cache.is_cached("a")

    def test_another_instance_sees_entries_and_pins(self, cache: Any) -> None:
        other = self.same_dir(cache)  # type: ignore[attr-defined]
        put(cache, "a", b"shared")
        assert other.is_cached("a") and read(other, "a") == b"shared"
        with cache.open_for_read("a"), pytest.raises(ic_exc.ImageInUse):
            other.delete_cached_image("a")


class StateTests:
    def test_incomplete_while_writing(self, cache: Any) -> None:
        with cache.open_for_write("img") as w:
            w.write(b"part")
            assert os.path.exists(cache.get_image_filepath("img", "incomplete"))
            assert not cache.is_cached("img") and not cache.is_cacheable("img")
            assert cache.get_cached_images() == []
            with pytest.raises(ic_exc.ImageNotCached):
                cache.open_for_read("img").__enter__()
        assert cache.is_cached("img")
        assert not os.path.exists(cache.get_image_filepath("img", "incomplete"))

    def test_failed_write_lands_in_invalid(self, cache: Any) -> None:
        with pytest.raises(RuntimeError), cache.open_for_write("img") as w:
            w.write(b"half")
            raise RuntimeError("download broke")
        assert os.path.exists(cache.get_image_filepath("img", "invalid"))
        assert not cache.is_cached("img") and cache.is_cacheable("img")
        with pytest.raises(ic_exc.ImageNotCached):
            read(cache, "img")
        put(cache, "img", b"whole")  # a later write is not blocked by the failed one
        assert read(cache, "img") == b"whole"

    def test_writing_a_cached_image_is_refused(self, cache: Any) -> None:
        put(cache, "img", b"one")
        with pytest.raises(exc.AlreadyExists):
            put(cache, "img", b"two")
        assert read(cache, "img") == b"one"

    def test_one_writer_at_a_time(self, cache: Any) -> None:
        with cache.open_for_write("img") as w:
            w.write(b"first")
            with pytest.raises(ic_exc.ImageInUse):
                put(self.same_dir(cache), "img", b"second")  # type: ignore[attr-defined]
        assert read(cache, "img") == b"first"

    def test_racing_writers(self, cache: Any) -> None:
        data = os.urandom(256 * KiB)
        outcomes: list[Any] = []

        def write() -> None:
            try:
                put(self.same_dir(cache), "img", data)  # type: ignore[attr-defined]
                outcomes.append("cached")
            except (ic_exc.ImageInUse, exc.AlreadyExists) as e:
                outcomes.append(type(e).__name__)
            except Exception as e:  # noqa: BLE001 - anything else is the failure
                outcomes.append(e)

        threads = [threading.Thread(target=write) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert len(outcomes) == 8 and outcomes.count("cached") == 1, outcomes
        assert set(outcomes) <= {"cached", "ImageInUse", "AlreadyExists"}, outcomes
        assert read(cache, "img") == data
        assert os.listdir(cache.incomplete_dir) == os.listdir(cache.invalid_dir) == []

    def test_a_dead_writers_leftover_is_replaced(self, cache: Any) -> None:
        with open(cache.get_image_filepath("img", "incomplete"), "wb") as f:
            f.write(b"left by a crashed process")
        put(cache, "img", b"fresh")
        assert read(cache, "img") == b"fresh"


class ChecksumTests:
    def test_sha256_is_recorded(self, cache: Any) -> None:
        data = os.urandom(70 * KiB)
        put(cache, "img", data)
        record = cache.get_cached_image("img")
        assert record.checksum == "sha256:" + hashlib.sha256(data).hexdigest()

    def test_expected_checksums(self, cache: Any) -> None:
        data = b"image bytes" * 100
        put(cache, "a", data, checksum="sha256:" + hashlib.sha256(data).hexdigest())
        put(cache, "b", data, checksum=hashlib.md5(data).hexdigest())
        assert cache.is_cached("a") and cache.is_cached("b")

    def test_mismatch_is_refused_and_not_served(self, cache: Any) -> None:
        with pytest.raises(ic_exc.ChecksumMismatch) as info:
            put(cache, "img", b"bad bytes", checksum="sha256:" + "0" * 64)
        assert info.value.expected == "sha256:" + "0" * 64
        assert not cache.is_cached("img")
        assert os.path.exists(cache.get_image_filepath("img", "invalid"))

    def test_bad_checksum_syntax(self, cache: Any) -> None:
        for bad in ("sha256:xyz", "nope:00", "abc"):
            with pytest.raises(exc.InvalidArgument):
                put(cache, "img", b"x", checksum=bad)

    def test_damaged_entries_are_caught_and_quarantined(self, cache: Any) -> None:
        put(cache, "flip", b"A" * 4096)
        put(cache, "grow", b"B" * 4096)
        with open(cache.get_image_filepath("flip"), "r+b") as f:
            f.write(b"Z")  # same size, other bytes: only a re-hash sees it
        with open(cache.get_image_filepath("grow"), "ab") as f:
            f.write(b"more")
        assert read(cache, "flip") == b"Z" + b"A" * 4095  # no verify: size matches
        with pytest.raises(ic_exc.ChecksumMismatch):
            read(cache, "flip", verify=True)
        with pytest.raises(ic_exc.ChecksumMismatch):
            read(cache, "grow")
        assert not cache.is_cached("flip") and not cache.is_cached("grow")
        assert sorted(os.listdir(cache.invalid_dir)) == ["flip", "grow"]


class LimitTests:
    def test_max_count_evicts_least_recently_used(self, cache: Any, clock: FakeClock) -> None:
        small = self.make_variant(cache, max_count=2)  # type: ignore[attr-defined]
        put(small, "a", b"a")
        clock.advance(1)
        put(small, "b", b"b")
        clock.advance(1)
        read(small, "a")  # b is now the least recently used
        clock.advance(1)
        put(small, "c", b"c")
        assert [e["image_id"] for e in small.get_cached_images()] == ["a", "c"]

    def test_max_size_evicts_until_it_fits(self, cache: Any, clock: FakeClock) -> None:
        small = self.make_variant(cache, max_size=1000)  # type: ignore[attr-defined]
        for image_id in ("a", "b", "c"):
            put(small, image_id, b"x" * 300)
            clock.advance(1)
        put(small, "d", b"y" * 500)  # needs 800 bytes free: a and b go
        assert [e["image_id"] for e in small.get_cached_images()] == ["c", "d"]
        assert small.get_cache_size() <= 1000

    def test_an_image_larger_than_the_cache(self, cache: Any) -> None:
        small = self.make_variant(cache, max_size=1000)  # type: ignore[attr-defined]
        put(small, "keep", b"k" * 100)
        with pytest.raises(ic_exc.ImageCacheFull) as info:
            put(small, "big", b"z" * 2000, size=2000)
        assert info.value.no_space is False
        with pytest.raises(ic_exc.ImageCacheFull):  # size unknown: found while writing
            with small.open_for_write("big") as w:
                for _ in range(20):
                    w.write(b"z" * 100 * KiB)
        assert small.is_cached("keep")
        assert not os.listdir(small.incomplete_dir) and not os.listdir(small.invalid_dir)

    def test_incomplete_writes_count(self, cache: Any) -> None:
        small = self.make_variant(cache, max_size=1000)  # type: ignore[attr-defined]
        with small.open_for_write("slow", size=800) as w:
            assert small.get_cache_size() == 800
            with pytest.raises(ic_exc.ImageCacheFull):
                put(small, "other", b"o" * 300, size=300)
            w.write(b"s" * 800)
        assert small.is_cached("slow") and not small.is_cached("other")

    def test_entries_being_read_are_never_evicted(self, cache: Any, clock: FakeClock) -> None:
        small = self.make_variant(cache, max_count=2)  # type: ignore[attr-defined]
        put(small, "old", b"o")
        clock.advance(1)
        put(small, "new", b"n")
        clock.advance(1)
        with small.open_for_read("old") as f:
            put(small, "third", b"t")  # evicts "new", not the pinned "old"
            assert f.read() == b"o"
            assert not small.is_cached("new")
            with pytest.raises(ic_exc.ImageCacheFull):
                with small.open_for_read("third"):
                    put(small, "fourth", b"f")  # both pinned: no room, nothing evicted
        assert small.is_cached("old") and small.is_cached("third")

    def test_failed_writes_are_evicted_first(self, cache: Any, clock: FakeClock) -> None:
        small = self.make_variant(cache, max_count=2)  # type: ignore[attr-defined]
        put(small, "a", b"a")
        with pytest.raises(RuntimeError), small.open_for_write("broken") as w:
            w.write(b"b")
            raise RuntimeError
        put(small, "c", b"c")
        assert small.is_cached("a") and small.is_cached("c")
        assert os.listdir(small.invalid_dir) == []

    def test_prune_after_limits_are_lowered(self, cache: Any, clock: FakeClock) -> None:
        for image_id in ("a", "b", "c", "d"):
            put(cache, image_id, b"x" * 100)
            clock.advance(1)
        read(cache, "a")
        limited = self.same_dir(cache, max_size=250)  # type: ignore[attr-defined]
        assert limited.prune() == (2, 200)  # b and c: a was read last
        assert [e["image_id"] for e in cache.get_cached_images()] == ["a", "d"]
        assert limited.prune() == (0, 0)


class CleanTests:
    def test_clean_removes_failed_and_dead_writes(self, cache: Any) -> None:
        with pytest.raises(RuntimeError), cache.open_for_write("bad") as w:
            w.write(b"x")
            raise RuntimeError
        with open(cache.get_image_filepath("dead", "incomplete"), "wb") as f:
            f.write(b"crashed writer")
        assert cache.clean() == 2
        assert os.listdir(cache.invalid_dir) == [] and os.listdir(cache.incomplete_dir) == []

    def test_live_writes_are_kept_until_stalled(self, cache: Any, clock: FakeClock) -> None:
        with pytest.raises(ic_exc.ImageError), cache.open_for_write("slow") as w:
            w.write(b"progress")
            clock.now = os.stat(cache.get_image_filepath("slow", "incomplete")).st_mtime
            clock.advance(100)
            assert cache.clean(stall_time=1000) == 0
            assert os.path.exists(cache.get_image_filepath("slow", "incomplete"))
            clock.advance(1000)
            assert cache.clean(stall_time=1000) == 1
            w.write(b"more")  # the stalled writer finds out when it completes
        assert not cache.is_cached("slow")

    def test_clean_keeps_active_entries(self, cache: Any) -> None:
        put(cache, "good", b"g")
        assert cache.clean() == 0 and read(cache, "good") == b"g"

    def test_files_without_records_are_not_served(self, cache: Any) -> None:
        with open(os.path.join(cache.base_dir, "stray"), "wb") as f:
            f.write(b"copied in by hand")
        assert not cache.is_cached("stray")
        with pytest.raises(ic_exc.ImageNotCached):
            read(cache, "stray")
        assert cache.clean() == 1
        assert not os.path.exists(os.path.join(cache.base_dir, "stray"))


class QueueTests:
    def test_queue(self, cache: Any, clock: FakeClock) -> None:
        for image_id in ("q3", "q1", "q2"):
            assert cache.queue_image(image_id, source=f"http://x/{image_id}")
            clock.advance(1)
        assert cache.get_queued_images() == ["q3", "q1", "q2"]
        assert cache.is_queued("q1") and not cache.is_queued("other")
        assert not cache.queue_image("q1")  # queued already
        assert cache.get_queued_image("q1")["source"] == "http://x/q1"
        cache.delete_queued_image("q1")
        cache.delete_queued_image("q1")  # no-op
        assert cache.get_queued_images() == ["q3", "q2"]
        assert cache.delete_all_queued_images() == 2 and cache.get_queued_images() == []

    def test_cached_or_writing_images_are_not_queued(self, cache: Any) -> None:
        put(cache, "done", b"d")
        assert not cache.queue_image("done")
        with cache.open_for_write("busy") as w:
            w.write(b"b")
            assert not cache.queue_image("busy")
        assert cache.get_queued_images() == []

    def test_checksum_is_kept_and_checked(self, cache: Any) -> None:
        with pytest.raises(exc.InvalidArgument):
            cache.queue_image("img", checksum="md5:zz")
        assert cache.queue_image("img", source="/x", checksum="md5:" + "0" * 32)
        assert cache.get_queued_image("img")["checksum"] == "md5:" + "0" * 32


class ImageCacheSuite(WriteReadTests, StateTests, ChecksumTests, LimitTests, CleanTests,
                      QueueTests):
    """Every test of the image cache contract."""


@contextlib.contextmanager
def image_server(directory: str) -> Iterator[ImageServer]:
    """``with image_server(dir) as server``: started and always stopped."""
    server = ImageServer(directory).start()
    try:
        yield server
    finally:
        server.stop()
