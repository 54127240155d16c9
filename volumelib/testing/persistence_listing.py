"""Conformance tests for listing and counting: name filters, snapshots pages, counts.

Mixed into the persistence suite of every store (memory, SQLite, PostgreSQL,
MariaDB)::

    from volumelib.testing import persistence as suite
    from volumelib.testing import persistence_listing as listing

    class TestMyStore(MyStoreFixtures, suite.PersistenceSuite, listing.ListingSuite):
        pass

What is checked (see ``docs/pools.md``, "Listing and counts"):

* ``filters={"name~": text}`` (contains) and ``{"name^": text}`` (starts with) are
  literal and case-sensitive on every store: ``%``, ``_`` and ``\\`` in ``text`` are
  ordinary characters (SQL ``LIKE`` wildcards must not leak through), ``"DATA"`` does
  not match ``"data"`` (SQLite's ``LIKE`` is case-insensitive by default), and an
  unnamed volume never matches.
* ``count_volumes``/``count_snapshots`` count exactly what the listing returns, with
  the same filters; ``usage_by_project`` sums volumes, gigabytes and the snapshots of
  the volumes that match.
* ``list_snapshots`` pages like ``list_volumes``: ``(created_at, id)`` order,
  ``marker``/``limit``, every snapshot once.
"""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from volumelib import exceptions as exc
from volumelib.objects import Snapshot, Volume
from volumelib.testing.persistence import BACKEND, ids, new_id, new_snapshot, saved_volume

__all__ = ["NameFilterTests", "CountTests", "SnapshotListingTests", "ListingSuite",
           "TRICKY_NAMES"]

UTC = datetime.timezone.utc

#: Names whose matching goes wrong if LIKE wildcards or case folding leak through.
TRICKY_NAMES = ("data_1", "dataX1", "Data_1", "50%", "500", "50%off", "a\\b", "ab",
                "back\\slash", "under_score_", "ünï_code", "ÜNÏ_CODE", "plain")


def _fill_names(store: Any) -> dict[str, Volume]:
    base = datetime.datetime(2024, 3, 1, tzinfo=UTC)
    vols = {}
    for i, name in enumerate(TRICKY_NAMES):
        vols[name] = saved_volume(store, name=name, project_id=f"p{i % 2}",
                                  size=1 + i % 3,
                                  created_at=base + datetime.timedelta(seconds=i),
                                  metadata={"even": str(i % 2 == 0)})
    saved_volume(store, name=None, created_at=base + datetime.timedelta(seconds=99))
    return vols


def _expected(pred: Any) -> list[str]:
    return [n for n in TRICKY_NAMES if pred(n)]


def _names(items: list[Any]) -> list[str]:
    return [v.name for v in items]


class NameFilterTests:
    """``name~`` (contains) and ``name^`` (starts with) are literal, case-sensitive."""

    @pytest.mark.parametrize("key, text", [
        ("name~", "_"), ("name~", "%"), ("name~", "\\"), ("name~", "a_1"),
        ("name~", "DATA"), ("name~", "data"), ("name~", "ï_c"), ("name~", "Ï_C"),
        ("name~", "ünï"), ("name^", "data_"), ("name^", "50"), ("name^", "50%"),
        ("name^", "a\\"), ("name^", "_"), ("name^", "Data"), ("name^", "plain"),
        ("name~", "nothing-like-it"), ("name~", "%%"), ("name^", "\\"),
    ])
    def test_literal_and_case_sensitive(self, store: Any, key: str, text: str) -> None:
        _fill_names(store)
        if key == "name~":
            want = _expected(lambda n: text in n)
        else:
            want = _expected(lambda n: n.startswith(text))
        items, marker = store.list_volumes(filters={key: text})
        assert _names(items) == want and marker is None
        assert store.count_volumes(filters={key: text}) == len(want)

    def test_empty_text_matches_every_named_volume(self, store: Any) -> None:
        _fill_names(store)
        items, _ = store.list_volumes(filters={"name~": ""})
        assert _names(items) == list(TRICKY_NAMES)
        assert store.count_volumes(filters={"name^": ""}) == len(TRICKY_NAMES)
        assert store.count_volumes() == len(TRICKY_NAMES) + 1

    def test_with_pages_metadata_and_project(self, store: Any) -> None:
        _fill_names(store)
        filters = {"name~": "_", "metadata": {"even": "True"}}
        want = [n for i, n in enumerate(TRICKY_NAMES) if "_" in n and i % 2 == 0]
        seen: list[str] = []
        marker = None
        while True:
            items, marker = store.list_volumes(filters=filters, marker=marker, limit=1)
            seen += _names(items)
            if marker is None:
                break
        assert seen == want and want
        assert store.count_volumes(filters=filters) == len(want)
        want_p1 = [n for i, n in enumerate(TRICKY_NAMES) if n.startswith("5") and i % 2]
        items, _ = store.list_volumes(filters={"name^": "5"}, project_id="p1")
        assert _names(items) == want_p1
        assert store.count_volumes(filters={"name^": "5"}, project_id="p1") == len(want_p1)
        both = {"name^": "data", "name~": "_"}
        assert _names(store.list_volumes(filters=both)[0]) == ["data_1"]

    def test_equality_filters_combine_with_name_filters(self, store: Any) -> None:
        vols = _fill_names(store)
        size = vols["data_1"].size
        want = [n for n in TRICKY_NAMES if "a" in n and vols[n].size == size]
        items, _ = store.list_volumes(filters={"name~": "a", "size": size})
        assert _names(items) == want
        assert store.count_volumes(filters={"name~": "a", "size": size}) == len(want)

    @pytest.mark.parametrize("filters", [
        {"name~": 3}, {"name^": None}, {"name^": ["a"]}, {"name*": "a"},
    ])
    def test_bad_name_filters(self, store: Any, filters: dict[str, Any]) -> None:
        _fill_names(store)
        with pytest.raises(exc.InvalidArgument, match="name"):
            store.list_volumes(filters=filters)
        with pytest.raises(exc.InvalidArgument, match="name"):
            store.count_volumes(filters=filters)


