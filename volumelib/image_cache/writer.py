"""What ``open_for_write`` yields: a file that hashes, reserves room and keeps holes."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable

from volumelib import exceptions as exc
from volumelib.image_cache import exceptions as ic_exc

__all__ = ["RECORDED_ALGORITHM", "ImageWriter", "parse_checksum"]

#: The checksum every entry records (and ``verify`` checks).
RECORDED_ALGORITHM = "sha256"
#: Bare hex digests are recognized by their length.
_BY_LENGTH = {32: "md5", 40: "sha1", 64: "sha256", 128: "sha512"}
_HEX = re.compile(r"^[0-9a-f]+$")
#: Room is reserved in steps of at least this many bytes when the size is unknown.
RESERVE_STEP = 16 * 1024 * 1024


def parse_checksum(value: str) -> tuple[str, str]:
    """``"sha256:<hex>"``, ``"md5:<hex>"``... or a bare hex digest (its length says
    which) -> ``(algorithm, lowercase hex)``. Raises ``InvalidArgument``."""
    if not isinstance(value, str):
        raise exc.InvalidArgument(reason=f"checksum must be a string: {value!r:.60}")
    algorithm, sep, digest = value.strip().partition(":")
    if not sep:
        algorithm, digest = _BY_LENGTH.get(len(value.strip()), ""), value.strip()
    algorithm, digest = algorithm.lower(), digest.lower()
    if algorithm not in hashlib.algorithms_available or not _HEX.match(digest):
        raise exc.InvalidArgument(
            reason=f"checksum {value!r:.80} must be ALGORITHM:HEX (sha256, md5, sha512...) "
                   f"or a bare md5/sha1/sha256/sha512 hex digest")
    if len(digest) != hashlib.new(algorithm).digest_size * 2:
        raise exc.InvalidArgument(reason=f"checksum {value!r:.80} has the wrong length "
                                         f"for {algorithm}")
    return algorithm, digest


_ZEROS = bytes(1024 * 1024)


def _is_zero(data: bytes) -> bool:
    """Whether ``data`` is all zero bytes (fast: compares against a zero buffer)."""
    step = len(_ZEROS)
    for i in range(0, len(data), step):
        piece = data[i:i + step]
        if piece != _ZEROS[:len(piece)]:
            return False
    return True


class ImageWriter:
    """Writes an image into its ``incomplete/`` file.

    Every write is hashed (sha256, plus the expected checksum's algorithm); blocks of
    zeros are skipped, so they stay holes (the file is sized at the end). Before the
    file grows past what is reserved, ``reserve(new_size)`` is called, which enforces
    the cache's limits.
    """

    def __init__(self, fd: int, expected: tuple[str, str] | None,
                 reserve: Callable[[int], None], step: int = RESERVE_STEP) -> None:
        self.fd = fd
        self.step = max(1, step)
        self.written = 0
        self.reserved = 0
        self._reserve = reserve
        self._expected = expected
        self._hashes = {RECORDED_ALGORITHM: hashlib.new(RECORDED_ALGORITHM)}
        if expected is not None and expected[0] not in self._hashes:
            self._hashes[expected[0]] = hashlib.new(expected[0])

    def reserve_now(self, nbytes: int) -> None:
        """Reserve ``nbytes`` (the expected size) at once, or just the entry."""
        self._reserve(max(nbytes, 0))
        self.reserved = max(nbytes, 0)

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Append ``data``; returns its length. OSError (``ENOSPC``...) propagates."""
        if not isinstance(data, bytes):
            data = bytes(data)
        n = len(data)
        if not n:
            return 0
        for h in self._hashes.values():
            h.update(data)
        end = self.written + n
        if end > self.reserved:
            new = max(end, self.reserved + self.step)
            self._reserve(new)
            self.reserved = new
        if not _is_zero(data):
            view, offset = memoryview(data), self.written
            while view:
                done = os.pwrite(self.fd, view, offset)
                view, offset = view[done:], offset + done
        self.written = end
        return n

    @property
    def checksum(self) -> str:
        """``"sha256:<hex>"`` of what was written so far."""
        return f"{RECORDED_ALGORITHM}:{self._hashes[RECORDED_ALGORITHM].hexdigest()}"

    def finish(self, image_id: str) -> None:
        """Size the file to what was written, fsync it, check the expected checksum.

        Raises:
            ChecksumMismatch: the bytes are not the expected ones.
        """
        os.ftruncate(self.fd, self.written)
        os.fsync(self.fd)
        if self._expected is not None:
            algorithm, digest = self._expected
            actual = self._hashes[algorithm].hexdigest()
            if actual != digest:
                raise ic_exc.ChecksumMismatch(image=image_id,
                                              expected=f"{algorithm}:{digest}",
                                              actual=f"{algorithm}:{actual}")
