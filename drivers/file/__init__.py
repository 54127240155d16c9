"""The ``file`` volume driver: sparse files, reflink or sparse copies, loop devices."""

from volumelib.drivers.file.driver import FileDriver

__all__ = ["FileDriver"]
