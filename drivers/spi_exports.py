"""The driver SPI's export and connection methods: what makes a volume reachable
from a host (an export) and what os-brick on that host needs to attach it.

:class:`ExportInterface` is part of :class:`volumelib.drivers.base.VolumeDriver`
(which derives from it); every driver implements :meth:`~ExportInterface.create_export`,
:meth:`~ExportInterface.remove_export`, :meth:`~ExportInterface.initialize_connection`
and :meth:`~ExportInterface.terminate_connection` (they are abstract), and may refuse
connectors early in :meth:`~ExportInterface.validate_connector`.
"""

from __future__ import annotations

import abc

from volumelib.drivers.types import (ConnectionInfo, ConnectorProperties, ModelUpdate,
                                     VolumeInfo)

__all__ = ["ExportInterface"]


class ExportInterface(abc.ABC):
    """The export and connection methods of a volume driver (see the module
    docstring)."""

    def validate_connector(self, connector: ConnectorProperties) -> None:
        """Refuse a connector lacking what this driver needs to export to it.

        Called by ``vol.connect()`` before anything is stored (under the volume's
        lease) and by ``backend.validate_connector()``. The library has already
        checked the types of the known keys and that ``connector.host`` is a
        non-empty string. The default accepts every connector.

        Args:
            connector: the host's properties (``host``, ``ip``, ``initiator``,
                ``multipath``, ``attach_mode``, os-brick's other keys in ``extra``).

        Returns:
            ``None``; a return value is ignored.

        Raises:
            InvalidArgument: what is missing or wrong (an iSCSI driver without an
                ``initiator``, an ``attach_mode`` it cannot honour...), naming it.
                Raise nothing else: other exceptions reach the user unwrapped.

        Idempotency:
            A check with no side effects.
        """

    @abc.abstractmethod
    def create_export(self, volume: VolumeInfo,
                      connector: ConnectorProperties) -> ModelUpdate:
        """Make the volume reachable for ``connector`` (a loop device, a target, a
        mapping...).

        Called for every connection: the first one of a volume and each further one
        of a ``multiattach`` volume (several hosts, or ``rw`` and ``ro`` on one),
        after :meth:`validate_connector`, under the volume's lease, with the
        connection stored in ``connecting``. Image provisioning also calls it (with
        this host's connector) to write an image into a new volume when the driver
        has no ``volume_path``.
        ``connector.attach_mode`` is ``rw`` or ``ro``: honour ``ro`` (a read-only
        export, or ``access_mode: ro`` in the connection info for the host to
        enforce).

        Args:
            volume: the volume, as stored.
            connector: the host's properties.

        Returns:
            A model update for the volume (``provider_auth`` with credentials made
            for the export, for example), saved, and handed to
            :meth:`initialize_connection` and every later call; or ``None``.

        Raises:
            InvalidArgument: a connector this driver cannot export to.
            NotSupported: exports are impossible here (the reason in the message).
            VolumeNotFound: the storage object is missing.
            Anything else is wrapped in ``BackendError``. The library then deletes
            the connection record and sets the volume back, but does *not* call
            :meth:`remove_export`: undo your own partial export before raising.

        Idempotency:
            Exporting an already exported volume (for another connection, or again
            after a crash) succeeds and reuses or repairs the export.
        """

    @abc.abstractmethod
    def remove_export(self, volume: VolumeInfo) -> None:
        """Undo every :meth:`create_export` of the volume: it has no connection left.

        Called with the last connection's disconnect (after
        :meth:`terminate_connection`), when a first connection failed after its
        export, by ``gc()`` when it finishes an interrupted connect or disconnect of
        the last connection and before it rolls back a crashed create, and after an
        image was written through an export.

        Args:
            volume: the volume, as stored (``provider_auth`` as the export saved it).

        Returns:
            ``None``.

        Raises:
            Anything is wrapped in ``BackendError``; the disconnect fails and the
            connection is stored in ``error``.

        Idempotency:
            A volume that is not exported, or whose storage object is gone, is a
            no-op.
        """

    @abc.abstractmethod
    def initialize_connection(self, volume: VolumeInfo,
                              connector: ConnectorProperties) -> ConnectionInfo:
        """What os-brick on ``connector.host`` needs to attach the volume, after
        :meth:`create_export` for this connector.

        The result is stored in the connection record and handed to the host, which
        may have no backend and no credentials but these. Secrets go under keys named
        in ``volumelib.drivers.types.SECRET_KEYS`` (``auth_password``, ``keyring``,
        ``secret``...): the library keeps them out of JSON, dumps, ``repr`` and logs.

        Args:
            volume: the volume, with the model update of :meth:`create_export`.
            connector: the host's properties.

        Returns:
            A ``ConnectionInfo`` (``driver_volume_type`` and ``data`` as Cinder's:
            ``local``/``device_path``, ``iscsi``/``target_iqn``..., ``rbd``/``name``...;
            ``access_mode`` set), or a mapping of that shape.

        Raises:
            InvalidArgument: a connector this driver cannot serve.
            VolumeNotFound: the storage object is missing.
            Anything else is wrapped in ``BackendError``; the library undoes the
            connection (:meth:`remove_export` if it was the first, else
            :meth:`terminate_connection`).

        Idempotency:
            No side effects beyond what :meth:`create_export` set up: the same
            connector gets the same answer again.
        """

    @abc.abstractmethod
    def terminate_connection(self, volume: VolumeInfo,
                             connector: ConnectorProperties | None) -> None:
        """Revoke ``connector``'s access to the volume; other connections stay.

        Called by each disconnect before :meth:`remove_export` (which follows only
        when it was the volume's last connection), when a further connection failed
        after its export, and by ``gc()`` finishing an interrupted connect or
        disconnect. A driver whose exports are shared by every connection leaves
        them to :meth:`remove_export`.

        Args:
            volume: the volume, as stored.
            connector: the properties the connection was made with; ``None`` (Cinder's
                "every host", which the library does not pass today) revokes all
                access.

        Returns:
            ``None``.

        Raises:
            Anything is wrapped in ``BackendError``; the disconnect fails and the
            connection is stored in ``error``.

        Idempotency:
            A connector that has no access (never had, or revoked already) is a
            no-op.
        """