class CountTests:
    """Counts honour every filter the listing takes, and skip deleted rows."""

    @staticmethod
    def _fill_counted(store: Any) -> list[Volume]:
        base = datetime.datetime(2024, 1, 1, tzinfo=UTC)
        vols = []
        for i in range(12):
            vols.append(saved_volume(
                store, name=f"vol-{i}", project_id=("p0", "p1", None)[i % 3],
                size=1 + i, status="available" if i % 4 else "error",
                backend_name=BACKEND if i < 10 else "other",
                created_at=base + datetime.timedelta(seconds=i),
                metadata={"tier": "gold" if i % 2 else "silver"}))
        return vols

    def test_empty_store(self, store: Any) -> None:
        assert store.count_volumes() == 0
        assert store.count_snapshots() == 0
        assert store.usage_by_project() == {}

    @pytest.mark.parametrize("filters, project_id, backend_name", [
        (None, None, None),
        ({"status": "error"}, None, None),
        ({"metadata": {"tier": "gold"}}, None, None),
        ({"metadata": {"tier": "gold"}, "status": "available"}, "p1", None),
        ({"name^": "vol-1"}, None, BACKEND),
        ({"name~": "-1"}, "p0", None),
        ({"size": 3}, None, None),
        (None, "nobody", None),
    ])
    def test_count_is_the_listing_length(self, store: Any, filters: Any,
                                         project_id: Any, backend_name: Any) -> None:
        self._fill_counted(store)
        items, _ = store.list_volumes(filters=filters, project_id=project_id,
                                      backend_name=backend_name)
        assert store.count_volumes(filters=filters, project_id=project_id,
                                   backend_name=backend_name) == len(items)

    def test_usage_by_project(self, store: Any) -> None:
        vols = self._fill_counted(store)
        for v in vols[:5]:
            store.set_snapshot(new_snapshot(v, project_id=v.project_id,
                                            created_at=v.created_at))
        store.set_snapshot(new_snapshot(vols[0], project_id=vols[0].project_id))
        first_five = {v.id for v in vols[:5]}

        def usage(chosen: list[Volume]) -> dict[Any, dict[str, int]]:
            out: dict[Any, dict[str, int]] = {}
            for v in chosen:
                u = out.setdefault(v.project_id, {"volumes": 0, "gigabytes": 0,
                                                  "snapshots": 0, "snapshot_gigabytes": 0})
                u["volumes"] += 1
                u["gigabytes"] += v.size
                n = 2 if v.id == vols[0].id else (1 if v.id in first_five else 0)
                u["snapshots"] += n
                u["snapshot_gigabytes"] += n * v.size
            return out

        assert store.usage_by_project() == usage(vols)
        gold = [v for v in vols if v.metadata["tier"] == "gold"]
        assert store.usage_by_project(filters={"metadata": {"tier": "gold"}}) == usage(gold)
        silver_ok = [v for v in vols if v.metadata["tier"] == "silver"
                     and v.status == "error"]
        assert store.usage_by_project(filters={"metadata": {"tier": "silver"},
                                               "status": "error"}) == usage(silver_ok)
        assert store.usage_by_project(project_id="p0") == usage(
            [v for v in vols if v.project_id == "p0"])
        assert store.usage_by_project(backend_name="other") == usage(vols[10:])
        assert store.count_snapshots() == 6
        assert store.count_snapshots(project_id="p0") == 3  # vols 0 (x2) and 3
        assert store.count_snapshots(filters={"volume_id": vols[0].id}) == 2

    def test_deleted_rows_are_not_counted(self, soft_store: Any) -> None:
        vols = self._fill_counted(soft_store)
        soft_store.delete_volume(vols[0])
        assert soft_store.count_volumes() == 11
        assert soft_store.count_volumes(project_id="p0") == 3
        assert soft_store.usage_by_project()["p0"]["volumes"] == 3
        assert soft_store.list_volumes(project_id="p0")[0][0].id == vols[3].id

    def test_bad_count_arguments(self, store: Any) -> None:
        with pytest.raises(exc.InvalidArgument, match="no_such"):
            store.count_volumes(filters={"no_such": 1})
        with pytest.raises(exc.InvalidArgument, match="metadata"):
            store.count_volumes(filters={"metadata": "gold"})
        with pytest.raises(exc.InvalidArgument, match="no_such"):
            store.count_snapshots(filters={"no_such": 1})
        with pytest.raises(exc.InvalidArgument, match="no_such"):
            store.usage_by_project(filters={"no_such": 1})


