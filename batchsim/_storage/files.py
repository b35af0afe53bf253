"""Uploaded files (:class:`~batchsim._engine.ports.Files`): in this process (:class:`MemoryFiles`,
the bytes in a private folder on disk, never in memory) or in the SQLite database
(:class:`SqliteFiles`, shared by every process serving it, the bytes streamed into and out of a
blob). Each provider has its own; files are keyed by workspace, and a deleted file leaves its id
behind (so it is never handed out again).

Bytes are bounded: one store holds at most ``max_bytes`` (an upload past it is refused with
``TooLargeError`` before anything is kept).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
import weakref
from collections.abc import Iterator
from typing import Any, BinaryIO

import orjson

from .._engine.errors import OverloadedError
from .._engine.ports import FileRecord
from .sqlite import Database

__all__ = ["DEFAULT_FILES_BYTES", "MemoryFiles", "SqliteFiles"]

DEFAULT_FILES_BYTES = 8 * 1024**3
_CHUNK = 1 << 20
_COPY = 64 * 1024
"""An upload is copied into the store in small pieces: it never holds much in memory."""


def _full(max_bytes: int) -> OverloadedError:
    return OverloadedError(
        f"The emulator's uploaded files would pass their bound of {max_bytes} bytes; delete files and retry",
        headers={"retry-after": "60"},
    )


class MemoryFiles:
    """Files of one provider in this process: metadata in a dict, bytes in a private folder."""

    def __init__(self, max_bytes: int = DEFAULT_FILES_BYTES) -> None:
        self.max_bytes = max_bytes
        self._records: dict[str, dict[str, FileRecord]] = {}
        self._gone: dict[str, dict[str, int]] = {}
        self._number = 0
        self._used = 0
        self._lock = threading.Lock()
        self._dir: str | None = None
        self._paths: dict[tuple[str, str], str] = {}
        self._stored = 0
        """How many files were ever stored: each gets a path of its own (a count of the paths
        held would name a deleted file's path again, and a new file would take a live one's)."""
        self._finalizer: weakref.finalize[Any, Any] | None = None

    def _folder(self) -> str:
        if self._dir is None:
            self._dir = tempfile.mkdtemp(prefix="batchsim-files-")
            os.chmod(self._dir, 0o700)
            self._finalizer = weakref.finalize(self, shutil.rmtree, self._dir, True)
        return self._dir

    def _path(self, workspace: str, file_id: str) -> str:
        return self._paths[(workspace, file_id)]

    def add(self, record: FileRecord, source: BinaryIO, path: str | None = None) -> None:
        with self._lock:
            if self._used + record.size > self.max_bytes:
                raise _full(self.max_bytes)
            self._used += record.size
            self._stored += 1
            kept = os.path.join(self._folder(), f"{self._stored}-{os.getpid()}")
            self._paths[(record.workspace, record.id)] = kept
        try:
            if not _moved(path, kept):
                fd = os.open(kept, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "wb") as out:
                    shutil.copyfileobj(source, out, _COPY)
        except BaseException:
            with self._lock:
                self._used -= record.size
            with contextlib.suppress(OSError):
                os.unlink(kept)
            raise
        with self._lock:
            self._records.setdefault(record.workspace, {})[record.id] = record

    def get(self, workspace: str, file_id: str) -> FileRecord | None:
        return self._records.get(workspace, {}).get(file_id)

    def gone(self, workspace: str, file_id: str) -> bool:
        """Whether the file existed and was deleted."""
        return file_id in self._gone.get(workspace, ())

    def read(self, workspace: str, file_id: str) -> bytes:
        if self.get(workspace, file_id) is None:
            raise KeyError(file_id)
        with open(self._path(workspace, file_id), "rb") as source:
            return source.read()

    def chunks(self, workspace: str, file_id: str, size: int = _CHUNK) -> Iterator[bytes]:
        if self.get(workspace, file_id) is None:
            raise KeyError(file_id)
        source = open(self._path(workspace, file_id), "rb")  # noqa: SIM115 (closed by the generator)
        return _read(source, size)

    def deleted_at(self, workspace: str, file_id: str) -> int | None:
        return self._gone.get(workspace, {}).get(file_id)

    def delete(self, workspace: str, file_id: str, at: int = 0) -> bool:
        with self._lock:
            record = self._records.get(workspace, {}).pop(file_id, None)
            self._gone.setdefault(workspace, {}).setdefault(file_id, at)
            if record is not None:
                self._used -= record.size
            path = self._paths.pop((workspace, file_id), None)
        if path is not None:
            with contextlib.suppress(OSError):
                os.unlink(path)  # open readers keep reading what they opened
        return record is not None

    def all(self, workspace: str) -> list[FileRecord]:
        records = list(reversed(self._records.get(workspace, {}).values()))
        records.sort(key=lambda r: r.created_at, reverse=True)  # stable: the last added first among equals
        return records

    def page(self, workspace: str, limit: int, after_id: str | None = None) -> tuple[list[FileRecord], bool]:
        records = self.all(workspace)
        if after_id is not None:
            at = next((n for n, r in enumerate(records) if r.id == after_id), None)
            records = records[at + 1 :] if at is not None else []
        return records[:limit], len(records) > limit

    def workspaces(self) -> list[str]:
        return [w for w, records in self._records.items() if records]

    def next_number(self) -> int:
        with self._lock:
            self._number += 1
            return self._number

    def used(self) -> int:
        return self._used

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
            self._gone.clear()
            self._number = 0
            self._used = 0
            paths, self._paths = list(self._paths.values()), {}
        for path in paths:
            with contextlib.suppress(OSError):
                os.unlink(path)

    def close(self) -> None:
        if self._finalizer is not None:
            self._finalizer()


def _moved(path: str | None, to: str) -> bool:
    """Move the file at ``path`` to ``to`` (a rename: same file system only); whether it was."""
    if path is None:
        return False
    try:
        os.rename(path, to)
    except OSError:  # another file system: the bytes are copied instead
        return False
    os.chmod(to, 0o600)
    return True


def _read(source: BinaryIO, size: int) -> Iterator[bytes]:
    with source:
        while chunk := source.read(size):
            yield chunk


_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    provider TEXT NOT NULL,
    workspace TEXT NOT NULL,
    id TEXT NOT NULL,
    filename TEXT NOT NULL,
    size INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    mime_type TEXT,
    attrs BLOB NOT NULL,
    data BLOB,
    deleted INTEGER NOT NULL DEFAULT 0,
    deleted_at INTEGER,
    UNIQUE (provider, workspace, id)
);
CREATE INDEX IF NOT EXISTS files_by_workspace ON files (provider, workspace, created_at);
"""
_COLUMNS = "workspace, id, filename, size, created_at, expires_at, mime_type, attrs"


