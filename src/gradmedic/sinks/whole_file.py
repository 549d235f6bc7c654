"""A file appended in whole pieces: each piece lands entirely or not at all.

On a write error (a full disk gives ENOSPC; a file-size limit such as ``ulimit -f`` gives EFBIG, since
Python ignores SIGXFSZ) the file is cut back to the end of the last whole piece and the error is
raised, so a reader never meets a torn line or record.
"""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path


class WholeFile:
    """An append-only file written with ``os.write``; ``size`` is where the last whole piece ends."""

    def __init__(self, path: str | Path, *, exclusive: bool = True) -> None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_BINARY", 0)
        if exclusive:
            flags |= os.O_EXCL  # FileExistsError when another writer got there first
        self.path = Path(path)
        self._fd = os.open(self.path, flags, 0o644)
        self.size = os.fstat(self._fd).st_size

    @property
    def closed(self) -> bool:
        return self._fd < 0

    def write(self, piece: bytes) -> None:
        if self._fd < 0:
            raise ValueError(f"{self.path} is closed")
        view = memoryview(piece)
        done = 0
        try:
            while done < len(view):
                n = os.write(self._fd, view[done:])
                if n <= 0:
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self.path))
                done += n
        except OSError:
            self._cut_back()
            raise
        self.size += done

    def _cut_back(self) -> None:
        with contextlib.suppress(OSError):  # nothing more can be done; the reader skips a torn last line
            os.ftruncate(self._fd, self.size)

    def close(self) -> None:
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            os.close(fd)
