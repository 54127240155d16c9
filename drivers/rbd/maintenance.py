"""Housekeeping of the RBD driver: listing volumelib's images, ``gc`` of what no record
knows of, and purging the RBD trash (see the trash policy in
:mod:`volumelib.drivers.rbd.driver` and deferred deletion in
:mod:`volumelib.drivers.rbd.trash`).

:class:`MaintenanceMixin` is a base class of
:class:`~volumelib.drivers.rbd.driver.RBDDriver`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from volumelib import exceptions as exc
from volumelib.drivers.rbd import groups, names, trash
from volumelib.drivers.rbd.client import RadosClient, is_connection_error, rados, rbd

__all__ = ["MaintenanceMixin"]

LOG = logging.getLogger(__name__)


class MaintenanceMixin:
    """``gc``, the trash purge and the image listing."""

    if TYPE_CHECKING:  # provided by RBDDriver
        client: RadosClient
        backend_name: str
        clock: Callable[[], float]
        _purge_mutex: threading.Lock

        def _remove_image(self, name: str, volume_id: str) -> str: ...
        def _ensure_purger(self) -> None: ...

    def _volume_images(self) -> Iterator[tuple[str, str]]:
        """``(volume id, image name)`` of every ``volume-*`` image in the pool."""
        for entry in rbd.RBD().list2(self.client.ioctx):
            vid = names.id_after(entry["name"], names.VOLUME)
            if vid is not None:
                yield vid, entry["name"]

    def purge_trash(self, dry_run: bool = False) -> list[str]:
        """Remove the trash entries that are ours and expired (see
        :mod:`~volumelib.drivers.rbd.trash`), oldest first, in passes until one frees
        nothing more (a clone removed first lets its trashed parent go in the next
        pass). Entries that
        something still depends on (clones, a group) stay, logged at DEBUG; entries
        whose delay has not passed on :attr:`clock` stay.

        Args:
            dry_run: report the expired entries nothing depends on, remove nothing.

        Returns:
            One line per image removed (or that would be, with ``dry_run``).

        Raises:
            rados.Error, rbd.Error: listing the trash failed (the cluster is gone).
        """
        with self._purge_mutex:
            ioctx = self.client.ioctx
            purged: list[str] = []
            now = self.clock()
            # oldest first: a clone deleted before its parent goes before it
            pending = sorted((e for e in trash.list_ours(ioctx) if e.expired(now)),
                             key=lambda e: (e.deleted_at, e.name))
            if dry_run:
                return [f"trashed image {e.name} (id {e.image_id}) purged" for e in pending
                        if self._removable(e)]
            while pending:
                kept = []
                for entry in pending:
                    try:
                        rbd.RBD().trash_remove(ioctx, entry.image_id, force=True)
                    except rbd.ImageNotFound:
                        continue  # purged by someone else meanwhile
                    except (rbd.Error, rados.Error) as e:
                        if is_connection_error(e):
                            raise
                        LOG.debug("trashed image %s is still needed: %s", entry.name, e)
                        kept.append(entry)
                        continue
                    purged.append(f"trashed image {entry.name} (id {entry.image_id}) "
                                  f"purged")
                if len(kept) == len(pending):
                    break
                pending = kept
            if purged:
                LOG.debug("purged %d trashed images of %s", len(purged), self.backend_name)
            return purged

    def _removable(self, entry: trash.TrashEntry) -> bool:
        """Whether a purge could remove ``entry`` now: no snapshot left (clones of a
        trashed parent keep theirs in its trash namespace) and in no group. One
        read-only open; for ``dry_run`` reports, which must not promise what a purge
        would not do."""
        try:
            image = rbd.Image(self.client.ioctx, image_id=entry.image_id, read_only=True)
        except rbd.ImageNotFound:
            return False
        try:
            return not list(image.list_snaps()) and not image.group().get("name")
        finally:
            image.close()

    def trash_summary(self, sizes: bool = False) -> dict[str, Any]:
        """What of ours waits in the RBD trash: ``images``, ``expired`` (a purge may
        remove them now), ``oldest_expired_age_s`` (seconds since the oldest expired
        entry became purgeable; ``None`` without one) and, with ``sizes``,
        ``provisioned_bytes`` (their sizes, one read-only open per entry).

        Raises:
            rados.Error, rbd.Error: listing the trash failed.
        """
        now = self.clock()
        entries = trash.list_ours(self.client.ioctx)
        expired = [e for e in entries if e.expired(now)]
        summary: dict[str, Any] = {
            "images": len(entries), "expired": len(expired),
            "oldest_expired_age_s": round(now - min(e.purgeable_at for e in expired), 1)
            if expired else None}
        if sizes:
            total = 0
            for entry in entries:
                try:
                    image = rbd.Image(self.client.ioctx, image_id=entry.image_id,
                                      read_only=True)
                except rbd.ImageNotFound:
                    continue  # purged meanwhile
                try:
                    total += image.size()
                finally:
                    image.close()
            summary["provisioned_bytes"] = total
        return summary

    def gc(self, is_known: Callable[[str, str], bool], *,
           dry_run: bool = False) -> list[str]:
        """Remove what no record knows of: ``volume-*`` images (into the trash if clones
        depend on them, or with deferred deletion), ``snapshot-*`` and ``clone-*``
        snapshots of images, ``group-*`` RBD groups and their ``gsnap-*`` snapshots,
        temporary ``.tmp-*`` group snapshots; and purge the expired trashed
        ``volume-*`` images nothing depends on (:meth:`purge_trash`).

        Args:
            is_known: ``is_known(kind, id)`` asks the records now.
            dry_run: report only.

        Returns:
            One line per object removed (or that would be, with ``dry_run``).
        """
        self._ensure_purger()
        report: list[str] = []
        ioctx = self.client.ioctx
        orphan_groups = []
        for gname in rbd.RBD().group_list(ioctx):
            gid = names.id_after(gname, "group-")
            if gid is None:
                continue
            known = is_known("group", gid)
            if not known:
                orphan_groups.append((gid, gname))
            grp = rbd.Group(ioctx, gname)
            for snap in list(grp.list_snaps()):
                name = snap["name"]
                gsid = names.id_after(name, "gsnap-")
                tmp_of = name[len(groups.TMP_GSNAP_PREFIX):] \
                    if name.startswith(groups.TMP_GSNAP_PREFIX) else None
                if not known or (gsid is not None and not is_known("group_snapshot", gsid)) \
                        or (tmp_of is not None and not is_known("group", tmp_of)):
                    report.append(f"orphan group snapshot {gname}@{name}")
                    if not dry_run:
                        grp.remove_snap(name)
        for vid, name in list(self._volume_images()):
            if not is_known("volume", vid):
                report.append(f"orphan volume {vid}: image {name}")
                if not dry_run:
                    try:
                        self._remove_image(name, vid)
                    except exc.VolumeInUse as e:
                        LOG.warning("gc: keeping unknown image %s: %s", name, e)
                        report.pop()
                continue
            report += self._gc_snapshots(name, is_known, dry_run)
        for gid, gname in orphan_groups:
            members = [] if dry_run else list(rbd.Group(ioctx, gname).list_images())
            if members:
                LOG.warning("gc: keeping unknown RBD group %s: it holds %s", gname,
                            ", ".join(m["name"] for m in members))
                continue
            report.append(f"orphan group {gid}: RBD group {gname}")
            if not dry_run:
                rbd.RBD().group_remove(ioctx, gname)
        report += self.purge_trash(dry_run)
        LOG.debug("gc of %s (dry_run=%s): %s", self.backend_name, dry_run, report or "clean")
        return report

    def _gc_snapshots(self, name: str, is_known: Callable[[str, str], bool],
                      dry_run: bool) -> list[str]:
        found = []
        try:
            image = rbd.Image(self.client.ioctx, name)
        except rbd.ImageNotFound:
            return []
        try:
            for snap in list(image.list_snaps()):
                if snap.get("namespace", 0) != rbd.RBD_SNAP_NAMESPACE_TYPE_USER:
                    continue
                sid = names.id_after(snap["name"], names.SNAPSHOT)
                cid = names.id_after(snap["name"], names.CLONE_SNAP)
                if (sid is not None and not is_known("snapshot", sid)) or \
                        (cid is not None and not is_known("volume", cid)):
                    if image.is_protected_snap(snap["name"]):
                        continue
                    found.append(f"orphan snapshot {name}@{snap['name']}")
                    if not dry_run:
                        image.remove_snap(snap["name"])
        finally:
            image.close()
        return found
