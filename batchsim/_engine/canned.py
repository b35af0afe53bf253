"""Canned results files: read once (the file checked to be a regular file of bounded size, never
a FIFO or a device), every line a results line of some provider's format."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import orjson

from .scenario import ScenarioError, canned_line

__all__ = ["MAX_CANNED_BYTES", "read_canned", "read_regular"]

MAX_CANNED_BYTES = 64 * 1024 * 1024


def read_regular(path: str | Path, limit: int) -> bytes:
    """The content of ``path`` if it is a regular file of at most ``limit`` bytes; ``OSError``
    otherwise. Opening never blocks (a FIFO is refused, not waited on)."""
    return _read_regular(path, limit)[1]


def _read_regular(path: str | Path, limit: int, known: tuple[Any, ...] | None = None) -> tuple[tuple[Any, ...], bytes]:
    """``(identity, content)`` of a regular file; the content is ``b""`` when the file's identity
    (device, inode, size, modification time) is ``known``."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(f"{path}: not a regular file")
        if info.st_size > limit:
            raise OSError(f"{path}: larger than {limit} bytes")
        identity = (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)
        if identity == known:
            return identity, b""
        with os.fdopen(os.dup(fd), "rb") as handle:
            data = handle.read(limit + 1)
        if len(data) > limit:
            raise OSError(f"{path}: larger than {limit} bytes")
        return identity, data
    finally:
        os.close(fd)


_loaded: dict[str, tuple[tuple[Any, ...], list[Any]]] = {}


def read_canned(source: str | Path) -> list[Any]:
    """The lines of a canned results file, each checked to be some provider's results line."""
    key = os.fspath(source)
    known = _loaded.get(key)
    identity, data = _read_regular(source, MAX_CANNED_BYTES, known[0] if known else None)
    if known is not None and identity == known[0]:
        return known[1]
    lines: list[Any] = []
    for number, raw in enumerate(data.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            lines.append(canned_line(f"{source}:{number}", orjson.loads(raw)))
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"{source}:{number}: not JSON ({exc})") from None
        except ScenarioError as exc:
            raise ValueError(str(exc)) from None
    if len(_loaded) >= 8:
        _loaded.clear()
    _loaded[key] = (identity, lines)
    return lines
