"""Reading back a small file this library wrote itself (state, dead letters).

Such a file is read whole, so a path naming a character device (``/dev/zero``
never ends, ``/dev/full`` neither) or a FIFO must be refused before the first
byte, not after memory runs out.
"""

from __future__ import annotations

import errno
import os
import stat

LOCAL_HOSTS = ("", "localhost")
"""Hosts a ``file://`` URL may name: any other names a file on another machine."""


def read_regular_file(path: str | os.PathLike[str]) -> bytes:
    """The whole content of ``path``; an ``OSError`` when it is not a regular file.

    The check is made on the opened descriptor (``fstat``), so a path swapped
    for a device between a check and the read is refused too.  Opening with
    ``O_NONBLOCK`` keeps a FIFO without a writer from hanging the open.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise OSError(errno.EISDIR, os.strerror(errno.EISDIR), os.fspath(path))
        if not stat.S_ISREG(mode):
            raise OSError(errno.EINVAL, "not a regular file", os.fspath(path))
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb", closefd=False) as file:
            return file.read()
    finally:
        os.close(fd)