class SnapshotListingTests:
    """``list_snapshots``: pages in ``(created_at, id)`` order, filters, bad input."""

    @staticmethod
    def _fill_snapshots(store: Any) -> list[Snapshot]:
        base = datetime.datetime(2024, 2, 1, tzinfo=UTC)
        vols = [saved_volume(store, name=f"v{i}", project_id=f"p{i}") for i in range(2)]
        snaps = []
        for i in range(7):
            vol = vols[i % 2]
            snap = new_snapshot(vol, name=f"snap_{i}" if i != 3 else "snap%3",
                                project_id=vol.project_id,
                                status="available" if i % 3 else "error",
                                created_at=base + datetime.timedelta(seconds=i // 2))
            store.set_snapshot(snap)
            snaps.append(snap)
        return sorted(snaps, key=lambda s: (s.created_at, s.id))

    def test_pages_cover_everything_once_in_order(self, store: Any) -> None:
        snaps = self._fill_snapshots(store)
        items, marker = store.list_snapshots()
        assert ids(items) == ids(snaps) and marker is None
        seen: list[str] = []
        marker = None
        pages = 0
        while True:
            items, marker = store.list_snapshots(marker=marker, limit=3)
            seen += ids(items)
            pages += 1
            if marker is None:
                break
        assert seen == ids(snaps) and pages == 3

    def test_filters(self, store: Any) -> None:
        snaps = self._fill_snapshots(store)
        items, _ = store.list_snapshots(filters={"status": "error"})
        assert ids(items) == [s.id for s in snaps if s.status == "error"]
        items, _ = store.list_snapshots(project_id="p1")
        assert ids(items) == [s.id for s in snaps if s.project_id == "p1"]
        vol_id = snaps[0].volume_id
        items, _ = store.list_snapshots(filters={"volume_id": vol_id})
        assert ids(items) == [s.id for s in snaps if s.volume_id == vol_id]
        items, _ = store.list_snapshots(filters={"name~": "_"})
        assert [s.name for s in items] == [s.name for s in snaps if "_" in s.name]
        items, _ = store.list_snapshots(filters={"name^": "snap%"})
        assert [s.name for s in items] == ["snap%3"]
        assert store.count_snapshots(filters={"name~": "_"}) == 6

    def test_bad_arguments(self, store: Any) -> None:
        self._fill_snapshots(store)
        with pytest.raises(exc.InvalidArgument, match="marker"):
            store.list_snapshots(marker=new_id())
        with pytest.raises(exc.InvalidArgument, match="size"):
            store.list_snapshots(filters={"size": 1})
        with pytest.raises(exc.InvalidArgument, match="limit"):
            store.list_snapshots(limit=0)


class ListingSuite(NameFilterTests, CountTests, SnapshotListingTests):
    """Every listing and count test."""
