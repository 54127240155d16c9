"""Both image cache drivers pass the conformance suite; what is specific to each."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

import pytest

from volumelib import exceptions as exc
from volumelib.image_cache import exceptions as ic_exc
from volumelib.image_cache import load_driver
from volumelib.image_cache.sqlite import SQLiteImageCache
from volumelib.image_cache.xattr import PREFIX, XattrImageCache
from volumelib.testing import image_cache as suite


class SQLiteFixtures(suite.ImageCacheFixtures):
    @pytest.fixture
    def cache(self, tmp_path, clock):
        c = SQLiteImageCache(str(tmp_path / "cache"), clock=clock)
        c.configure()
        return c


class XattrFixtures(suite.ImageCacheFixtures):
    @pytest.fixture
    def cache(self, tmp_path, clock):
        c = XattrImageCache(str(tmp_path / "cache"), clock=clock)
        c.configure()
        return c


class TestSQLiteCache(SQLiteFixtures, suite.ImageCacheSuite):
    def test_index_lives_in_sqlite(self, cache):
        suite.put(cache, "img", b"data")
        with sqlite3.connect(cache.db_path) as db:
            rows = db.execute("SELECT image_id, size, hits FROM cached_images").fetchall()
        assert rows == [("img", 4, 0)]

    def test_a_crash_between_rename_and_insert(self, cache):
        suite.put(cache, "img", b"data")
        with sqlite3.connect(cache.db_path) as db:  # the row never made it
            db.execute("DELETE FROM cached_images")
        assert not cache.is_cached("img") and cache.get_cached_images() == []
        assert cache.clean() == 1
        assert not os.path.exists(cache.get_image_filepath("img"))

    def test_rows_without_files_are_cleaned(self, cache):
        suite.put(cache, "img", b"data")
        os.unlink(cache.get_image_filepath("img"))
        assert not cache.is_cached("img") and cache.get_cached_images() == []
        assert cache.clean() == 1
        with sqlite3.connect(cache.db_path) as db:
            assert db.execute("SELECT COUNT(*) FROM cached_images").fetchone() == (0,)


class TestXattrCache(XattrFixtures, suite.ImageCacheSuite):
    def test_index_lives_in_xattrs(self, cache):
        suite.put(cache, "img", b"data")
        suite.read(cache, "img")
        path = cache.get_image_filepath("img")
        assert os.getxattr(path, PREFIX + "hits") == b"1"
        assert os.getxattr(path, PREFIX + "checksum").startswith(b"sha256:")
        assert not [n for n in os.listdir(cache.base_dir) if "sqlite" in n]


def test_load_driver_by_name_and_class(tmp_path):
    a = load_driver("sqlite", str(tmp_path / "a"), max_count=3)
    b = load_driver("xattr", str(tmp_path / "b"))
    c = load_driver(XattrImageCache, str(tmp_path / "c"))
    assert (type(a), type(b), type(c)) == (SQLiteImageCache, XattrImageCache, XattrImageCache)
    assert a.max_count == 3 and os.path.isdir(tmp_path / "a" / "queue")


def test_unknown_driver_lists_available(tmp_path):
    with pytest.raises(exc.DriverNotFound) as info:
        load_driver("redis", str(tmp_path))
    assert "sqlite" in str(info.value) and "xattr" in str(info.value)


@pytest.mark.parametrize("bad", [{"max_size": 0}, {"max_count": -1}, {"max_size": "1G"},
                                 {"stall_time": -5}, {"colour": "blue"}])
def test_bad_options(tmp_path, bad):
    with pytest.raises(exc.InvalidConfig):
        load_driver("sqlite", str(tmp_path), **bad)


def test_unusable_base_dir(tmp_path):
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(exc.InvalidConfig):
        load_driver("sqlite", str(tmp_path / "file"))


@pytest.mark.parametrize("driver", ["sqlite", "xattr"])
def test_a_reader_in_another_process_pins_the_entry(tmp_path, driver):
    cache = load_driver(driver, str(tmp_path / "cache"), max_count=1)
    suite.put(cache, "pinned", b"bytes")
    script = (
        "import sys\n"
        "from volumelib.image_cache import load_driver\n"
        f"c = load_driver({driver!r}, {str(tmp_path / 'cache')!r})\n"
        "with c.open_for_read('pinned') as f:\n"
        "    print(f.read().decode(), flush=True)\n"
        "    sys.stdin.readline()\n")
    reader = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert reader.stdout.readline().strip() == "bytes"  # it holds the pin now
        with pytest.raises(ic_exc.ImageInUse):
            cache.delete_cached_image("pinned")
        with pytest.raises(ic_exc.ImageCacheFull):  # max_count=1 and nothing evictable
            suite.put(cache, "other", b"x")
        assert cache.is_cached("pinned")
    finally:
        reader.communicate("done\n", timeout=30)
    assert reader.returncode == 0
    suite.put(cache, "other", b"x")  # the pin is gone: now it is evicted
    assert not cache.is_cached("pinned") and cache.is_cached("other")
    assert cache.get_cached_images()[0]["image_id"] == "other"
