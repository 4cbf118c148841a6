"""Files that come from a pull request (sign-offs, prompt files), read so that they cannot hang or
exhaust the step: only a regular file, at most a size cap read, and YAML without anchors or aliases
(an alias bomb of a few hundred bytes expands to gigabytes). No timers: the cap and the refusal
bound the parse, on Windows too. Callers resolve the path inside the workspace first.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.error import Mark

MAX_FILE_BYTES = 256 * 1024
"""A sign-off or prompt file is a page of text, never a data set."""
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
ALIASES_REFUSED = "YAML anchors and aliases are not allowed"


class Refused(ValueError):
    """The file is not one the gate reads; the message says why, in the file's own terms."""


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a pipe"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def read_text(path: Path, limit: int = MAX_FILE_BYTES) -> str:
    """The UTF-8 text of a regular file of at most `limit` bytes. Raises FileNotFoundError when it
    does not exist, `Refused` when it is not a regular file (a directory, a pipe, a device, also
    through a symlink), is larger than `limit` or is not UTF-8, and OSError when it cannot be
    read."""
    mode = os.stat(path).st_mode
    if not stat.S_ISREG(mode):
        raise Refused(f"is {_kind(mode)}, not a regular file")
    # Opened without blocking, checked again on the open file (it may have been swapped), and read
    # at most one byte past the cap whatever its size claims.
    descriptor = os.open(path, _OPEN_FLAGS)
    with os.fdopen(descriptor, "rb") as handle:
        opened = os.fstat(handle.fileno()).st_mode
        if not stat.S_ISREG(opened):
            raise Refused(f"is {_kind(opened)}, not a regular file")
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise Refused(f"is larger than {limit // 1024} KiB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused("is not UTF-8 text") from None


def _refuse_anchors(text: str) -> None:
    """Raises `yaml.YAMLError` at the first anchor or alias, before anything is built."""
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            mark = event.start_mark if isinstance(event.start_mark, Mark) else None
            raise ComposerError(None, None, ALIASES_REFUSED, mark)


def compose(text: str) -> yaml.Node | None:
    """The YAML node tree of `text`, refusing anchors and aliases (`yaml.YAMLError`)."""
    _refuse_anchors(text)
    node: yaml.Node | None = yaml.compose(text, Loader=yaml.SafeLoader)
    return node


def load(text: str) -> Any:
    """The YAML data of `text`, refusing anchors and aliases (`yaml.YAMLError`)."""
    _refuse_anchors(text)
    return yaml.safe_load(text)
