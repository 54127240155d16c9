"""The driver SPI: what a storage vendor implements, and nothing else.

Users never call a driver directly; :class:`volumelib.Backend` and the objects it
returns (``Volume``, ``Snapshot``, ``Connection``, ``Group``...) do, after validating
the request, checking the declared :attr:`VolumeDriver.capabilities` and storing the
intent (a record in ``creating``, ``deleting``...). A driver moves bytes and says what
happened. :class:`VolumeDriver`'s docstring is the contract; each method's says what
the library has made sure of before the call, what to return, what to raise, and what
a second call must do (**Idempotency**), because after a crash the library repeats or
undoes calls rather than resuming them.

The consistency-group methods (:mod:`.spi_groups`) keep the names, arguments and
return shapes of Cinder's ``VolumeConsistencyGroupDriver`` interface; their default
raises ``NotImplementedError``, which makes the library use its generic, per-volume,
non-consistent fallback. The manage, migrate and retype methods (:mod:`.spi_moves`)
are Cinder's too, each behind a declared capability. The export and connection
methods every driver implements are in :mod:`.spi_exports`.
"""

from __future__ import annotations

import abc
import logging
from typing import Any, Callable, ClassVar

from volumelib import exceptions as exc
from volumelib.drivers.options import Option, resolve_options
from volumelib.drivers.spi_exports import ExportInterface
from volumelib.drivers.spi_groups import ConsistencyGroupInterface
from volumelib.drivers.spi_moves import ManageMigrateInterface
from volumelib.drivers.types import (BackendStats, Capability, ConnectionInfo,
                                     ConnectorProperties, ModelUpdate, SnapshotInfo,
                                     VolumeInfo)

__all__ = [
    "VolumeDriver",
    "Option",
    "Capability",
    "VolumeInfo",
    "SnapshotInfo",
    "ConnectorProperties",
    "ConnectionInfo",
    "BackendStats",
    "ModelUpdate",
]

LOG = logging.getLogger(__name__)

#: Options every driver accepts, whatever its own.
COMMON_OPTIONS: tuple[Option, ...] = (
    Option("volume_backend_name", "str", None, "Name of the backend (set by Backend)."),
)


