"""The job's work store: a SQLite file beside the state file, so memory stays bounded.

It holds what would not fit in memory for a big job: the index of the input (custom_id, line,
byte offset and size of every request; the params stay in the input file), which requests make
up each batch of each round, and the latest result line of every request. Writing a batch's
results is one transaction: a crash half-way leaves nothing of that batch, and downloading it
again is harmless (a request's row is replaced, never duplicated). The output file is a merge of
the ``results`` table in input order.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._errors import InputError
from ._input import BODY_OVERHEAD, Entry

__all__ = ["NON_RETRYABLE_ERRORS", "ChunkPlan", "ForeignLineError", "WorkStore", "is_retryable", "missing_line"]

NON_RETRYABLE_ERRORS = frozenset({"invalid_request_error", "request_too_large"})
"""Error types that fail the same way every time: the request itself must change."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    pos INTEGER PRIMARY KEY, custom_id TEXT NOT NULL UNIQUE, line INTEGER NOT NULL,
    offset INTEGER NOT NULL, length INTEGER NOT NULL, size INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS members (
    round INTEGER NOT NULL, chunk INTEGER NOT NULL, pos INTEGER NOT NULL,
    PRIMARY KEY (round, chunk, pos)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS results (
    pos INTEGER PRIMARY KEY, round INTEGER NOT NULL, outcome TEXT NOT NULL,
    retryable INTEGER NOT NULL, error_type TEXT, error_message TEXT, model TEXT,
    input_tokens INTEGER, output_tokens INTEGER, cache_write INTEGER, cache_read INTEGER,
    line TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS results_round ON results (round, retryable);
"""
_UPSERT = """
INSERT INTO results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (pos) DO UPDATE SET round = excluded.round, outcome = excluded.outcome,
    retryable = excluded.retryable, error_type = excluded.error_type,
    error_message = excluded.error_message, model = excluded.model,
    input_tokens = excluded.input_tokens, output_tokens = excluded.output_tokens,
    cache_write = excluded.cache_write, cache_read = excluded.cache_read, line = excluded.line
WHERE excluded.round >= results.round
"""


class ForeignLineError(Exception):
    """A batch's results hold a line for a custom_id the batch was not given: it is not the
    batch the job created."""

    def __init__(self, custom_id: object) -> None:
        super().__init__(f"results line for custom_id {custom_id!r}, not one of the batch's requests")
        self.custom_id = custom_id


@dataclass(frozen=True)
class ChunkPlan:
    """One future batch: how many requests, how many body bytes, and a hash of its custom_ids."""

    requests: int
    bytes: int
    ids_sha256: str


def missing_line(custom_id: str, result_type: str, message: str | None = None) -> str:
    """A result line made up by batchclient for a request that has no result from the API."""
    result: dict[str, Any] = {"type": result_type}
    if result_type == "errored":
        error = {"type": "api_error", "message": message or "no result"}
        result["error"] = {"type": "error", "error": error, "request_id": None}
    return json.dumps({"custom_id": custom_id, "result": result}, separators=(",", ":"))


def is_retryable(result: Mapping[str, Any]) -> bool:
    """Whether a result (the ``result`` object of a line) is worth sending again: ``expired``, or
    ``errored`` with an error type other than those in :data:`NON_RETRYABLE_ERRORS`."""
    outcome = result.get("type")
    if outcome == "expired":
        return True
    if outcome != "errored":
        return False
    error = (result.get("error") or {}).get("error") or {}
    return error.get("type") not in NON_RETRYABLE_ERRORS


def _row(pos: int, round_: int, line: str, data: dict[str, Any]) -> tuple[Any, ...]:
    result = data.get("result") or {}
    outcome = str(result.get("type"))
    error_type = error_message = model = None
    usage: dict[str, Any] = {}
    if outcome == "errored":
        error = (result.get("error") or {}).get("error") or {}
        error_type, error_message = error.get("type"), error.get("message")
    elif outcome == "succeeded":
        message = result.get("message") or {}
        model, usage = message.get("model"), message.get("usage") or {}
    retryable = is_retryable(result)
    return (
        pos,
        round_,
        outcome,
        int(retryable),
        error_type,
        error_message,
        model,
        usage.get("input_tokens"),
        usage.get("output_tokens"),
        usage.get("cache_creation_input_tokens"),
        usage.get("cache_read_input_tokens"),
        line,
    )


class WorkStore:
    """The SQLite work store of one job."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """All or nothing: committed when the block ends, rolled back if it raises."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- input ----------------------------------------------------------------------------------

    def index(self, entries: Iterable[Entry], max_problems: int = 20) -> int:
        """Record every valid entry; raise :class:`InputError` listing the bad ones. A line whose
        ``custom_id`` an earlier line had is reported as a duplicate, whatever else is wrong
        with either line. All or nothing: nothing is kept when there is a problem."""
        problems: list[tuple[int, str]] = []
        more = pos = 0
        with self._transaction() as db:
            db.execute("DELETE FROM requests")
            db.execute("CREATE TEMP TABLE IF NOT EXISTS seen (custom_id TEXT PRIMARY KEY, line INTEGER) WITHOUT ROWID")
            db.execute("DELETE FROM seen")
            for e in entries:
                problem = e.problem
                if e.custom_id:
                    cur = db.execute("INSERT OR IGNORE INTO seen VALUES (?, ?)", (e.custom_id, e.line))
                    if cur.rowcount != 1:
                        (first,) = db.execute("SELECT line FROM seen WHERE custom_id = ?", (e.custom_id,)).fetchone()
                        duplicate = f"duplicate custom_id {e.custom_id!r} (first on line {first})"
                        problem = duplicate if problem is None else f"{problem}; {duplicate}"
                if problem is None:
                    db.execute(
                        "INSERT INTO requests VALUES (?, ?, ?, ?, ?, ?)",
                        (pos, e.custom_id, e.line, e.offset, e.length, e.size),
                    )
                    pos += 1
                    continue
                if len(problems) < max_problems:
                    problems.append((e.line, problem))
                else:
                    more += 1
            db.execute("DELETE FROM seen")
            if not problems and pos == 0:
                problems.append((0, "no requests: the input is empty"))
            if problems:
                raise InputError(problems, more)
        return pos

    # -- rounds and batches ---------------------------------------------------------------------

    def plan_round(self, round_: int, max_requests: int, max_bytes: int) -> list[ChunkPlan]:
        """Cut the requests of a round into batches, in input order: every request for round 0,
        the retryable failures of round ``round_ - 1`` after that."""
        budget = max_bytes - BODY_OVERHEAD
        plans: list[ChunkPlan] = []
        count = size = 0
        digest = hashlib.sha256()
        with self._transaction() as db:
            db.execute("DELETE FROM members WHERE round = ?", (round_,))
            if round_ == 0:
                rows = db.execute("SELECT pos, custom_id, size FROM requests ORDER BY pos")
            else:
                rows = db.execute(
                    "SELECT q.pos, q.custom_id, q.size FROM results r JOIN requests q USING (pos)"
                    " WHERE r.round = ? AND r.retryable = 1 ORDER BY q.pos",
                    (round_ - 1,),
                )
            for pos, cid, req_size in rows:
                if count and (count >= max_requests or size + req_size > budget):
                    plans.append(ChunkPlan(count, size + BODY_OVERHEAD - 1, digest.hexdigest()))
                    count = size = 0
                    digest = hashlib.sha256()
                db.execute("INSERT INTO members VALUES (?, ?, ?)", (round_, len(plans), pos))
                digest.update(cid.encode() + b"\n")
                count += 1
                size += req_size
            if count:
                plans.append(ChunkPlan(count, size + BODY_OVERHEAD - 1, digest.hexdigest()))
        return plans

    def members(self, round_: int, chunk: int) -> list[tuple[str, int, int]]:
        """``(custom_id, offset, length)`` of a batch's requests, in input order."""
        return self._db.execute(
            "SELECT q.custom_id, q.offset, q.length FROM members m JOIN requests q USING (pos)"
            " WHERE m.round = ? AND m.chunk = ? ORDER BY m.pos",
            (round_, chunk),
        ).fetchall()

    def save_results(self, round_: int, chunk: int, lines: Iterable[str]) -> dict[str, int]:
        """Store a batch's result lines in one transaction and return its counts by outcome.

        A line whose custom_id is not in the batch raises :class:`ForeignLineError` (nothing is
        stored: these are another batch's results); a request of the batch without a line gets
        an ``errored`` (``api_error``, so retryable) result made up here.
        """
        with self._transaction() as db:
            for line in lines:
                data = json.loads(line)
                hit = db.execute(
                    "SELECT m.pos FROM requests q JOIN members m ON m.pos = q.pos"
                    " WHERE q.custom_id = ? AND m.round = ? AND m.chunk = ?",
                    (data.get("custom_id"), round_, chunk),
                ).fetchone()
                if hit is None:
                    raise ForeignLineError(data.get("custom_id"))
                db.execute(_UPSERT, _row(hit[0], round_, line, data))
            missing = db.execute(
                "SELECT m.pos, q.custom_id FROM members m JOIN requests q USING (pos)"
                " WHERE m.round = ? AND m.chunk = ? AND NOT EXISTS"
                " (SELECT 1 FROM results r WHERE r.pos = m.pos AND r.round = ?)",
                (round_, chunk, round_),
            ).fetchall()
            for pos, cid in missing:
                line = missing_line(cid, "errored", "the batch's results had no line for this request")
                db.execute(_UPSERT, _row(pos, round_, line, json.loads(line)))
            counts = dict(
                db.execute(
                    "SELECT r.outcome, COUNT(*) FROM members m JOIN results r USING (pos)"
                    " WHERE m.round = ? AND m.chunk = ? GROUP BY r.outcome",
                    (round_, chunk),
                ).fetchall()
            )
        return counts

    # -- output and report ----------------------------------------------------------------------

    def output_lines(self, include_missing: bool = True) -> Iterator[str]:
        """Each request's latest result line in input order. A request without a result (never
        sent because the job was canceled first) gets a ``canceled`` line, or is skipped when
        ``include_missing`` is false."""
        cur = self._db.execute(
            "SELECT q.custom_id, r.line FROM requests q LEFT JOIN results r USING (pos) ORDER BY q.pos"
        )
        for cid, line in cur:
            if line is not None:
                yield line
            elif include_missing:
                yield missing_line(cid, "canceled")

    def count(self) -> int:
        (n,) = self._db.execute("SELECT COUNT(*) FROM requests").fetchone()
        return int(n)

    def query(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        """Read-only queries for the report."""
        return self._db.execute(sql, args).fetchall()
