"""What a Cinder driver reaches through ``self.db``.

Cinder's ``BaseVD`` sets ``self.db`` to the ``cinder.db`` API module. The adapter
replaces it with :class:`CinderDB`, which answers the calls drivers are known to make
from the private database of :mod:`~volumelib.drivers.cinder.runtime` (where the
call's objects were just written) and, for a volume or snapshot the call did not
bring, from volumelib's own store through its read-only facade (the row is written
to the private database first, then read as Cinder would). Any other ``db`` call is
refused with ``NotSupported`` naming it, instead of reaching some database.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from volumelib import exceptions as exc
from volumelib.drivers.cinder.records import Records

__all__ = ["CinderDB", "ALLOWED", "Adapter"]

LOG = logging.getLogger(__name__)

#: ``cinder.db`` calls answered (reads, and the admin metadata drivers keep).
ALLOWED = frozenset({
    "volume_get", "snapshot_get", "volume_admin_metadata_get",
    "volume_admin_metadata_update", "volume_admin_metadata_delete",
    "volume_metadata_get", "volume_type_get", "volume_type_extra_specs_get",
    "volume_get_all_by_host", "snapshot_get_all_for_volume", "volume_update",
    "snapshot_update", "volume_glance_metadata_get", "qos_specs_get",
    "volume_attachment_get_all_by_volume_id", "driver_initiator_data_get",
    "driver_initiator_data_insert_by_key", "snapshot_metadata_get",
})


class Adapter(Protocol):
    """What the facade uses of the adapter (:class:`~volumelib.drivers.cinder.driver.
    CinderDriver`), which sits above this module and passes itself in."""

    @property
    def cinder_path(self) -> str:
        """The Cinder class path the adapter runs (named in refusals)."""

    @property
    def db(self) -> Any:
        """volumelib's read-only DB facade, or ``None``."""

    @property
    def records(self) -> Records:
        """The Cinder objects and private-database rows of the adapter's backend."""


class CinderDB:
    """``self.db`` of a Cinder driver run by the adapter."""

    def __init__(self, adapter: Adapter) -> None:
        self._adapter = adapter

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        # Cinder's db API, pointed at the private database (Cinder stays lazy).
        from cinder import db as cinder_db
        if name not in ALLOWED:
            def refused(*args: Any, **kwargs: Any) -> Any:
                raise exc.NotSupported(
                    f"Cinder driver {self._adapter.cinder_path} called db.{name}(), "
                    f"which volumelib does not provide (no Cinder database here)",
                    operation=f"db.{name}", driver=self._adapter.cinder_path)
            return refused
        func = getattr(cinder_db, name)
        if name in ("volume_get", "snapshot_get"):
            return lambda context, obj_id, *a, **k: self._get(func, name, context, obj_id,
                                                              *a, **k)
        return func

    def _get(self, func: Any, name: str, context: Any, obj_id: str, *args: Any,
             **kwargs: Any) -> Any:
        # Cinder's exceptions (Cinder stays lazy).
        from cinder import exception as cinder_exc
        try:
            return func(context, obj_id, *args, **kwargs)
        except cinder_exc.NotFound:
            if not self._bring(name, obj_id):
                raise
        return func(context, obj_id, *args, **kwargs)

    def _bring(self, name: str, obj_id: str) -> bool:
        """Write volumelib's record of ``obj_id`` into the private database."""
        facade = self._adapter.db
        if facade is None:
            return False
        try:
            if name == "volume_get":
                self._adapter.records.volume(facade.volume_get(None, obj_id).info())
            else:
                snap = facade.snapshot_get(None, obj_id)
                self._adapter.records.snapshot(snap.info())
        except exc.NotFound:
            return False
        LOG.debug("db.%s(%s) answered from volumelib's store", name, obj_id)
        return True
