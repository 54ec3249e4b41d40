"""Where native (C++) output goes: TensorFlow logs its start-up to file descriptor 2 directly."""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..untrusted import clear_own_file


@contextmanager
def native_stderr_to(path: str | os.PathLike) -> Iterator[None]:
    """Point file descriptor 2 at `path` (appending) for the block; child processes inherit it.

    Python-level errors still reach the caller as exceptions; only the native chatter
    (TensorFlow's oneDNN, CUDA-probe and absl messages) is kept off the terminal. `path` is the run's own
    log: a link or anything but a file in its place (a FIFO would block the run) is removed first, and the
    file is opened without following links, so nothing outside the run folder is written to.
    """
    with _stderr_to(_own_file(Path(path))):
        yield


@contextmanager
def native_stderr_discarded() -> Iterator[None]:
    """Send file descriptor 2 to the null device for the block (`digitlib predict`: TensorFlow's start-up chatter is
    not the user's business). The device is opened as it is: it is the system's, never a run's file to replace."""
    with _stderr_to(os.open(os.devnull, os.O_WRONLY)):
        yield


@contextmanager
def _stderr_to(descriptor: int) -> Iterator[None]:
    """Point file descriptor 2 at `descriptor` for the block, then back; `descriptor` is closed afterwards."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        os.dup2(descriptor, 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(descriptor)


def _own_file(path: Path) -> int:
    """A descriptor appending to the regular file at `path` (made if missing), never through a link."""
    clear_own_file(path)
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o666)
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):  # something else was put there in between
        os.close(descriptor)
        raise OSError(f"{path}: not a regular file")
    os.set_blocking(descriptor, True)
    return descriptor
