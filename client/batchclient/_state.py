"""The job state file: a small JSON document, replaced atomically on every change.

It records what the job is (input hash, output path), every batch it planned and, for each,
the submit *intent* (written before ``create`` is called), the batch id (written as soon as
``create`` returns), and whether the batch's results are saved in the work store. Writing is
temp file + fsync + ``os.replace`` + fsync of the folder, so a crash at any instant leaves
either the old or the new state, never a torn one.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ._errors import StateError

__all__ = ["ChunkState", "JobState", "load_state", "save_state"]

VERSION = 1


@dataclass
class ChunkState:
    """One batch of one round, from plan to saved results."""

    round: int
    chunk: int
    requests: int
    bytes: int
    ids_sha256: str
    intent_at: str | None = None
    watermark: dict[str, str] | None = None
    """The newest batch visible just before ``create`` (``id``, ``created_at``), or None."""
    batch_id: str | None = None
    created_at: str | None = None
    ended: bool = False
    saved: bool = False
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def live(self) -> bool:
        """Submitted and not yet ended (as far as the job knows)."""
        return self.batch_id is not None and not self.ended


@dataclass
class JobState:
    """Everything needed to continue a job after a crash."""

    input_sha256: str
    input_path: str | None
    output: str
    requests: int = 0
    indexed: bool = False
    rounds: int = 0
    canceled: bool = False
    finished: bool = False
    chunks: list[ChunkState] = field(default_factory=list)
    version: int = VERSION

    def round_chunks(self, round_: int) -> list[ChunkState]:
        return [c for c in self.chunks if c.round == round_]

    def batch_ids(self) -> list[str]:
        return [c.batch_id for c in self.chunks if c.batch_id is not None]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobState:
        if data.get("version") != VERSION:
            raise StateError(f"unsupported state version {data.get('version')!r} (expected {VERSION})")
        known = {f.name for f in fields(cls)}
        chunk_keys = {f.name for f in fields(ChunkState)}
        values = {k: v for k, v in data.items() if k in known and k != "chunks"}
        chunks = [ChunkState(**{k: v for k, v in c.items() if k in chunk_keys}) for c in data["chunks"]]
        return cls(**values, chunks=chunks)


def load_state(path: Path) -> JobState:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return JobState.from_dict(data)
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise StateError(f"cannot read job state {path}: {exc}") from None


def save_state(path: Path, state: JobState) -> None:
    """Replace ``path`` atomically with ``state``."""
    data = json.dumps(state.to_dict(), indent=1).encode()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    try:
        dir_fd = os.open(path.parent, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory handles
        return
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
