"""How the RBD driver names things in the pool (see :mod:`volumelib.drivers.rbd.driver`)."""

from __future__ import annotations

from volumelib.drivers.boundary import is_canonical_uuid

__all__ = ["VOLUME", "SNAPSHOT", "CLONE_SNAP", "is_canonical_uuid", "id_after"]

#: Prefix of a volume's image, ``volume-<id>``.
VOLUME = "volume-"
#: Prefix of a snapshot, ``volume-<vid>@snapshot-<sid>``.
SNAPSHOT = "snapshot-"
#: Prefix of the temporary snapshot a volume clone is made from, ``clone-<new id>``.
CLONE_SNAP = "clone-"


def id_after(name: str, prefix: str) -> str | None:
    """The canonical UUID following ``prefix`` in ``name``, or ``None``."""
    value = name[len(prefix):] if name.startswith(prefix) else ""
    return value if is_canonical_uuid(value) else None
