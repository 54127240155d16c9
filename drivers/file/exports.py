"""The file driver's exports: loop devices (``local``) or tgt iSCSI targets.

A mixin of :class:`~volumelib.drivers.file.driver.FileDriver`, kept apart so each
module stays small; it uses the driver's path helpers and state.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from volumelib import exceptions as exc
from volumelib.drivers.base import ModelUpdate
from volumelib.drivers.file import iscsi, loop
from volumelib.drivers.file.ops import _operation
from volumelib.drivers.types import ConnectionInfo, ConnectorProperties, VolumeInfo

__all__ = ["ExportsMixin"]

LOG = logging.getLogger("volumelib.drivers.file.driver")

_ATTACH_MODES = ("rw", "ro")


class ExportsMixin:
    """create_export, remove_export, initialize/terminate_connection, validate_connector."""


    def _require_local_attach(self, operation: str) -> None:
        if not self._local_attach:
            raise exc.NotSupported(
                f"{operation}: local attach of file volumes needs root and the losetup "
                f"program (root={self._is_root}, losetup={self._losetup})",
                operation=operation, driver=self.name)

    def _require_tgtadm(self, operation: str) -> iscsi.TgtExporter:
        if self._targets is None or not self._tgtadm:
            raise exc.NotSupported(f"{operation}: iSCSI exports need the tgtadm program "
                                   f"(Debian package tgt)", operation=operation,
                                   driver=self.name)
        return self._targets

    def validate_connector(self, connector: ConnectorProperties | Mapping[str, Any]
                           ) -> ConnectorProperties:
        """Check that ``connector`` has what this driver's exports need.

        Returns:
            The connector as :class:`ConnectorProperties` (a mapping is accepted).

        Raises:
            InvalidArgument: not connector properties, an ``attach_mode`` other than
                ``rw``/``ro``, or (``target_helper=tgtadm``) no ``initiator`` name.
        """
        # The library refused a connector without a host before calling; this driver
        # does not need one (it exports per volume, not per host).
        props = ConnectorProperties.from_dict(connector, require_host=False)
        if props.attach_mode not in _ATTACH_MODES:
            raise exc.InvalidArgument(
                reason=f"connector attach_mode must be rw or ro, not {props.attach_mode!r}")
        if self._targets is not None and (not isinstance(props.initiator, str)
                                          or not props.initiator.strip()):
            raise exc.InvalidArgument(
                reason=f"connector properties lack 'initiator' (the host's iSCSI "
                       f"initiator name), which the iSCSI exports of backend "
                       f"{self.backend_name} need; got keys {sorted(props.to_dict())}")
        return props

    @_operation("create_export")
    def create_export(self, volume: VolumeInfo,
                      connector: ConnectorProperties) -> ModelUpdate:
        """Make the volume reachable for ``connector``; idempotent.

        Local: a loop device of the connector's mode (read-only for ``attach_mode ro``),
        reusing the one there is. iSCSI: the volume's target (made or repaired), with
        CHAP credentials from ``provider_auth``, or new ones returned as the model
        update ``{"provider_auth": "CHAP <user> <password>"}``.

        Raises:
            InvalidArgument: bad connector (see :meth:`validate_connector`).
            NotSupported: local without root or ``losetup``; iSCSI without ``tgtadm``.
            VolumeNotFound: no file.
        """
        props = self.validate_connector(connector)
        path = self._volume_file(volume)
        if self._targets is not None:
            return self._create_target(volume, path)
        self._require_local_attach("create_export")
        read_only = props.attach_mode == "ro"
        with self._export_guard(path, exporting=True) as exists:
            if not exists:
                raise exc.VolumeNotFound(volume_id=volume.id)
            devices = self._loop_devices(path, read_only=read_only)
            if devices:
                LOG.debug("volume %s is already exported (%s) as %s", volume.id,
                          props.attach_mode, devices[0])
                return None
            device = loop.attach(path, direct_io=self.config.loop_direct_io,
                                 read_only=read_only)
        LOG.debug("exported volume %s (%s) as %s", volume.id, props.attach_mode, device)
        return None

    def _create_target(self, volume: VolumeInfo, path: str) -> ModelUpdate:
        targets = self._require_tgtadm("create_export")
        credentials, update = None, None
        if self.config.iscsi_chap:
            credentials = iscsi.ChapCredentials.from_provider_auth(
                getattr(volume, "provider_auth", None))
            if credentials is None:
                credentials = iscsi.ChapCredentials.generate()
                update = {"provider_auth": credentials.to_provider_auth()}
        with self._export_guard(path, exporting=True) as exists:
            if not exists:
                raise exc.VolumeNotFound(volume_id=volume.id)
            target = targets.ensure(volume.id, path, credentials)
        LOG.debug("exported volume %s as iSCSI target %d %s (chap=%s)", volume.id,
                  target.tid, target.name, credentials is not None)
        return update

    @_operation("remove_export")
    def remove_export(self, volume: VolumeInfo) -> None:
        """Detach every loop device backed by the volume's file and delete its iSCSI
        target (with its sessions and CHAP account). None: no-op."""
        path = self._volume_file(volume)
        with self._export_guard(path):
            if self._targets is not None and self._tgtadm:
                self._targets.remove(volume.id, iscsi.ChapCredentials.from_provider_auth(
                    getattr(volume, "provider_auth", None)))
            for device in self._loop_devices(path):
                loop.detach(device)
                LOG.debug("detached %s of volume %s", device, volume.id)

    @_operation("initialize_connection")
    def initialize_connection(self, volume: VolumeInfo,
                              connector: ConnectorProperties) -> ConnectionInfo:
        """The connection info for ``connector``, after ``create_export``.

        Local: ``{"driver_volume_type": "local", "data": {"device_path": "/dev/loopN",
        "access_mode": "rw"}}`` (the read-only device for ``attach_mode ro``).
        iSCSI: ``target_iqn``, ``target_portal``, ``target_lun`` (1),
        ``target_discovered`` (false), ``auth_method`` (``CHAP``), ``auth_username``,
        ``auth_password``, ``volume_id``, ``access_mode``.

        Raises:
            InvalidArgument: bad connector (iSCSI: no ``initiator``).
            VolumeNotFound: no file. BackendError: not exported (for this mode).
            NotSupported: no local attach / no ``tgtadm``.
        """
        props = self.validate_connector(connector)
        path = self._volume_file(volume)
        if not os.path.lexists(path):
            raise exc.VolumeNotFound(volume_id=volume.id)
        mode = props.attach_mode
        if self._targets is not None:
            return self._target_connection(volume, path, mode)
        self._require_local_attach("initialize_connection")
        devices = self._loop_devices(path, read_only=mode == "ro")
        if not devices:
            raise self._error("initialize_connection",
                              f"volume {volume.id} is not exported{' read-only' * (mode == 'ro')}"
                              f" (create_export was not called or failed)")
        LOG.debug("connection to volume %s (%s): %s", volume.id, mode, devices[0])
        return ConnectionInfo(driver_volume_type="local",
                              data={"device_path": devices[0], "access_mode": mode})

    def _target_connection(self, volume: VolumeInfo, path: str, mode: str) -> ConnectionInfo:
        targets = self._require_tgtadm("initialize_connection")
        target = targets.find(volume.id)
        if target is None or target.luns.get(iscsi.LUN) != path:
            raise self._error("initialize_connection",
                              f"volume {volume.id} has no iSCSI target serving {path} "
                              f"(create_export was not called or failed, or tgtd restarted)")
        data: dict[str, Any] = {
            "target_discovered": False,
            "target_iqn": target.name,
            "target_portal": iscsi.format_portal(self.config.target_ip_address,
                                                 self.config.target_port),
            "target_lun": iscsi.LUN,
            "volume_id": volume.id,
            "access_mode": mode,
        }
        if self.config.iscsi_chap:
            credentials = iscsi.ChapCredentials.from_provider_auth(
                getattr(volume, "provider_auth", None))
            if credentials is None or credentials.username not in target.accounts:
                raise self._error("initialize_connection",
                                  f"the CHAP account of volume {volume.id}'s target does not "
                                  f"match its provider_auth (create_export again and save "
                                  f"its model update)")
            data.update(auth_method="CHAP", auth_username=credentials.username,
                        auth_password=credentials.password)
        LOG.debug("connection to volume %s (%s): target %s at %s", volume.id, mode,
                  target.name, data["target_portal"])
        return ConnectionInfo(driver_volume_type="iscsi", data=data)

    def terminate_connection(self, volume: VolumeInfo,
                             connector: ConnectorProperties | None) -> None:
        """Nothing to revoke per connector; no-op.

        A loop device is shared by every connection of its mode, and an iSCSI target
        admits every initiator that has the volume's CHAP secret: the driver cannot
        tell whether another connection still needs them, so ``remove_export`` (the
        last connection) removes them.
        """
        LOG.debug("terminate_connection of volume %s: nothing to do (exports go with "
                  "remove_export)", volume.id)
