"""Writes that are all-or-nothing: a reader sees the old file or the new one, never half."""

from __future__ import annotations

import errno
import glob
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

from .untrusted import valid_unicode


def current_umask() -> int:
    """The process's umask, read without changing it (os.umask can only set it, racing other threads)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _temporary_affixes(path: Path) -> tuple[str, str]:
    """How write_atomic's temporaries of `path` are named: this prefix, random letters (mkstemp's), this suffix."""
    return f".{path.name}.", ".tmp"


def write_atomic(path: str | os.PathLike, content: str | bytes) -> Path:
    """Write `content` to a temporary file beside `path`, fsync it, then rename it over `path`."""
    path = Path(path)
    mode = "wb" if isinstance(content, bytes) else "w"
    prefix, suffix = _temporary_affixes(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=suffix)
    try:
        os.fchmod(handle, 0o666 & ~current_umask())  # mkstemp makes it 0600; readable as the user's files are
        with os.fdopen(handle, mode, **({} if mode == "wb" else {"encoding": "utf-8"})) as stream:
            stream.write(content)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def remove_partial_writes(path: str | os.PathLike) -> list[Path]:
    """Delete the temporaries that :func:`write_atomic` leaves beside `path` when its process dies mid-write
    (kill -9, a power cut), and return them. Only for a file that one process writes at a time: a temporary of
    another writer still at work would go too."""
    path = Path(path)
    prefix, suffix = _temporary_affixes(path)
    partial = sorted(path.parent.glob(f"{glob.escape(prefix)}*{glob.escape(suffix)}"))
    for each in partial:
        each.unlink(missing_ok=True)
    return partial


def _json_ready(value: Any) -> Any:
    """`value` with every string in it, keys too, made UTF-8 (:func:`~digitlib.untrusted.valid_unicode`), and
    every float that is not finite made None."""
    if isinstance(value, str):
        return valid_unicode(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {_json_ready(key): _json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(item) for item in value]
    return value


def write_json(path: str | os.PathLike, value: Any) -> Path:
    """Write `value` as indented JSON, atomically (:func:`write_atomic`), as any JSON reader reads it back: a file
    name's bytes that are not UTF-8 (lone surrogates in Python, which json.dumps would write as \\udcXX) are
    recorded escaped, as \\xe9, and a number that is not finite (a diverged loss), which JSON has no way to
    write (json.dumps would write NaN), as null."""
    return write_atomic(path, json.dumps(_json_ready(value), indent=2, allow_nan=False) + "\n")


def replace_symlink(link: str | os.PathLike, target: str) -> Path:
    """Point `link` at `target` (relative), replacing any old link in one rename. Anything else at `link` (a user's
    folder or file) is left alone: FileExistsError. No temporary link is left behind, whatever fails."""
    link = Path(link)
    if os.path.lexists(link) and not link.is_symlink():
        raise FileExistsError(errno.EEXIST, "not a link, so it is left alone", str(link))
    temporary = link.with_name(f".{link.name}.{os.getpid()}.tmp")
    temporary.unlink(missing_ok=True)
    os.symlink(target, temporary)
    try:
        os.replace(temporary, link)  # a folder made at `link` meanwhile: IsADirectoryError
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return link
