"""The driver SPI: what a storage vendor implements, and nothing else.

Users never call a driver directly; :class:`volumelib.Backend` and the objects it
returns (``Volume``, ``Snapshot``, ``Connection``, ``Group``...) do, after validating
the request, checking the declared :attr:`VolumeDriver.capabilities` and storing the
intent (a record in ``creating``, ``deleting``...). A driver moves bytes and says what
happened. :class:`VolumeDriver`'s docstring is the contract; each method's says what
the library has made sure of before the call, what to return, what to raise, and what
a second call must do (**Idempotency**), because after a crash the library repeats or
undoes calls rather than resuming them.

The consistency-group methods keep the names, arguments and return shapes of Cinder's
``VolumeConsistencyGroupDriver`` interface. Their default raises
``NotImplementedError``, which makes the library use its generic, per-volume,
non-consistent fallback.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Mapping, Sequence
from typing import Any, Callable, ClassVar

from volumelib import exceptions as exc
from volumelib.drivers.options import Option, resolve_options
from volumelib.drivers.types import (BackendStats, Capability, ConnectionInfo,
                                     ConnectorProperties, SnapshotInfo, VolumeInfo)

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

#: A driver's answer to a create or an export: ``provider_location``, ``provider_id``
#: and (volumes only) ``provider_auth`` to save on the resource, or ``None``. Other
#: keys are ignored.
ModelUpdate = Mapping[str, Any] | None

#: Options every driver accepts, whatever its own.
COMMON_OPTIONS: tuple[Option, ...] = (
    Option("volume_backend_name", "str", None, "Name of the backend (set by Backend)."),
)


class VolumeDriver(abc.ABC):
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

    # -- connections ---------------------------------------------------------------

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

    # -- consistency groups (Cinder's VolumeConsistencyGroupDriver) ----------------
    # Groups and group snapshots are passed as plain mappings; volumes and snapshots
    # as VolumeInfo/SnapshotInfo; ``context`` is a small frozen object with
    # ``project_id`` and ``user_id``. Raise NotImplementedError to get the library's
    # per-volume fallback. Any other exception, volumelib's included, fails the whole
    # operation (group and every item ``error``; the user gets BackendError): report
    # per-item failures in the lists instead. Of each list entry only ``id`` and
    # ``status`` are read.

    def create_consistencygroup(self, context: Any, group: Mapping[str, Any]
                                ) -> Mapping[str, Any] | None:
        """Create the storage side of a group (if the storage has one).

        Called by ``backend.create_group()`` with the group stored in ``creating``
        under its lease, before its initial volumes are added with
        :meth:`update_consistencygroup`; and by the fallback of
        :meth:`create_consistencygroup_from_src`. ``NotImplementedError`` (the
        default) means the group lives in the library's store only, which is fine.

        Args:
            context: who asks (``project_id``, ``user_id``).
            group: ``{"id", "name", "status", "group_type", "backend_name"}``;
                ``group_type`` holds the group specs in Cinder syntax.

        Returns:
            ``model_update`` (``{"status": "error"}`` fails the create) or ``None``
            (success: the group is stored ``available``).

        Raises:
            NotImplementedError: no storage-side groups (the default).
            Anything else: the group is stored in ``error``; the user gets
            ``BackendError``.

        Idempotency:
            Never repeated with the same id: after a crash ``gc()`` marks the group
            ``error`` and the user deletes it (:meth:`delete_consistencygroup`).
            Finding the group's storage already there may be taken as success, as the
            ``file`` driver does.
        """
        raise NotImplementedError

    def create_consistencygroup_from_src(
            self, context: Any, group: Mapping[str, Any], volumes: Sequence[VolumeInfo],
            cgsnapshot: Mapping[str, Any] | None = None,
            snapshots: Sequence[SnapshotInfo] | None = None,
            source_cg: Mapping[str, Any] | None = None,
            source_vols: Sequence[VolumeInfo] | None = None,
    ) -> tuple[Mapping[str, Any] | None, list[Mapping[str, Any]] | None]:
        """Create a group and its volumes as copies of a group snapshot's snapshots
        or of a group's volumes.

        Exactly one source is given: ``cgsnapshot`` with ``snapshots``, or
        ``source_cg`` with ``source_vols``; ``volumes[i]`` is the copy of
        ``snapshots[i]`` (or ``source_vols[i]``) and at least as large. The new group
        and volumes are stored in ``creating``; the leases of the new group, the
        source and its members are held; every source is ``available`` (source
        volumes may be ``in-use``: copy them consistently, as one point in time).
        ``NotImplementedError`` makes the library call :meth:`create_consistencygroup`
        (if implemented) and then :meth:`create_volume_from_snapshot` or
        :meth:`create_cloned_volume` for each volume.

        Args:
            context: who asks.
            group: the new group's mapping (as for :meth:`create_consistencygroup`).
            volumes: the new volumes, in the sources' order.
            cgsnapshot: ``{"id", "name", "status", "group_id", "backend_name"}`` of
                the source group snapshot, or ``None``.
            snapshots: its member snapshots, or ``None``.
            source_cg: the source group's mapping, or ``None``.
            source_vols: its volumes, or ``None``.

        Returns:
            ``(model_update, volumes_model_update)``: ``None`` each for success;
            ``{"status": "error"}`` and/or entries ``{"id": <volume id>, "status":
            "error"}`` for failures. On failure the group is ``error``, volumes with
            an entry keep its status, the others become ``error`` too, and the user
            gets ``BackendError``; the user deletes the group with its volumes.

        Raises:
            NotImplementedError: use the per-volume fallback (the default).
            Anything else fails the group and every volume (``error``).

        Idempotency:
            Never repeated with the same group id. After a crash ``gc()`` rolls back
            each new volume with :meth:`delete_volume` and marks the group
            ``error``; deleting it then calls :meth:`delete_consistencygroup`, which
            must remove whatever else the copy made.
        """
        raise NotImplementedError

    def delete_consistencygroup(self, context: Any, group: Mapping[str, Any],
                                volumes: Sequence[VolumeInfo]
                                ) -> tuple[Mapping[str, Any] | None,
                                           list[Mapping[str, Any]] | None]:
        """Delete a group's storage side and the given volumes.

        The library checked that the group is ``available``, ``error`` or
        ``error_deleting`` and has no group snapshots, and that none of ``volumes``
        has a connection or a snapshot; the group and ``volumes`` are stored in
        ``deleting`` under their leases. ``volumes`` is every member (the user asked
        to delete them with the group), or empty for a group without volumes. With
        ``NotImplementedError`` the library deletes each volume with
        :meth:`delete_volume` and calls this method again with no volumes
        (a ``NotImplementedError`` then is ignored).

        Args:
            context: who asks.
            group: the group's mapping.
            volumes: the volumes to delete with it (possibly none).

        Returns:
            ``(model_update, volumes_model_update)``: ``None``, ``None`` when all is
            deleted; else ``{"status": "error_deleting"}`` and an entry
            ``{"id", "status"}`` per volume, ``"deleted"`` for those removed and
            ``"error_deleting"`` for the others (a volume without an entry counts as
            failed, ``error``). Deleted volumes leave the store even then; the
            group is stored ``error``, the failed volumes keep their status, and the
            user may delete again.

        Raises:
            NotImplementedError: use the per-volume fallback (the default).
            Anything else: the group and every volume are stored in ``error``.

        Idempotency:
            A group or volume already gone counts as deleted: a delete is repeated
            after a failure, and after a crash (which ``gc()`` marks
            ``error_deleting``).
        """
        raise NotImplementedError

    def update_consistencygroup(self, context: Any, group: Mapping[str, Any],
                                add_volumes: Sequence[VolumeInfo] | None = None,
                                remove_volumes: Sequence[VolumeInfo] | None = None
                                ) -> tuple[Mapping[str, Any] | None,
                                           list[Mapping[str, Any]] | None,
                                           list[Mapping[str, Any]] | None]:
        """Add volumes to a group and remove others, on the storage side.

        The group is stored in ``updating`` under its lease and the volumes'; added
        volumes are ``available`` or ``in-use`` and in no other group, removed ones
        are members. Also called right after :meth:`create_consistencygroup` with a
        new group's initial volumes. ``NotImplementedError`` means membership lives in
        the store only.

        Args:
            context: who asks.
            group: the group's mapping.
            add_volumes: volumes joining it, or ``None``.
            remove_volumes: volumes leaving it, or ``None``.

        Returns:
            ``(model_update, add_volumes_update, remove_volumes_update)``: ``None``
            each for success (the library records the new membership). For a
            failure, ``{"status": "error"}`` and entries ``{"id", "status"}``; the
            membership is then left as it was, and every volume without an entry is
            stored ``error``, so report the volumes that are fine with their status
            (``"available"``/``"in-use"``) as well. Do it all or nothing.

        Raises:
            NotImplementedError: membership in the store only (the default).
            Anything else: the update fails, the group and every volume named are
            stored ``error``.

        Idempotency:
            Adding a volume that is already in the group's storage, or removing one
            that is not, succeeds without change (a repeat after a crash, which
            ``gc()`` settles by putting the group back to ``available``).
        """
        raise NotImplementedError

    def create_cgsnapshot(self, context: Any, cgsnapshot: Mapping[str, Any],
                          snapshots: Sequence[SnapshotInfo]
                          ) -> tuple[Mapping[str, Any] | None,
                                     list[Mapping[str, Any]] | None]:
        """Snapshot every volume of a group at one point in time.

        Only called when the driver declares ``CONSISTENT_GROUP_SNAPSHOT``: the group
        snapshot then records ``consistent=True``. The group has volumes, all
        ``available`` or ``in-use``; the group snapshot and one snapshot per member
        (``group_snapshot_id`` set) are stored in ``creating``; the leases of the
        group and its volumes are held. Later, each member snapshot may be used by
        :meth:`create_volume_from_snapshot` and :meth:`revert_to_snapshot`, and is
        deleted only with the group snapshot (:meth:`delete_cgsnapshot`).
        ``NotImplementedError`` makes the library take the snapshots one by one with
        :meth:`create_snapshot` (``consistent=False``).

        Args:
            context: who asks.
            cgsnapshot: ``{"id", "name", "status", "group_id", "backend_name"}``.
            snapshots: one per member volume, with the volume.

        Returns:
            ``(model_update, snapshots_model_update)``: ``None``, ``None`` for
            success; ``{"status": "error"}`` and/or ``{"id", "status": "error"}``
            entries for a failure (the group snapshot and the snapshots without an
            entry become ``error``; the user gets ``BackendError`` and deletes it).
            Make it all or nothing: a failed group snapshot is not recorded
            ``consistent``, so its delete goes member by member through
            :meth:`delete_snapshot`.

        Raises:
            NotImplementedError: use the per-volume fallback (the default).
            Anything else: the group snapshot and every snapshot are ``error``.

        Idempotency:
            Never repeated with the same id (a group snapshot that exists on the
            storage may be refused with ``AlreadyExists``). After a crash ``gc()``
            marks it and its snapshots ``error``; its delete then calls
            :meth:`delete_snapshot` per member (the record does not say the native
            call ran), and what is left of it is an orphan for :meth:`gc`.
        """
        raise NotImplementedError

    def delete_cgsnapshot(self, context: Any, cgsnapshot: Mapping[str, Any],
                          snapshots: Sequence[SnapshotInfo]
                          ) -> tuple[Mapping[str, Any] | None,
                                     list[Mapping[str, Any]] | None]:
        """Delete a group snapshot and its member snapshots.

        Called only for group snapshots :meth:`create_cgsnapshot` made (recorded
        ``consistent``) while the driver declares ``CONSISTENT_GROUP_SNAPSHOT``;
        others are deleted member by member with :meth:`delete_snapshot`. The group
        snapshot is ``available``, ``error`` or ``error_deleting``; it and its
        snapshots are stored in ``deleting`` under their leases. Volumes created from
        the member snapshots must keep working.

        Args:
            context: who asks.
            cgsnapshot: the group snapshot's mapping.
            snapshots: its member snapshots.

        Returns:
            ``(model_update, snapshots_model_update)``: ``None``, ``None`` when all
            is deleted; else ``{"status": "error_deleting"}`` and entries
            ``{"id", "status"}`` (``"deleted"`` or ``"error_deleting"``; a snapshot
            without an entry counts as failed, ``error``). Deleted snapshots leave
            the store even then; the group snapshot is stored ``error``, the rest
            keep their status, and the user may delete again.

        Raises:
            NotImplementedError: delete member by member instead.
            Anything else: the group snapshot and every snapshot are ``error``.

        Idempotency:
            A group snapshot or member already gone counts as deleted (a delete
            repeated after ``error_deleting`` or after a crash).
        """
        raise NotImplementedError

    # -- manage, migrate, retype ---------------------------------------------------
    # Optional, each behind a declared capability (MANAGE_EXISTING,
    # MANAGE_EXISTING_SNAPSHOT, MIGRATE, RETYPE, ALLOCATION_MAP): the library checks it
    # before calling. Names, arguments and return shapes are Cinder's (its
    # ManageableVD, ManageableSnapshotsVD, migrate_volume and retype), so a Cinder
    # driver maps onto them one to one. A *reference* names a storage object the way
    # Cinder's do: ``{"source-name": ...}`` or ``{"source-id": ...}``.

    def get_manageable_volumes(self, cinder_volumes: Sequence[VolumeInfo],
                               marker: Any, limit: int | None, offset: int,
                               sort_keys: Sequence[str], sort_dirs: Sequence[str]
                               ) -> list[dict[str, Any]]:
        """List the storage objects that could be adopted as volumes.

        Args:
            cinder_volumes: the volumes the library already has on this backend; an
                object that is one of them is listed as not safe (``cinder_id`` set).
            marker: the ``reference`` of the last entry of the previous page (or
                ``None``); entries sorted after it are returned.
            limit: at most this many entries (``None``: all).
            offset: entries to skip after the marker.
            sort_keys, sort_dirs: Cinder's sort (``["reference"]``/``["asc"]``;
                ``size`` also). :func:`volumelib.drivers.manageable.paginate_manageable`
                does all four.

        Returns:
            One dict per object with Cinder's keys: ``reference`` (a reference dict),
            ``size`` (GiB, rounded up), ``safe_to_manage`` (bool), ``reason_not_safe``
            (str or ``None``: in use, already managed, wrong format...), ``cinder_id``
            (the volume's id when already managed, else ``None``), ``extra_info``
            (str or ``None``).

        Raises:
            NotSupported: the driver does not declare ``MANAGE_EXISTING``.

        Idempotency: a read; changes nothing.
        """
        raise exc.NotSupported(operation="get_manageable_volumes", driver=self.name)

    def manage_existing_get_size(self, volume: VolumeInfo,
                                 existing_ref: Mapping[str, Any]) -> int:
        """The size in GiB (rounded up) ``existing_ref`` would have as ``volume``.

        The library calls it before storing anything, so it must also refuse
        everything :meth:`manage_existing` would refuse.

        Args:
            volume: the volume to be (its id, name and type; ``size`` is 0).
            existing_ref: ``{"source-name": ...}`` or ``{"source-id": ...}``.

        Returns:
            GiB, at least 1.

        Raises:
            InvalidReference: not a reference this driver takes.
            ReferenceNotFound: nothing answers it.
            AlreadyManaged: it is a volume of this backend already.
            NotManageable: it is unsafe to adopt (in use, wrong format...).
            NotSupported: no ``MANAGE_EXISTING``.

        Idempotency: a read; changes nothing.
        """
        raise exc.NotSupported(operation="manage_existing_get_size", driver=self.name)

    def manage_existing(self, volume: VolumeInfo,
                        existing_ref: Mapping[str, Any]) -> ModelUpdate:
        """Adopt ``existing_ref`` as ``volume``: from now on the driver finds its data
        by ``volume.id`` (rename it into the driver's naming, as Cinder's drivers do)
        and it has ``volume.size`` GiB (grown, never shrunk, to the rounded-up size).
        The data is left as it is.

        Args:
            volume: the new volume's record (stored ``managing`` already).
            existing_ref: as for :meth:`manage_existing_get_size`.

        Returns:
            A model update (``provider_location``...) or ``None``.

        Raises:
            Everything :meth:`manage_existing_get_size` raises.

        Idempotency: a repeated call (after a crash) whose reference is gone but whose
        object is already ``volume``'s returns as the first one did; ``gc()`` relies
        on it to finish an interrupted manage.
        """
        raise exc.NotSupported(operation="manage_existing", driver=self.name)

    def unmanage(self, volume: VolumeInfo) -> Mapping[str, Any] | None:
        """Let go of ``volume``'s storage object, keeping its data: move it out of the
        driver's naming (where ``gc`` would take it for an orphan) to a name
        :meth:`get_manageable_volumes` lists again.

        Args:
            volume: the volume (``unmanaging``, no exports, no snapshots).

        Returns:
            The reference of the object now (for ``manage`` again), or ``None`` when
            the driver keeps no object (the library then reports none).

        Raises:
            VolumeInUse: the object is exported or open.
            NotSupported: no ``MANAGE_EXISTING``.

        Idempotency: a repeated call after the object was moved returns the same
        reference; a missing object: ``None``.
        """
        raise exc.NotSupported(operation="unmanage", driver=self.name)

    def get_manageable_snapshots(self, cinder_snapshots: Sequence[SnapshotInfo],
                                 marker: Any, limit: int | None, offset: int,
                                 sort_keys: Sequence[str], sort_dirs: Sequence[str]
                                 ) -> list[dict[str, Any]]:
        """Like :meth:`get_manageable_volumes`, for snapshots. Each entry also has
        ``source_reference``: the reference of the volume's storage object it is a
        snapshot of (safe only when that object is a managed volume).

        Raises:
            NotSupported: no ``MANAGE_EXISTING_SNAPSHOT``.

        Idempotency: a read; changes nothing.
        """
        raise exc.NotSupported(operation="get_manageable_snapshots", driver=self.name)

    def manage_existing_snapshot_get_size(self, snapshot: SnapshotInfo,
                                          existing_ref: Mapping[str, Any]) -> int:
        """The size in GiB of ``existing_ref``, a snapshot of ``snapshot.volume``'s
        storage object. Raises as :meth:`manage_existing_get_size` does (plus
        ``NotManageable`` when it is not a snapshot of that volume).

        Idempotency: a read; changes nothing.
        """
        raise exc.NotSupported(operation="manage_existing_snapshot_get_size",
                               driver=self.name)

    def manage_existing_snapshot(self, snapshot: SnapshotInfo,
                                 existing_ref: Mapping[str, Any]) -> ModelUpdate:
        """Adopt ``existing_ref`` as ``snapshot`` (rename it into the driver's naming).

        Returns:
            A model update or ``None``.

        Raises:
            As :meth:`manage_existing_snapshot_get_size`.

        Idempotency: as :meth:`manage_existing`.
        """
        raise exc.NotSupported(operation="manage_existing_snapshot", driver=self.name)

    def unmanage_snapshot(self, snapshot: SnapshotInfo) -> Mapping[str, Any] | None:
        """Let go of ``snapshot``'s storage object, keeping it (see :meth:`unmanage`).

        Returns:
            Its reference now, or ``None``.

        Idempotency: as :meth:`unmanage`.
        """
        raise exc.NotSupported(operation="unmanage_snapshot", driver=self.name)

    def migrate_volume(self, volume: VolumeInfo, target: VolumeDriver,
                       progress: Callable[[int, int], None] | None = None
                       ) -> tuple[bool, ModelUpdate]:
        """Copy ``volume`` to the backend of driver ``target`` by the storage's own
        means (a reflink within one filesystem, a deep copy within one cluster),
        where that is possible.

        The copy is made under the same id on the target (``target`` then finds it by
        ``volume.id``), complete before this returns; the source is left intact: the
        library switches the record to the target and then deletes the source, so an
        interrupted migration can always be rolled back or finished. No export of
        either is needed.

        Args:
            volume: the volume (``migrating``, not attached, no snapshots).
            target: the set-up driver of the target backend (any class).
            progress: ``progress(copied_bytes, total_bytes)``, when the storage says.

        Returns:
            ``(False, None)`` with nothing changed when this driver cannot reach
            ``target`` (another class, cluster, filesystem...): the library copies
            through this host. ``(True, model_update)`` when the copy exists: the
            update is the target's (``provider_location``...) or ``None``.

        Raises:
            AlreadyExists: the target has an object for ``volume.id`` already.
            NotSupported: no ``MIGRATE``.

        Idempotency: not idempotent; the library deletes a partial copy with
        ``target.delete_volume`` before any retry.
        """
        raise exc.NotSupported(operation="migrate_volume", driver=self.name)

    def retype(self, volume: VolumeInfo, new_type: Mapping[str, Any],
               diff: Mapping[str, Any]) -> tuple[bool, ModelUpdate]:
        """Adjust ``volume`` in place to its new type (QoS, tiering...).

        Called only when this backend satisfies the new type's extra specs. A driver
        without ``RETYPE`` has nothing per volume to adjust: the library changes only
        the record.

        Args:
            volume: the volume, with its old ``volume_type`` specs.
            new_type: ``{"extra_specs": {...}, "qos_specs": {...}}`` of the new type.
            diff: Cinder's diff, ``{"extra_specs": {key: (old, new)}, "qos_specs":
                {key: (old, new)}}``, only the keys that change.

        Returns:
            ``(True, model_update)`` when done; ``(False, None)`` with nothing changed
            when this volume cannot be adjusted in place (the library then migrates,
            if the caller allows it).

        Raises:
            NotSupported: no ``RETYPE``.

        Idempotency: a repeated call with the same type is a no-op.
        """
        raise exc.NotSupported(operation="retype", driver=self.name)

    def get_allocated_extents(self, volume: VolumeInfo) -> list[tuple[int, int]]:
        """The ``(offset, length)`` byte ranges of ``volume`` that may hold data, in
        order and not overlapping; everything else reads as zeros. A host-assisted
        copy reads only these (a file's ``SEEK_DATA``/``SEEK_HOLE``, ``rbd diff``).

        Raises:
            VolumeNotFound: no storage object.
            NotSupported: no ``ALLOCATION_MAP``.

        Idempotency: a read; changes nothing.
        """
        raise exc.NotSupported(operation="get_allocated_extents", driver=self.name)
