"""``qemu-img``: what an image is (:func:`inspect`) and writing it raw into a volume
(:func:`convert`).

:func:`inspect` runs ``qemu-img info --output=json`` and, for formats with metadata
that can be damaged, ``qemu-img check``: a truncated qcow2 or vmdk converts "fine"
(reads past the end return zeros), so only ``check`` catches it. Images with a
backing file, vmdk descriptors pointing at other files and formats outside
:data:`ALLOWED_FORMATS` are refused. Both commands run under ``prlimit`` (1 GiB of
address space, 60 s of CPU) where it exists, since a hostile image can make
``qemu-img`` loop or allocate without bound.

:func:`convert` runs ``qemu-img convert -p -n -O raw`` into an existing file or
block device, with ``-S`` (zero runs become holes) and, for a target known to be
all zeros (a fresh sparse file), ``--target-is-zero`` so nothing is written for
zeros; ``-p`` output is parsed into progress callbacks.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Callable
from typing import Any

from volumelib import exceptions as exc
from volumelib.image_cache import exceptions as ic_exc

__all__ = ["ALLOWED_FORMATS", "QEMU_IMG", "ImageInfo", "convert", "inspect"]

LOG = logging.getLogger(__name__)

QEMU_IMG = "qemu-img"
#: Formats accepted as sources.
ALLOWED_FORMATS = frozenset({"raw", "qcow2", "vmdk", "vdi", "vhdx", "vpc", "qed"})
#: vmdk subformats that keep their data in the one file (Cinder refuses the others).
_VMDK_CREATE_TYPES = frozenset({"monolithicSparse", "streamOptimized"})
#: ``qemu-img check`` exit codes: 0 clean, 3 leaked clusters only (harmless),
#: 63 the format has no check.
_CHECK_OK = frozenset({0, 3, 63})
_LIMITS = ["--as=1073741824", "--cpu=60"]
_PROGRESS = re.compile(rb"\((\d+(?:\.\d+)?)/100%\)")


@dataclasses.dataclass(frozen=True)
class ImageInfo:
    """What ``qemu-img info`` says of an image."""

    format: str
    virtual_size: int
    actual_size: int | None
    details: dict[str, Any] = dataclasses.field(default_factory=dict, compare=False)


def _require_qemu_img() -> str:
    path = shutil.which(QEMU_IMG)
    if path is None:
        raise exc.NotSupported(f"provisioning from images needs {QEMU_IMG} (Debian/Ubuntu: "
                               f"apt-get install qemu-utils)",
                               operation="create_volume from an image", driver=QEMU_IMG)
    return path


def _limited(cmd: list[str]) -> list[str]:
    prlimit = shutil.which("prlimit")
    return [prlimit, *_LIMITS, *cmd] if prlimit else cmd


def _stderr(result: subprocess.CompletedProcess[str]) -> str:
    text = (result.stderr or result.stdout or "").strip()
    lines = [ln.removeprefix("qemu-img: ") for ln in text.splitlines() if ln.strip()]
    if len(lines) > 4:
        lines = [*lines[:2], f"... ({len(lines) - 3} more lines)", lines[-1]]
    return "; ".join(lines) or f"exit status {result.returncode}"


def inspect(path: str, *, name: str | None = None, timeout: float = 120.0) -> ImageInfo:
    """Detect the format and virtual size of the image in ``path``; check it.

    Args:
        name: how to call the image in errors (default: ``path``).

    Raises:
        CorruptImage: unreadable, truncated or damaged, a refused format, a backing
            file, or a vmdk with external extents.
        NotSupported: no ``qemu-img``.
    """
    name = name or path
    qemu_img = _require_qemu_img()
    result = subprocess.run(_limited([qemu_img, "info", "--output=json", path]),
                            capture_output=True, text=True, timeout=timeout, check=False)
    if result.returncode != 0:
        raise ic_exc.CorruptImage(image=name, reason=f"qemu-img info: {_stderr(result)}")
    try:
        data = json.loads(result.stdout)
        fmt, vsize = str(data["format"]), int(data["virtual-size"])
    except (ValueError, KeyError, TypeError) as e:
        raise ic_exc.CorruptImage(image=name, reason=f"qemu-img info gave no format and "
                                                     f"size: {result.stdout[:200]!r}") from e
    if fmt not in ALLOWED_FORMATS:
        raise ic_exc.CorruptImage(image=name, reason=f"format {fmt} is not accepted "
                                                     f"({', '.join(sorted(ALLOWED_FORMATS))})")
    if data.get("backing-filename") or data.get("full-backing-filename"):
        raise ic_exc.CorruptImage(image=name, reason=f"it has a backing file "
                                                     f"({data.get('backing-filename')!r}); "
                                                     f"only standalone images are accepted")
    specific = (data.get("format-specific") or {}).get("data") or {}
    if specific.get("corrupt"):
        raise ic_exc.CorruptImage(image=name, reason=f"{fmt} marks itself corrupt")
    if fmt == "vmdk":
        create_type = specific.get("create-type")
        extents = specific.get("extents") or []
        if create_type not in _VMDK_CREATE_TYPES or any(
                os.path.basename(str(e.get("filename", ""))) != os.path.basename(path)
                for e in extents):
            raise ic_exc.CorruptImage(image=name, reason=f"vmdk of type {create_type} "
                                                         f"refers to other files")
    if vsize <= 0:
        raise ic_exc.CorruptImage(image=name, reason=f"virtual size {vsize}")
    if fmt != "raw":
        check = subprocess.run(_limited([qemu_img, "check", "-f", fmt, path]),
                               capture_output=True, text=True, timeout=timeout,
                               check=False)
        if check.returncode not in _CHECK_OK:
            raise ic_exc.CorruptImage(image=name, reason=f"qemu-img check found it damaged "
                                                         f"or truncated: {_stderr(check)}")
    return ImageInfo(format=fmt, virtual_size=vsize,
                     actual_size=data.get("actual-size"), details=data)


def convert(src: str, src_format: str, dst: str, *, target_is_zero: bool = False,
            progress: Callable[[float], None] | None = None, name: str | None = None,
            timeout: float | None = None) -> None:
    """Write image ``src`` (of ``src_format``) raw into the existing ``dst`` (a file at
    least the image's virtual size, or a block device).

    Args:
        target_is_zero: ``dst`` reads as zeros (a fresh sparse file): zero areas
            are not written at all.
        progress: called with the percentage done (0 to 100).

    Raises:
        CorruptImage: ``qemu-img`` failed reading the image.
        BackendError: any other failure: writing ``dst`` (full, too small...).
    """
    name = name or src
    cmd = [_require_qemu_img(), "convert", "-p", "-n", "-f", src_format, "-O", "raw",
           "-S", "4k", "-t", "none" if _direct_ok(dst) else "writeback"]
    if target_is_zero:
        cmd.append("--target-is-zero")
    cmd += [src, dst]
    LOG.debug("running %s", " ".join(cmd))
    # stderr to a file (closed below): a chatty qemu-img cannot block on a full pipe
    errors = tempfile.TemporaryFile()  # noqa: SIM115
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errors,
                            stdin=subprocess.DEVNULL)
    assert proc.stdout is not None
    try:
        buffer = b""
        while True:
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                break
            buffer += chunk
            *done, buffer = buffer.split(b"\r")
            for part in done:
                match = _PROGRESS.search(part)
                if match and progress:
                    progress(float(match.group(1)))
        proc.wait(timeout=timeout)
        errors.seek(0)
        stderr = errors.read()
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    finally:
        proc.stdout.close()
        errors.close()
    if proc.returncode != 0:
        text = stderr.decode(errors="replace").strip()
        message = "; ".join(ln.removeprefix("qemu-img: ") for ln in text.splitlines()
                            if ln.strip()) or f"exit status {proc.returncode}"
        # The image passed inspect(): a failure reading it is damaged data (e.g. a
        # compressed cluster); anything else is about the target.
        if "error while reading" in text or f"'{src}'" in text:
            raise ic_exc.CorruptImage(image=name, reason=f"qemu-img convert: {message}")
        raise exc.BackendError(backend_name=dst, operation=f"write image {name}",
                               reason=f"qemu-img convert: {message}")
    if progress:
        progress(100.0)


def _direct_ok(dst: str) -> bool:
    """Block devices take ``O_DIRECT`` writes (no second page cache); files keep the
    default cache mode, which also works on filesystems without ``O_DIRECT``."""
    try:
        return stat.S_ISBLK(os.stat(dst).st_mode)
    except OSError:
        return False
