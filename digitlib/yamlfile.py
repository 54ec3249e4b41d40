"""The one way digitlib reads YAML: sweep files, parameters files and ``-p`` values.

These are a few hand-written lines each, so the loader is stricter than PyYAML's safe loader:

- anchors and aliases (``&a``, ``*a``) are refused before anything is built: a kilobyte of
  nested aliases ("billion laughs") becomes gigabytes as soon as it is printed or copied;
- explicit tags (``!!str``, ``!!binary``, ``!!set``, ``!name``) are refused: values are plain text,
  numbers, lists and mappings;
- a key given twice in one mapping is refused, instead of the last one silently winning, and so is a
  merge key (``<<``), which would let a key in twice;
- a value YAML reads as a type Python cannot build (``2026-02-30``, an integer of 5,000 digits) is refused;
- nesting deeper than :data:`MAX_DEPTH` is refused;
- files over :data:`MAX_BYTES` are refused unread, files that are not UTF-8 before parsing.

Every refusal raises :class:`YamlInputError`, whose message names the file and line.
"""

from __future__ import annotations

import os
import reprlib
import stat
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any, BinaryIO

import yaml

MAX_BYTES = 1_000_000  # a sweep or parameters file is a few lines; anything bigger is the wrong file
MAX_DEPTH = 50  # collections inside collections; the files digitlib reads nest three deep


class YamlInputError(ValueError):
    """A YAML input digitlib will not read; the message says where and what to do instead."""


class InvalidYaml(YamlInputError):
    """The text is not YAML at all (a syntax error)."""


@dataclass(frozen=True)
class YamlDocument:
    data: Any
    tree: yaml.Node | None  # the composed nodes, for pointing at a line; None for an empty document


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing anchors, aliases, tags, deep nesting, duplicate keys and merge keys."""

    def __init__(self, text: str, where: str):
        super().__init__(text)
        self.where, self.depth = where, 0
        self.name = where  # PyYAML's own messages say where, instead of "<unicode string>"

    def compose_node(self, parent, index):
        event = self.peek_event()
        line = event.start_mark.line + 1
        if getattr(event, "anchor", None) is not None:  # an anchor (&name) or an alias (*name)
            raise YamlInputError(f"anchors and aliases (&, *) are not supported in {self.where}:{line}; "
                                 "write each value out in full")
        if getattr(event, "tag", None) is not None:  # !!str, !!binary, !!set, !name, or a bare '!'
            raise YamlInputError(f"tags (!, !!) are not supported in {self.where}:{line}; write the plain value "
                                 "(quoted, if it is text starting with '!')")
        if self.depth >= MAX_DEPTH:
            raise YamlInputError(f"{self.where}:{line} nests collections more than {MAX_DEPTH} deep; "
                                 "flatten it")
        self.depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # '<<' merges a mapping in, over keys given here
                raise YamlInputError(f"merge keys (<<) are not supported in {self.where}:"
                                     f"{key_node.start_mark.line + 1}; write each key out in full")
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, Hashable):
                continue  # the safe loader refuses it below, with its own message
            if key in seen:
                raise YamlInputError(f"duplicate key {reprlib.repr(key)} at {self.where}:"
                                     f"{key_node.start_mark.line + 1}; give each key once")
            seen.add(key)
        return super().construct_mapping(node, deep=deep)

    def construct_object(self, node, deep=False):
        try:
            return super().construct_object(node, deep=deep)
        except YamlInputError:
            raise
        except ValueError as error:  # 2026-02-30 as a date, 5,000 digits as an int: Python refuses to build it
            reason = str(error).partition(";")[0]
            raise YamlInputError(f"{self.where}:{node.start_mark.line + 1}: {reprlib.repr(node.value)} is not a valid "
                                 f"{node.tag.rpartition(':')[2]} ({reason}); quote it to keep it as text") from None


def _load(text: str, where: str) -> YamlDocument:
    if len(text) > MAX_BYTES:
        raise YamlInputError(f"{where} is larger than {MAX_BYTES // 1_000_000} MB; is it the right input?")
    loader = None
    try:
        loader = _StrictLoader(text, where)  # its reader refuses control characters at once
        tree = loader.get_single_node()
        return YamlDocument(data=None if tree is None else loader.construct_document(tree), tree=tree)
    except yaml.YAMLError as error:
        raise InvalidYaml(f"{where} is not valid YAML: {_one_line(error)}") from None
    finally:
        if loader is not None:
            loader.dispose()


def _one_line(error: yaml.YAMLError) -> str:
    """PyYAML's message without the lines of the file it quotes (and the caret under them): what is wrong, where."""
    problem = getattr(error, "problem", None)
    mark = getattr(error, "problem_mark", None)
    if problem is None or mark is None:
        return " ".join(str(error).split())
    return f"{problem} (line {mark.line + 1}, column {mark.column + 1})"


def load_yaml_text(text: str, where: str) -> Any:
    """The value `text` holds; `where` names it in messages (a file name, or '<-p value>')."""
    return _load(text, where).data


def _open_without_waiting(path: str | os.PathLike) -> BinaryIO:
    """`path` opened to read. A pipe is read too (a sweep hands each run its parameters on /dev/stdin), but a named
    FIFO that nothing writes to is not waited for: opened without blocking, it reads as empty (refused); once
    open, reads wait for a writer's data as usual."""
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        os.set_blocking(descriptor, True)  # a terminal's reads, too, wait for what is typed
        return os.fdopen(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise


def load_yaml_file(path: str | os.PathLike, what: str) -> YamlDocument:
    """Read `path` (a `what`, e.g. 'sweep file', for messages): its value and its node tree."""
    try:
        with _open_without_waiting(path) as handle:
            content = handle.read(MAX_BYTES + 1)  # never more: a huge file is refused unread
            unwritten = not content and stat.S_ISFIFO(os.fstat(handle.fileno()).st_mode)
    except OSError as error:
        raise YamlInputError(f"cannot read {what} {path}: {error.strerror}") from None
    if unwritten:  # an empty file is an empty mapping; an empty pipe is more likely a mistake than a choice
        raise YamlInputError(f"nothing to read from {path}: a pipe or FIFO that nothing wrote to; write the {what} "
                             "into it, or pass a file")
    if len(content) > MAX_BYTES:
        raise YamlInputError(f"{path} is larger than {MAX_BYTES // 1_000_000} MB; a {what} is a few lines "
                             "of YAML: is it the right file?")
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as error:
        line = content.count(b"\n", 0, error.start) + 1
        raise YamlInputError(f"{path}:{line} is not UTF-8 text (byte 0x{content[error.start]:02x}); "
                             "save the file as UTF-8") from None
    return _load(text, str(path))
