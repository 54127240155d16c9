"""Reading and writing an attached volume the way the cinderlib scripts do it.

``path`` is ``vol.local_attach.path``: a device path (written and read with ``dd``,
direct I/O, so offsets and lengths are whole 4 KiB blocks), or, for os-brick's
userspace RBD attach (no krbd here), a file-like handle (seek/read/write).
"""
import subprocess

BLOCK = 4096


def write_at(path, offset, data):
    if not isinstance(path, str):
        path.seek(offset)
        path.write(data)
        path.flush()
        return
    subprocess.run(["dd", "of=" + path, "bs=%d" % BLOCK, "seek=%d" % (offset // BLOCK),
                    "iflag=fullblock", "oflag=direct", "conv=fsync,notrunc"],
                   input=data, check=True, stderr=subprocess.DEVNULL)


def read_at(path, offset, length):
    if not isinstance(path, str):
        path.seek(offset)
        return path.read(length)
    return subprocess.check_output(["dd", "if=" + path, "bs=%d" % BLOCK,
                                    "skip=%d" % (offset // BLOCK),
                                    "count=%d" % (length // BLOCK), "iflag=direct"],
                                   stderr=subprocess.DEVNULL)


def device_size(path):
    if not isinstance(path, str):
        path.seek(0, 2)
        return path.tell()
    out = subprocess.check_output(["lsblk", "-b", "-n", "-d", "-o", "SIZE", path])
    return int(out.split()[0])
