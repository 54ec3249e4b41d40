"""Files and file names that come from users: opened only if they are regular files, shown escaped.

Light on purpose (standard library only): the command line uses it for every message that names a file.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO


def _escaped(character: str) -> str:
    """`\\n`, `\\x1b`, `\\u202e`; a byte of a file name that is not UTF-8 (a lone surrogate in Python) as `\\xe9`."""
    if "\udc80" <= character <= "\udcff":
        return f"\\x{ord(character) - 0xDC00:02x}"
    return character.encode("unicode_escape").decode("ascii")


def printable(text: str | os.PathLike) -> str:
    """Text, or a file name, safe to print on one line: control characters, terminal escape codes and the bytes
    of a name that is not UTF-8 are shown escaped, as `\\n`, `\\x1b` and `\\xe9`."""
    return "".join(c if c.isprintable() else _escaped(c) for c in os.fsdecode(text))


def valid_unicode(text: str | os.PathLike) -> str:
    """Text, or a file name, that encodes to UTF-8, as JSON needs: only the bytes of a name that is not UTF-8
    are shown escaped, as `\\xe9`."""
    return "".join(_escaped(c) if "\ud800" <= c <= "\udfff" else c for c in os.fsdecode(text))


def open_regular_file(path: Path, error: type[Exception]) -> BinaryIO:
    """Open `path` to read, raising `error` unless it is a regular file: a FIFO or a device may block or never end.

    The file is opened without waiting for a FIFO's writer and checked once open, so it cannot be swapped in between.
    """
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        raise error(f"{path}: not a regular file; pass an ordinary file, not a FIFO, device or socket")
    return os.fdopen(descriptor, "rb")


def clear_own_file(path: Path) -> None:
    """Before a run writes its own file at `path` again: remove a link, a FIFO or a device planted there, so the
    write never goes through it to somewhere else (or blocks on a FIFO's reader). A regular file stays, to be
    replaced or appended to."""
    if path.is_symlink() or (os.path.lexists(path) and not path.is_file()):
        path.unlink()
