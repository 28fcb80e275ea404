"""What a capture path really is, checked before anything opens it.

Opening a FIFO blocks forever and /dev/null reads as an empty file, so every reader asks here first: one line
naming the path and what it is (a FIFO, a device, a symlink loop, a name too long, ...), never "no such file"
for something that exists, and never a hang.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from flashsight.errors import InputError

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))
_ERRNO = {errno.ENOENT: "no such file", errno.ELOOP: "a symlink loop (too many levels of symbolic links)",
          errno.ENAMETOOLONG: "file name too long", errno.EACCES: "permission denied", errno.ENOTDIR:
          "a component of the path is not a folder", errno.EPERM: "permission denied"}


def check_input_file(path: Path, what: str = "a capture") -> os.stat_result:
    """The stat of a readable regular file (symlinks followed); InputError naming what it is otherwise."""
    path = Path(path)
    try:
        st = os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ENOENT and os.path.islink(path):
            raise InputError(f"{path}: a symlink to {os.readlink(path)}, which does not exist") from None
        raise InputError(f"{path}: {_ERRNO.get(exc.errno, exc.strerror or str(exc))}") from None
    if not stat.S_ISREG(st.st_mode):
        kind = next((name for test, name in _KINDS if test(st.st_mode)), "something other than a regular file")
        hint = " (give the .sqlite/.nsys-rep/.ncu-rep/.csv)" if stat.S_ISDIR(st.st_mode) else ""
        raise InputError(f"{path}: is {kind}, not {what}{hint}")
    if not os.access(path, os.R_OK):
        raise InputError(f"{path}: permission denied")
    return st
