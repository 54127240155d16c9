"""Housekeeping of the RBD driver: listing volumelib's images, ``gc`` of what no record
knows of, and purging the RBD trash (see the trash policy in
:mod:`volumelib.drivers.rbd.driver`).

:class:`MaintenanceMixin` is a base class of
:class:`~volumelib.drivers.rbd.driver.RBDDriver`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from volumelib import exceptions as exc
from volumelib.drivers.rbd import groups, names
from volumelib.drivers.rbd.client import RadosClient, rbd

__all__ = ["MaintenanceMixin"]

LOG = logging.getLogger(__name__)


class MaintenanceMixin:
    """``gc``, the trash purge and the image listing."""

    if TYPE_CHECKING:  # provided by RBDDriver
        client: RadosClient
        backend_name: str

        def _remove_image(self, name: str, volume_id: str) -> str: ...

    def _volume_images(self) -> Iterator[tuple[str, str]]:
        """``(volume id, image name)`` of every ``volume-*`` image in the pool."""
        for entry in rbd.RBD().list2(self.client.ioctx):
            vid = names.id_after(entry["name"], names.VOLUME)
            if vid is not None:
                yield vid, entry["name"]

    def _purge_trash(self, dry_run: bool = False) -> list[str]:
        """Remove trashed ``volume-*`` images nothing depends on any more."""
        purged = []
        ioctx = self.client.ioctx
        for entry in rbd.RBD().trash_list(ioctx):
            if names.id_after(entry["name"], names.VOLUME) is None:
                continue
            if not dry_run:
                try:
                    rbd.RBD().trash_remove(ioctx, entry["id"], force=True)
                except (rbd.ImageHasSnapshots, rbd.ImageBusy, rbd.InvalidArgument,
                        rbd.PermissionError) as e:
                    LOG.debug("trashed image %s is still needed: %s", entry["name"], e)
                    continue
                except rbd.ImageNotFound:
                    continue
            purged.append(f"trashed image {entry['name']} (id {entry['id']}) purged")
        return purged

    def gc(self, is_known: Callable[[str, str], bool], *,
           dry_run: bool = False) -> list[str]:
        """Remove what no record knows of: ``volume-*`` images (into the trash if clones
        depend on them), ``snapshot-*`` and ``clone-*`` snapshots of images, ``group-*``
        RBD groups and their ``gsnap-*`` snapshots, temporary ``.tmp-*`` group
        snapshots; and purge trashed ``volume-*`` images nothing depends on.

        Returns:
            One line per object removed (or that would be, with ``dry_run``).
        """
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
        report += self._purge_trash(dry_run)
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