class SqliteFiles:
    """Files of one provider in the SQLite database: every process serving it sees them."""

    def __init__(self, db: Database, provider: str, max_bytes: int = DEFAULT_FILES_BYTES) -> None:
        self.db = db
        self.provider = provider
        self.max_bytes = max_bytes
        with db.transaction() as conn:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            columns = {row[1] for row in conn.execute("PRAGMA table_info(files)")}
            if "deleted_at" not in columns:  # a database written before deletions had a time
                conn.execute("ALTER TABLE files ADD COLUMN deleted_at INTEGER")

    def add(self, record: FileRecord, source: BinaryIO, path: str | None = None) -> None:
        with self.db.transaction() as conn:
            used = conn.execute("SELECT coalesce(sum(size), 0) FROM files WHERE deleted = 0").fetchone()[0]
            if used + record.size > self.max_bytes:
                raise _full(self.max_bytes)
            cursor = conn.execute(
                "INSERT INTO files (provider, workspace, id, filename, size, created_at, expires_at, mime_type, attrs, "
                "data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, zeroblob(?))",
                (
                    self.provider,
                    record.workspace,
                    record.id,
                    record.filename,
                    record.size,
                    record.created_at,
                    record.expires_at,
                    record.mime_type,
                    orjson.dumps(dict(record.attrs)),
                    record.size,
                ),
            )
            if record.size:
                with conn.blobopen("files", "data", cursor.lastrowid) as blob:  # type: ignore[arg-type]
                    while chunk := source.read(_COPY):
                        blob.write(chunk)

    def _row(self, workspace: str, file_id: str) -> Any:
        return self.db.read(
            f"SELECT seq, {_COLUMNS}, deleted FROM files WHERE provider = ? AND workspace = ? AND id = ?",
            (self.provider, workspace, file_id),
        )

    def get(self, workspace: str, file_id: str) -> FileRecord | None:
        row = self._row(workspace, file_id)
        return None if row is None or row[9] else _record(row[1:9])

    def gone(self, workspace: str, file_id: str) -> bool:
        row = self._row(workspace, file_id)
        return row is not None and bool(row[9])

    def read(self, workspace: str, file_id: str) -> bytes:
        return b"".join(self.chunks(workspace, file_id))

    def chunks(self, workspace: str, file_id: str, size: int = _CHUNK) -> Iterator[bytes]:
        row = self._row(workspace, file_id)
        if row is None or row[9]:
            raise KeyError(file_id)
        return self._chunks(row[0], row[4], size)

    def _chunks(self, seq: int, total: int, size: int) -> Iterator[bytes]:
        offset = 0
        while offset < total:
            with self.db.lock:
                try:
                    blob = self.db.connection.blobopen("files", "data", seq, readonly=True)  # under the lock
                except Exception:  # deleted while being read: what was read is all there is
                    return
                with blob:
                    blob.seek(offset)
                    chunk = blob.read(min(size, total - offset))
            if not chunk:
                return
            offset += len(chunk)
            yield chunk

    def deleted_at(self, workspace: str, file_id: str) -> int | None:
        row = self.db.read(
            "SELECT deleted, deleted_at FROM files WHERE provider = ? AND workspace = ? AND id = ?",
            (self.provider, workspace, file_id),
        )
        return (row[1] or 0) if row is not None and row[0] else None

    def delete(self, workspace: str, file_id: str, at: int = 0) -> bool:
        rows = self.db.write(
            "UPDATE files SET deleted = 1, deleted_at = ?, data = NULL WHERE provider = ? AND workspace = ? AND id = ? "
            "AND deleted = 0 RETURNING seq",
            (at, self.provider, workspace, file_id),
        )
        if not rows and self._row(workspace, file_id) is None:  # never seen: keep its id as gone
            with contextlib.suppress(Exception):
                self.db.write(
                    "INSERT INTO files (provider, workspace, id, filename, size, created_at, attrs, deleted, "
                    "deleted_at) VALUES (?, ?, ?, '', 0, 0, X'7B7D', 1, ?)",
                    (self.provider, workspace, file_id, at),
                )
        return bool(rows)

    def all(self, workspace: str) -> list[FileRecord]:
        rows = self.db.read_all(
            f"SELECT {_COLUMNS} FROM files WHERE provider = ? AND workspace = ? AND deleted = 0 "
            "ORDER BY created_at DESC, seq DESC",
            (self.provider, workspace),
        )
        return [_record(row) for row in rows]

    def page(self, workspace: str, limit: int, after_id: str | None = None) -> tuple[list[FileRecord], bool]:
        records = self.all(workspace)
        if after_id is not None:
            at = next((n for n, r in enumerate(records) if r.id == after_id), None)
            records = records[at + 1 :] if at is not None else []
        return records[:limit], len(records) > limit

    def workspaces(self) -> list[str]:
        rows = self.db.read_all(
            "SELECT DISTINCT workspace FROM files WHERE provider = ? AND deleted = 0", (self.provider,)
        )
        return [row[0] for row in rows]

    def next_number(self) -> int:
        row = self.db.write_one(
            "INSERT INTO sequences (provider, value) VALUES (?, 1) "
            "ON CONFLICT (provider) DO UPDATE SET value = value + 1 RETURNING value",
            (f"{self.provider}:files",),
        )
        return int(row[0])

    def used(self) -> int:
        return int(self.db.read("SELECT coalesce(sum(size), 0) FROM files WHERE deleted = 0")[0])

    def clear(self) -> None:
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM files WHERE provider = ?", (self.provider,))
            conn.execute("DELETE FROM sequences WHERE provider = ?", (f"{self.provider}:files",))

    def close(self) -> None:
        """Nothing to free: the database belongs to its owner."""


def _record(row: Any) -> FileRecord:
    workspace, file_id, filename, size, created_at, expires_at, mime_type, attrs = row
    return FileRecord(file_id, workspace, filename, size, created_at, expires_at, mime_type, orjson.loads(attrs))