class VolumeDriver(ExportInterface, ConsistencyGroupInterface, ManageMigrateInterface,
                   abc.ABC):
    """Base class of every volume driver: the contract between volumelib and a backend.

    **Declaring a driver.** Set the class attributes ``name`` (the entry-point name in
    the ``volumelib.drivers`` namespace), ``vendor_name``, ``version``,
    ``storage_protocol`` and ``options`` (a tuple of :class:`Option`: type, default,
    help, ``secret``, ``required``, ``choices``, ``min``), implement the abstract
    methods, and declare :attr:`capabilities`. Register the class as an entry point
    and run the conformance suite (``volumelib.testing.drivers``, or the
    ``volumelib-conformance`` command) against a real backend.

    **Construction.** ``Backend(name, driver, **options)`` builds the driver with
    ``db=`` (below), ``volume_backend_name=`` and the user's options, checked against
    ``options`` (an unknown key raises ``UnknownOption``, a bad value
    ``InvalidConfig``) and available typed as ``self.config.<option>``. The constructor
    must not reach the storage: :meth:`do_setup` does, then
    :meth:`check_for_setup_error`, once, before any other call. Several driver objects
    for the same storage may live at once, in one process or many (each ``Backend``,
    each process and host sharing a store has its own): keep no state the library
    needs later anywhere but in the storage itself and in the model updates you
    return, which the library saves and hands back in every process.

    **``self.db``.** A read-only facade on the library's store with Cinder's ``db``
    names: ``volume_get(ctx, id)`` and ``snapshot_get(ctx, id)`` (the stored objects;
    ``VolumeNotFound``/``SnapshotNotFound``), ``get_volume_type(ctx, id)`` and
    ``qos_specs_get(ctx, id)`` (``NotFound``), ``image_volume_cache_get_by_volume_id``.
    It may be ``None`` when a test builds a driver by itself. Everything a method
    needs is in its arguments; the facade is for drivers ported from Cinder.

    **What the library guarantees before calling.**

    * Arguments are valid: ids are canonical lowercase UUIDs, sizes positive ``int``
      GiB, names and metadata checked. Drivers still check the ids they build names
      from, as the bundled ones do, so that no id can name anything outside them.
    * The capability a call needs is declared (``CLONE`` before ``vol.clone()``,
      ``REVERT_TO_SNAPSHOT`` before a revert, ``ONLINE_EXTEND`` before extending an
      ``in-use`` volume, ``MULTIATTACH`` before a second connection,
      ``LOCAL_ATTACH`` before an attach on this host, ``CONSISTENT_GROUP_SNAPSHOT``
      before :meth:`create_cgsnapshot`), and :meth:`check_capacity` accepted the size
      of a volume create or an extend. (The per-volume fallback of a group created
      from a source checks neither ``CLONE`` nor the capacity.)
    * The intent is stored: the record exists in a transitional status (a volume in
      ``creating``, ``extending``, ``deleting``...; a connection in ``connecting``)
      before the driver is called, and its outcome is stored after it returns. A
      crash in between leaves that record, and ``backend.gc()`` later rolls the
      operation back or finishes it by calling the driver again
      (:meth:`delete_volume` for a create, :meth:`remove_export` for a connect...).
      Operations are never resumed half-way.
    * An operation lease is held on the resource the call works on (the volume for a
      clone of it, a snapshot of it, extend, revert, connect, disconnect, delete; the
      snapshot for its delete and for a volume made from it; a group and its
      members for group operations), renewed while the driver works: no other
      library call, in any process or host sharing the store, works on that resource
      meanwhile. Calls on *different* resources run concurrently, in threads of one
      process and in other processes and hosts; a plain create of a new volume takes
      no lease at all. A driver must be thread-safe and must never assume it is the
      only process using the storage.

    **What to raise.** Raise the exception of ``volumelib.exceptions`` that says what
    happened (``VolumeNotFound``, ``SnapshotNotFound``, ``AlreadyExists``,
    ``InvalidSize``, ``InvalidId``, ``VolumeInUse``, ``InvalidArgument``,
    ``InsufficientCapacity``, ``NotSupported``, ``InvalidConfig``, ``BackendError``);
    the library passes it to the caller unchanged. Any other exception (``OSError``,
    the storage library's own) from a method that creates, deletes, changes or
    exports something, or from :meth:`get_volume_stats` and :meth:`gc`, is wrapped in
    ``BackendError`` with the backend's name and the operation, and the original as
    ``__cause__`` (values of ``secret`` options and ``provider_auth`` are scrubbed from
    the text, and a message that held one is not chained). Either way the resource
    the call worked on is marked failed (``error``, ``error_deleting``,
    ``error_extending``; a failed connect is undone instead, a failed disconnect
    leaves the connection in ``error``). Methods that differ say so:
    :meth:`check_capacity` and :meth:`validate_connector` are not wrapped,
    :meth:`is_alive` and :meth:`health` must not raise, and in the consistency-group
    methods ``NotImplementedError`` means "use the fallback" while any other
    exception fails the whole group operation. Elsewhere, do not raise
    ``NotImplementedError``: it reaches the user as it is.

    **Typed values.** Drivers never see the library's objects: they get frozen
    ``VolumeInfo`` and ``SnapshotInfo`` (with ``provider_*`` from earlier model
    updates) and ``ConnectorProperties``, and return a model update, a
    ``ConnectionInfo`` or a ``BackendStats`` (``volumelib.drivers.types``; a plain
    mapping of the same shape is accepted for the last two). Sizes are GiB integers.
    Name storage objects after ids, never after user names.

    **Optional extras.** The library also uses ``volume_path(volume_id)`` when a
    driver has it (a local path to the volume's bytes: images are then written
    without an attach), as the ``file`` driver does.
    """

    #: Entry-point name (``file``, ``fake``, ``rbd``).
    name: ClassVar[str] = "abstract"
    vendor_name: ClassVar[str] = "volumelib"
    version: ClassVar[str] = "1.0.0"
    storage_protocol: ClassVar[str] = "unknown"
    #: The options this driver accepts, beyond ``COMMON_OPTIONS``.
    options: ClassVar[tuple[Option, ...]] = ()
    #: Cinder's ``supported`` flag (False marked an unsupported, CI-less driver); what
    #: cinderlib's ``list_supported_drivers`` and its clients report.
    supported: ClassVar[bool] = True

    def __init__(self, *, db: Any = None, **options: Any) -> None:
        """Check the options and keep them; reach no storage yet.

        A subclass that overrides it calls ``super().__init__(db=db, **options)`` first,
        then checks what its options mean together (raising ``InvalidConfig``).

        Args:
            db: the read-only store facade (see the class docstring), or ``None``.
            **options: the user's options plus ``volume_backend_name``, which the
                library always passes (it names the backend in stats, errors and
                logs: ``self.backend_name``, else the driver's ``name``).

        Raises:
            UnknownOption: a key that neither ``options`` nor ``COMMON_OPTIONS``
                declares (the message lists the known ones).
            InvalidConfig: a value of the wrong type, out of ``choices`` or below
                ``min``, or a ``required`` option missing.

        Idempotency:
            No side effects: building the same driver twice gives two independent
            objects (the library does, once per ``Backend`` and per process).
        """
        self.db = db
        self.config = resolve_options(COMMON_OPTIONS + tuple(self.options), options,
                                      driver=self.name)
        self.backend_name: str = self.config.volume_backend_name or self.name

    # -- declared capabilities -----------------------------------------------------

    @property
    def capabilities(self) -> frozenset[Capability]:
        """What this driver can do, read by the library before each call that needs
        a capability (and by the conformance suite, which skips as not applicable
        what is not declared).

        It may depend on what :meth:`do_setup` probed (the ``file`` driver declares
        ``REFLINK`` only where the filesystem has it), but must not change between
        set-up and :meth:`close`. ``THIN``, ``REFLINK`` and ``COW_SNAPSHOT`` are
        informational (``REFLINK`` or ``COW_SNAPSHOT`` with ``CLONE`` turn on the
        image-volume cache by default); the others gate calls, as listed in the class
        docstring. The default declares nothing.

        Returns:
            A frozenset of :class:`Capability`.

        Raises:
            Nothing: keep it a cheap attribute read.

        Idempotency:
            A pure read: the same answer every time.
        """
        return frozenset()

    def supports(self, capability: Capability) -> bool:
        """Whether ``capability`` is in :attr:`capabilities`.

        Args:
            capability: a :class:`Capability`.

        Returns:
            ``True`` if declared.

        Raises:
            Nothing.

        Idempotency:
            A pure read. Do not override: override :attr:`capabilities`.
        """
        return capability in self.capabilities

    def get_version(self) -> str:
        """The driver's :attr:`version`, as Cinder drivers' ``get_version()`` gives it
        (cinderlib's clients call it through the compat ``Backend``).

        Returns:
            The class's ``version`` string.

        Raises:
            Nothing.

        Idempotency:
            A pure read of a class attribute: every call gives the same answer.
        """
        return self.version

    @classmethod
    def describe(cls) -> dict[str, Any]:
        """The driver's name, class, vendor, version, protocol and declared options
        (``Option.describe()`` each; secret defaults hidden), for generated docs,
        ``list_supported_drivers`` and listings. Called on the class: no instance, no
        storage.

        Returns:
            ``{"name", "class", "vendor_name", "version", "storage_protocol",
            "options"}``; ``options`` leaves out ``COMMON_OPTIONS``.

        Raises:
            Nothing.

        Idempotency:
            A pure read. Drivers do not override it.
        """
        return {"name": cls.name, "class": f"{cls.__module__}.{cls.__qualname__}",
                "vendor_name": cls.vendor_name, "version": cls.version,
                "storage_protocol": cls.storage_protocol,
                "options": [o.describe() for o in cls.options]}

    def redacted_config(self) -> dict[str, Any]:
        """This driver's configuration with the values of ``secret`` options replaced
        by ``***``.

        The library uses it for what leaves the process: a backend's configuration in
        objects' JSON (secret keys left out altogether) and the secrets scrubbed from
        driver error messages. Mark every password, key or token option
        ``secret=True`` rather than overriding this.

        Returns:
            ``{option: value}`` for every declared and common option.

        Raises:
            Nothing.

        Idempotency:
            A pure read with no side effects: the same answer every time.
        """
        secret = {o.name for o in self.options if o.secret}
        return {k: ("***" if k in secret and v is not None else v)
                for k, v in vars(self.config).items()}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.backend_name} {self.redacted_config()}>"

    # -- life cycle ----------------------------------------------------------------

    @abc.abstractmethod
    def do_setup(self) -> None:
        """Connect to the storage and probe what it supports.

        Called once per driver object by ``Backend(...)``, right after construction
        and before any other method but :meth:`describe` and
        :meth:`redacted_config`. Create what the driver's layout needs (directories,
        pools...) and find out what :attr:`capabilities` depends on.

        Returns:
            ``None``.

        Raises:
            InvalidConfig: the options do not work with this storage (a missing
                path, a pool that does not exist, a feature the options require).
            Anything else: wrapped in ``BackendError`` (operation ``set up``). Either
                way ``Backend(...)`` fails and no backend is registered.

        Idempotency:
            Every process and every ``Backend`` runs it again on the same storage:
            what a previous run (or a concurrent one elsewhere) created is found and
            reused, never reset.
        """

    @abc.abstractmethod
    def check_for_setup_error(self) -> None:
        """Check, after :meth:`do_setup`, that the backend can be used.

        Returns:
            ``None`` when usable.

        Raises:
            InvalidConfig: it cannot be used, saying why (not writable, a helper
                program or daemon missing or not answering...). Anything else is
                wrapped in ``BackendError`` (operation ``set up``); ``Backend(...)``
                fails either way.

        Idempotency:
            A check with no side effects: it may be called again at any time.
        """

    @abc.abstractmethod
    def is_alive(self) -> bool:
        """A cheap check that the storage answers now, for health reports and the
        control plane's pool health.

        Returns:
            ``True`` if the storage answers.

        Raises:
            Nothing: return ``False`` instead (the library also turns an exception
            into ``False``, and logs it at DEBUG only).

        Idempotency:
            A read with no side effects.
        """

    @abc.abstractmethod
    def close(self) -> None:
        """Release connections, handles and threads; ``Backend.close()`` calls it.

        No other method is called afterwards (objects of the backend can no longer
        reach it); a new ``Backend`` builds a new driver object.

        Returns:
            ``None``.

        Raises:
            Nothing: log and go on. What it raises reaches the caller of
            ``Backend.close()`` unwrapped (the backend is unregistered regardless).

        Idempotency:
            A second call (or a call without :meth:`do_setup`) is a no-op.
        """

    def health(self) -> dict[str, Any]:
        """A health report for ``backend.health()`` (and the CLI): ``{"alive": bool}``
        plus what an operator wants to see (free space, helper daemons, ...).

        The default is ``{"alive": self.is_alive()}``.

        Returns:
            A JSON-ready dict with at least ``alive``; no secrets.

        Raises:
            Nothing: report problems as values. The library turns an exception into
            ``{"alive": False, "error": "<type>: <message>"}``.

        Idempotency:
            A read with no side effects.
        """
        return {"alive": self.is_alive()}

    def gc(self, is_known: Callable[[str, str], bool], *,
           dry_run: bool = False) -> list[str]:
        """Remove the storage objects no record knows of, and leftovers of crashes.

        ``backend.gc()`` calls it after reconciling the records of interrupted
        operations, under the lease ``gc:<backend>`` (so one at a time per backend,
        except with ``dry_run``) but *concurrently with running operations* in other
        processes. So:

        * ask ``is_known(kind, id)`` at the moment each object is found, never from a
          list read earlier: records are written before storage objects, so an
          object created after gc started is always known;
        * keep objects in use (exported, attached) even if unknown, and log them;
        * remove temporary objects only when their operation is over: use a signal
          that dies with the process that made them (the ``file`` driver holds an
          ``flock`` on each temp file while it writes it and removes only temp files
          it can lock), or, where no such signal exists, an age well above the
          longest operation;
        * never follow a path or name out of the driver's own namespace.

        The default finds nothing.

        Args:
            is_known: ``is_known(kind, id)``, with ``kind`` one of ``"volume"``,
                ``"snapshot"``, ``"group"``, ``"group_snapshot"``, asks the store
                now. It answers ``True`` for any other kind.
            dry_run: report what would be removed; remove nothing.

        Returns:
            One line per object removed (or that would be with ``dry_run``), in the
            form ``"<what> <id>: <where>"`` (``"orphan volume <id>: <path>"``,
            ``"stale temporary file (...): <path>"``); ``backend.gc()`` returns them
            as ``report["orphans"]``. Empty when there is nothing to do.

        Raises:
            Anything: the library does not raise it to the caller; it is reported
            in ``report["skipped"]`` (non-volumelib exceptions as ``BackendError``).
            Prefer skipping (and logging) an object that cannot be removed over
            failing the whole run.

        Idempotency:
            Repeatable at any time: a second run right after a first one finds
            nothing (returns ``[]``) unless something new was orphaned meanwhile.
        """
        return []

    # -- volumes -------------------------------------------------------------------

    @abc.abstractmethod
    def create_volume(self, volume: VolumeInfo) -> ModelUpdate:
        """Create an empty volume of ``volume.size`` GiB (reading as zeros).

        The record is stored in ``creating`` (its id is new to the store), the
        project's quota reserved and :meth:`check_capacity` passed. Image
        provisioning calls it too, then writes the image through an attach or
        ``volume_path``.

        Args:
            volume: the new volume (``id``, ``size``, ``name``, ``volume_type``
                extra specs, ``multiattach``, ``group_id``...).

        Returns:
            A model update (``provider_location``, ``provider_id``,
            ``provider_auth``), saved on the volume and handed back in every later
            ``VolumeInfo``, or ``None``.

        Raises:
            AlreadyExists: a storage object of that id exists; leave it untouched.
            InvalidSize, InvalidId: the storage refuses the size or the id.
            InsufficientCapacity: no room after all (``check_capacity`` is advisory).
            Anything else is wrapped in ``BackendError``. The volume is stored in
            ``error``; deleting it calls :meth:`delete_volume`, so remove what you
            made before raising if you can, and make sure that delete removes the
            rest.

        Idempotency:
            Not retried by the library: a second create with a taken id is refused
            by the store (``AlreadyExists``) before any driver call. After a crash,
            ``gc()`` rolls the create back with :meth:`remove_export` and
            :meth:`delete_volume`, whether this call ran, finished or never started.
        """

    @abc.abstractmethod
    def delete_volume(self, volume: VolumeInfo) -> None:
        """Delete a volume's storage object and its data.

        The library checked it has no connections, no snapshots and no group, and
        stored it in ``deleting``. Volumes cloned from it and volumes made from its
        (deleted) snapshots are independent volumes for the library: they must keep
        working, so a driver whose copies share data with their source keeps that
        data until they are gone (the ``rbd`` driver moves such an image to the
        trash). Also called by ``gc()`` to roll back a crashed create or finish an
        interrupted delete, to delete a group's volumes in the per-volume fallback,
        and when writing an image into a new volume failed.

        Args:
            volume: the volume, as stored (``provider_*`` from its model updates).

        Returns:
            ``None``.

        Raises:
            VolumeInUse: the storage still exports it or a client has it open.
            Anything else is wrapped in ``BackendError``. The volume is stored in
            ``error_deleting`` and the user may delete it again.

        Idempotency:
            Deleting a volume whose storage object does not exist (never created,
            half created, already deleted) is a no-op, so retries and ``gc()`` can
            call it blindly. A half-made object (a crashed create's) is removed.
        """

    @abc.abstractmethod
    def extend_volume(self, volume: VolumeInfo, new_size: int) -> None:
        """Grow a volume to ``new_size`` GiB, keeping its data.

        ``new_size > volume.size`` (the library refuses anything else with
        ``InvalidSize``), :meth:`check_capacity` accepted the difference and the
        quota is reserved; the volume is stored in ``extending`` with its old size.
        An ``in-use`` volume is only extended when the driver declares
        ``ONLINE_EXTEND``: then make the new size visible through the existing
        exports (the ``file`` driver resizes its loop devices); attached hosts pick it
        up with ``conn.extend()``.

        Args:
            volume: the volume, with its current ``size``.
            new_size: the new size in GiB.

        Returns:
            ``None``; the library stores the new size.

        Raises:
            VolumeNotFound: the storage object is missing.
            InvalidSize: the storage object is already larger than ``new_size``.
            Anything else is wrapped in ``BackendError``; the volume is stored in
            ``error_extending`` and the quota reservation cancelled.

        Idempotency:
            After a crash ``gc()`` puts the record back to its old size while the
            storage may already have grown; the user's next extend then finds it at
            (or beyond) the size asked. Already exactly ``new_size``: succeed
            without change.
        """

    @abc.abstractmethod
    def create_cloned_volume(self, volume: VolumeInfo, src_vref: VolumeInfo) -> ModelUpdate:
        """Create ``volume`` holding ``src_vref``'s data, grown to ``volume.size``.

        Only called when the driver declares ``CLONE`` (except by the per-volume
        fallback of a group created from a source group). ``volume.size >=
        src_vref.size``; ``volume`` is stored in ``creating``; the source's lease is
        held, but the source may be ``in-use`` and written by an attached host: the
        copy must be crash-consistent (flush what the export caches first). The
        clone must stay valid when the source is deleted later.

        Args:
            volume: the new volume.
            src_vref: the source volume, as stored.

        Returns:
            A model update for the new volume, or ``None``.

        Raises:
            VolumeNotFound: the source's storage object is missing.
            AlreadyExists: ``volume``'s storage object exists; leave it untouched.
            InvalidSize: ``volume.size`` is smaller than the source on the storage.
            Anything else is wrapped in ``BackendError``; ``volume`` is stored in
            ``error`` (delete it with :meth:`delete_volume`). Never leave a partial
            copy where a complete one would be expected: copy under a temporary
            name and rename, or remove it on failure.

        Idempotency:
            Never repeated with the same target id; a crash is rolled back by
            ``gc()`` with :meth:`delete_volume` of the target, and any temporary
            object of the copy is yours to clean in :meth:`gc`.
        """

    def check_capacity(self, size: int) -> None:
        """Refuse ``size`` more GiB that cannot fit, before anything is stored.

        Called for every volume create (``size`` is the new volume's; not for the
        volumes of a group made from a source), for an extend (the growth) and before
        an image is downloaded, outside of any driver call wrapper: a refusal changes
        nothing. It is advisory: concurrent creates may both pass, so a create must
        still fail cleanly when space runs out. The default accepts everything.

        Args:
            size: GiB to add.

        Returns:
            ``None`` when it fits.

        Raises:
            InsufficientCapacity: it does not fit (``backend_name``,
                ``requested_gb``, ``available_gb``). Raise nothing else: other
                exceptions reach the user unwrapped.

        Idempotency:
            A check with no side effects and no reservation.
        """

    # -- snapshots -----------------------------------------------------------------

    @abc.abstractmethod
    def create_snapshot(self, snapshot: SnapshotInfo) -> ModelUpdate:
        """Create a point-in-time copy of ``snapshot.volume``.

        The snapshot is stored in ``creating`` and the volume's lease held; the
        volume is ``available`` or ``in-use`` (then possibly being written by an
        attached host: capture a crash-consistent state). Also called once per
        member, with ``snapshot.group_snapshot_id`` set, when a group snapshot is
        taken by the per-volume fallback.

        Args:
            snapshot: the new snapshot, with its volume (``snapshot.volume``,
                ``volume_id``, ``volume_size``).

        Returns:
            A model update (``provider_location``, ``provider_id``) saved on the
            snapshot and handed back in later ``SnapshotInfo``, or ``None``.

        Raises:
            VolumeNotFound: the volume's storage object is missing.
            AlreadyExists: a snapshot of that id exists on the storage.
            Anything else is wrapped in ``BackendError``; the snapshot is stored in
            ``error`` (delete it with :meth:`delete_snapshot`).

        Idempotency:
            Never repeated with the same id; a crash is rolled back by ``gc()`` with
            :meth:`delete_snapshot`.
        """

    @abc.abstractmethod
    def delete_snapshot(self, snapshot: SnapshotInfo) -> None:
        """Delete a snapshot's storage object.

        The snapshot is stored in ``deleting`` under its lease; its volume still
        exists. Volumes created from it are independent for the library and must
        keep working (flatten them or keep the data, as the ``rbd`` driver does).
        Also called by ``gc()`` to roll back a crashed snapshot create or finish an
        interrupted delete. A member of a group snapshot is only deleted with its
        group snapshot: here, one by one, unless the group snapshot is recorded
        ``consistent`` (made by :meth:`create_cgsnapshot`) and the driver declares
        ``CONSISTENT_GROUP_SNAPSHOT``, when :meth:`delete_cgsnapshot` is called
        instead. A member of a native group snapshot whose creation failed or
        crashed is not recorded ``consistent`` and comes here: remove what is its
        own, and leave what the group snapshot shares to :meth:`gc`, which finds it
        unknown once the group snapshot's record is deleted.

        Args:
            snapshot: the snapshot, as stored, with its volume.

        Returns:
            ``None``.

        Raises:
            Anything is wrapped in ``BackendError`` (volumelib's own pass as they
            are); the snapshot is stored in ``error_deleting`` and can be deleted
            again.

        Idempotency:
            A missing snapshot (never created, half created, already deleted) is a
            no-op, so retries and ``gc()`` can call it blindly.
        """

    @abc.abstractmethod
    def create_volume_from_snapshot(self, volume: VolumeInfo,
                                    snapshot: SnapshotInfo) -> ModelUpdate:
        """Create ``volume`` holding the snapshot's data, grown to ``volume.size``.

        ``volume.size >= snapshot.volume_size``; ``volume`` is stored in
        ``creating``; the snapshot is ``available`` and its lease held. The snapshot
        may be a member of a group snapshot (``snapshot.group_snapshot_id``): find
        its data where :meth:`create_cgsnapshot` put it. Also called by the
        per-volume fallback of a group created from a group snapshot. The new volume
        must stay valid when the snapshot is deleted later.

        Args:
            volume: the new volume.
            snapshot: the source snapshot, with its volume.

        Returns:
            A model update for the new volume, or ``None``.

        Raises:
            SnapshotNotFound: the snapshot's data is missing.
            AlreadyExists: ``volume``'s storage object exists; leave it untouched.
            InvalidSize: ``volume.size`` is smaller than the snapshot on the storage.
            Anything else is wrapped in ``BackendError``; ``volume`` is stored in
            ``error``.

        Idempotency:
            Never repeated with the same target id; a crash is rolled back by
            ``gc()`` with :meth:`delete_volume`.
        """

    def revert_to_snapshot(self, volume: VolumeInfo, snapshot: SnapshotInfo) -> None:
        """Make ``volume``'s data the snapshot's again, keeping ``volume.size``.

        Only called when the driver declares ``REVERT_TO_SNAPSHOT``. The volume is
        ``available`` (so it has no connection) and stored in ``reverting`` under
        its lease; the snapshot is this volume's own and ``available``, possibly a
        member of a group snapshot. ``volume.size`` may exceed
        ``snapshot.volume_size`` (extended since): keep the larger size. The default
        raises ``NotSupported``.

        Args:
            volume: the volume to overwrite.
            snapshot: one of its snapshots.

        Returns:
            ``None``.

        Raises:
            NotSupported: the default, for drivers without the capability.
            VolumeNotFound, SnapshotNotFound: a storage object is missing.
            VolumeInUse: the storage still exports the volume.
            Anything else is wrapped in ``BackendError``; the volume is stored in
            ``error`` (its data is unknown).

        Idempotency:
            Reverting again to the same snapshot gives the same data. After a crash
            ``gc()`` marks the volume ``error`` and does not call it again: make the
            swap atomic (write aside, then replace) so the data is old or new, never
            a mix.
        """
        raise exc.NotSupported(operation="revert_to_snapshot", driver=self.name)

    # -- stats ---------------------------------------------------------------------

    @abc.abstractmethod
    def get_volume_stats(self, refresh: bool = False) -> BackendStats:
        """Capacity and capabilities in Cinder's stats format, for ``backend.stats()``
        and the control plane's placement.

        Args:
            refresh: read the storage now; ``False`` allows a cached answer
                (``backend.stats()`` caches on its side too).

        Returns:
            A ``BackendStats`` (or a mapping of the same shape): ``vendor_name``,
            ``driver_version``, ``storage_protocol`` and one ``PoolStats`` per pool:
            ``total_capacity_gb`` and ``free_capacity_gb`` (GiB, or ``"unknown"``
            when the storage cannot tell), ``provisioned_capacity_gb``,
            ``allocated_capacity_gb``, ``total_volumes``, thin/thick support,
            ``max_over_subscription_ratio``, ``multiattach``. The library sets
            ``volume_backend_name`` itself.

        Raises:
            Anything is wrapped in ``BackendError``.

        Idempotency:
            A read with no side effects.
        """
