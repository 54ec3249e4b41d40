"""Where native (C++) output goes: TensorFlow logs its start-up to file descriptor 2 directly."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def native_stderr_to(path: str | os.PathLike) -> Iterator[None]:
    """Point file descriptor 2 at `path` (appending) for the block; child processes inherit it.

    Python-level errors still reach the caller as exceptions; only the native chatter
    (TensorFlow's oneDNN, CUDA-probe and absl messages) is kept off the terminal.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(path, "ab") as log:
            os.dup2(log.fileno(), 2)
            yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
