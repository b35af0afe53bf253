"""A :class:`~batchsim._engine.ports.Store` in one SQLite file, for ``batchsim serve --db PATH``.

Durability: the database runs in WAL mode with ``synchronous=NORMAL``. A transaction is in the
WAL file (in the operating system's cache) when ``COMMIT`` returns, and the HTTP answer is only
sent after that, so a batch acknowledged to a client survives ``kill -9`` of the server. A power
loss or kernel crash may lose the last transactions; that is the trade ``NORMAL`` makes against
``FULL``, which would fsync on every commit.

What is stored is what a :class:`~batchsim._engine.batch.Batch` needs to rebuild itself: its
provider, id, workspace, creation time, custom ids and request params (one blob each, not one row
per request, so a 100,000-request create stays one insert), the params problems found at create,
the scenario, the seed, the canned lines the batch replays, the provider's policy and facts
(``attrs``: the create call's ``anthropic-version``, an OpenAI batch's endpoint...), the cancel
time and the deleted flag. The plan is a pure function of those, so a batch reads the same and its results are
byte-identical after a restart.

Several processes may share the file; the database is the one source of truth, and one signal
says it changed: every process serving the file maps a small companion file, ``PATH-changes``,
holding a counter that each committed write bumps (under a file lock) before its answer is sent.
A read request pins a :class:`Snapshot` of the shared row taken at one counter value (``batchsim
serve`` pins one per read request, reading the row again only once the counter has moved); while
the counter stands still, a batch's cancel time read at that value is still true, so it is
reused without a query. Each process caches the batches it rebuilt (they never change). The
creation sequence is reserved in the database, so no two processes mint the same batch id.
"""

from __future__ import annotations

import fcntl
import mmap
import os
import secrets
import sqlite3
import struct
import threading
from array import array
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from functools import partial
from typing import Any, NamedTuple

import orjson

from .._engine.batch import Batch, Body, Canned, Policy, Summary
from .._engine.params import PackedIds, PackedParams
from .._engine.ports import Entry, Page
from .._engine.scenario import Scenario

__all__ = ["SNAPSHOT_SQL", "Database", "Snapshot", "SqliteStore"]

SCHEMA_VERSION = 3  # 2: batches.api_version; 3: providers, policies, attrs, packed ids, id salt
_SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    provider TEXT NOT NULL,
    workspace TEXT NOT NULL,
    id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    seed TEXT NOT NULL,
    scenario BLOB NOT NULL,
    custom_ids BLOB NOT NULL,
    id_sizes BLOB NOT NULL,
    params BLOB NOT NULL,
    params_sizes BLOB NOT NULL,
    invalid BLOB NOT NULL,
    canned BLOB NOT NULL,
    policy BLOB NOT NULL,
    attrs BLOB NOT NULL,
    failed INTEGER NOT NULL DEFAULT 0,
    cancel_initiated_at INTEGER,
    deleted INTEGER NOT NULL DEFAULT 0,
    summary BLOB,
    UNIQUE (provider, workspace, id)
);
CREATE INDEX IF NOT EXISTS batches_by_workspace ON batches (provider, workspace, seq);
CREATE TABLE IF NOT EXISTS sequences (
    provider TEXT PRIMARY KEY,
    value INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS shared (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    sequence INTEGER NOT NULL DEFAULT 0,
    generation INTEGER NOT NULL DEFAULT 0,
    clock_start INTEGER,
    clock_now INTEGER,
    clock_origin INTEGER,
    scenario BLOB,
    scenario_initial BLOB,
    scenario_version INTEGER NOT NULL DEFAULT 0,
    id_salt TEXT
);
INSERT OR IGNORE INTO shared (id) VALUES (1);
"""
_CACHE_SIZE = 20_000
"""Batches rebuilt from their summaries kept per process (each a few hundred bytes)."""
DEFAULT_BODY_BUDGET = 128 * 1024 * 1024
"""What the requests of the batches a process has loaded may take together before the least
recently used are let go (see :meth:`~batchsim._engine.batch.Batch.release`)."""
_KNOWN_SIZE = 100_000


class Snapshot(NamedTuple):
    """The shared row as one request saw it, and the change counter it was read at (``None``
    for a database without one)."""

    scenario_version: int
    generation: int
    clock_now: int | None
    clock_origin: int | None
    changes: int | None = None


SNAPSHOT_SQL = "SELECT scenario_version, generation, clock_now, clock_origin FROM shared WHERE id = 1"


class ChangeCounter:
    """A 64-bit counter in a file every process serving the database maps (see the module
    docstring): bumped after each committed write, read before each request."""

    def __init__(self, path: str) -> None:
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        if os.fstat(self._fd).st_size < 8:
            os.ftruncate(self._fd, 8)  # never shrinks: only ever grows a new file to 8 bytes
        self._map = mmap.mmap(self._fd, 8)

    def value(self) -> int:
        return int(struct.unpack_from("<Q", self._map)[0])

    def bump(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            struct.pack_into("<Q", self._map, 0, (self.value() + 1) & 0xFFFFFFFFFFFFFFFF)
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        self._map.close()
        os.close(self._fd)


class Database:
    """One connection to the SQLite file, safe to share between threads (a lock serialises use)."""

    def __init__(self, path: str, *, timeout: float = 30.0) -> None:
        self.path = path
        try:
            self._conn = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
            self._conn.execute("PRAGMA user_version").fetchone()  # opens the file: a bad path fails here
        except sqlite3.Error as exc:
            folder = os.path.dirname(os.path.abspath(path))
            why = f"folder {folder} does not exist" if not os.path.isdir(folder) else str(exc)
            raise OSError(f"cannot open database {path}: {why}") from None
        self.lock = threading.RLock()
        self._pinned: ContextVar[Snapshot | None] = ContextVar(f"batchsim-pinned-{id(self)}", default=None)
        in_memory = path == ":memory:" or path.startswith("file:")
        self.changes: ChangeCounter | None = None if in_memory else ChangeCounter(f"{path}-changes")
        with self.lock:
            mode = self._conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise OSError(f"{path}: cannot use write-ahead logging (journal_mode is {mode})")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute(f"PRAGMA busy_timeout={round(timeout * 1000)}")
            version = self._conn.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, 1, 2, SCHEMA_VERSION):
                raise OSError(f"{path}: database schema version {version} is not supported")
            with self.transaction():
                if version in (1, 2):
                    _migrate_to_3(self._conn, version)
                self._create_schema()
                self._conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def _create_schema(self) -> None:
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                self._conn.execute(statement)
        if "summary" not in {row[1] for row in self._conn.execute("PRAGMA table_info(batches)")}:
            self._conn.execute("ALTER TABLE batches ADD COLUMN summary BLOB")
        columns = {row[1] for row in self._conn.execute("PRAGMA table_info(shared)")}
        if "id_salt" not in columns:
            self._conn.execute("ALTER TABLE shared ADD COLUMN id_salt TEXT")
        self._conn.execute("UPDATE shared SET id_salt = ? WHERE id = 1 AND id_salt IS NULL", (secrets.token_hex(8),))

    @property
    def connection(self) -> sqlite3.Connection:
        """The connection itself (hold :attr:`lock` while using it)."""
        return self._conn

    def read(self, sql: str, args: Sequence[Any] = ()) -> Any:
        """The first row a query returns, or ``None``."""
        with self.lock:
            return self._conn.execute(sql, args).fetchone()

    def read_all(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        with self.lock:
            return self._conn.execute(sql, args).fetchall()

    def write(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        """Run one writing statement in its own transaction; its ``RETURNING`` rows."""
        with self.lock:
            rows = self._conn.execute(sql, args).fetchall()
            self._changed()
        return rows

    def write_one(self, sql: str, args: Sequence[Any] = ()) -> Any:
        """:meth:`write`, returning the first row (or ``None``)."""
        rows = self.write(sql, args)
        return rows[0] if rows else None

    def _changed(self) -> None:
        if self.changes is not None:
            self.changes.bump()

    @contextmanager
    def pin(self, snapshot: Snapshot) -> Iterator[None]:
        """Let the code run inside reuse ``snapshot`` (see the module docstring)."""
        token = self._pinned.set(snapshot)
        try:
            yield
        finally:
            self._pinned.reset(token)

    def pinned_snapshot(self) -> Snapshot | None:
        """The snapshot pinned by the running request, if any."""
        return self._pinned.get()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction taken at once (``BEGIN IMMEDIATE``), committed on success."""
        with self.lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
            self._changed()

    def close(self) -> None:
        with self.lock:
            self._conn.close()
            if self.changes is not None:
                self.changes.close()


def _encode_params(params: Sequence[bytes]) -> tuple[bytes, bytes]:
    if isinstance(params, PackedParams):
        return params.joined(), params.sizes().tobytes()
    return b"".join(params), array("q", map(len, params)).tobytes()


def _decode_params(blob: bytes, sizes_blob: bytes) -> PackedParams:
    sizes = array("q")
    sizes.frombytes(sizes_blob)
    return PackedParams.from_sizes(blob, sizes)


def _encode_ids(ids: Sequence[str]) -> tuple[bytes, bytes]:
    packed = ids if isinstance(ids, PackedIds) else PackedIds.of(ids)
    return packed.joined(), packed.sizes().tobytes()


def _decode_ids(blob: bytes, sizes_blob: bytes) -> PackedIds:
    sizes = array("q")
    sizes.frombytes(sizes_blob)
    return PackedIds.from_sizes(blob, sizes)


def _migrate_to_3(conn: sqlite3.Connection, version: int) -> None:
    """Rebuild a schema 1 or 2 database's batches (all Anthropic's) in the shape of schema 3."""
    old = "api_version" if version == 2 else "NULL"
    rows = conn.execute(
        "SELECT seq, workspace, id, created_at, seed, scenario, custom_ids, params, params_sizes, invalid, canned, "
        f"cancel_initiated_at, deleted, {old} FROM batches"
    ).fetchall()
    sequence = conn.execute("SELECT sequence FROM shared WHERE id = 1").fetchone()
    conn.execute("DROP TABLE batches")
    for statement in _SCHEMA.split(";"):
        if statement.strip():
            conn.execute(statement)
    for row in rows:
        (seq, workspace, batch_id, created_at, seed, scenario, ids_json, params, sizes, invalid, canned) = row[:11]
        ids, id_sizes = _encode_ids(orjson.loads(ids_json))
        lines = {cid: [orjson.loads(line)["type"], line] for cid, line in orjson.loads(canned).items()}
        version_attrs = {"version": row[13]} if row[13] else {}
        conn.execute(
            "INSERT INTO batches (seq, provider, workspace, id, created_at, seed, scenario, custom_ids, id_sizes, "
            "params, params_sizes, invalid, canned, policy, attrs, failed, cancel_initiated_at, deleted) "
            "VALUES (?, 'anthropic', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)",
            (
                seq, workspace, batch_id, created_at, seed, scenario, ids, id_sizes, params, sizes, invalid,
                orjson.dumps(lines), orjson.dumps(Policy().to_dict()), orjson.dumps(version_attrs), row[11], row[12],
            ),
        )  # fmt: skip
    if sequence is not None and sequence[0]:
        conn.execute("INSERT OR REPLACE INTO sequences (provider, value) VALUES ('anthropic', ?)", (sequence[0],))


_HEADER = "workspace, id, created_at, seed, scenario, policy, attrs, failed, summary"
_BODY = "custom_ids, id_sizes, params, params_sizes, invalid, canned"


class SqliteStore:
    """The batches of one provider in a SQLite database (see the module docstring for the
    guarantees)."""

    durable = True

    def __init__(
        self, db: Database | str, provider: str = "anthropic", *, body_budget: int = DEFAULT_BODY_BUDGET
    ) -> None:
        self.db = db if isinstance(db, Database) else Database(db)
        self.provider = provider
        self.body_budget = body_budget
        self._cache: OrderedDict[int, Batch] = OrderedDict()  # rebuilt batches (they never change)
        self._cache_lock = threading.Lock()
        self._bodies: OrderedDict[int, tuple[Batch, int]] = OrderedDict()  # loaded requests, by size
        self._body_bytes = 0
        self._scenarios: dict[bytes, Scenario] = {}
        # (workspace, id) -> (seq, the change counter its cancel time was read at, cancel time)
        self._known: dict[tuple[str, str], tuple[int, int, int | None]] = {}

    # -- writes ---------------------------------------------------------------------------------

    def add(self, batch: Batch) -> Batch:
        """Keep ``batch``, whole (the service checks a durable store's batch before adding it);
        returns its twin that reads its requests back from the database when it needs them, so
        this process holds a batch's requests only while they are used."""
        params, sizes = _encode_params(batch.params)
        ids, id_sizes = _encode_ids(batch.custom_ids)
        summary = batch.summary()
        canned = {
            cid: [found.outcome, found.payload.decode()]
            for cid in batch.custom_ids
            if (found := batch.canned.get(cid)) is not None
        } if batch.canned else {}  # fmt: skip
        with self.db.transaction() as conn:
            cursor = conn.execute(
                "INSERT INTO batches (provider, workspace, id, created_at, seed, scenario, custom_ids, id_sizes, "
                "params, params_sizes, invalid, canned, policy, attrs, failed, cancel_initiated_at, deleted, summary) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, 0, ?)",
                (
                    self.provider,
                    batch.workspace,
                    batch.id,
                    batch.created_at,
                    batch.seed,
                    orjson.dumps(batch.scenario.to_dict()),
                    ids,
                    id_sizes,
                    params,
                    sizes,
                    orjson.dumps({str(i): text for i, text in batch.invalid.items()}),
                    orjson.dumps(canned),
                    orjson.dumps(batch.policy.to_dict()),
                    orjson.dumps(dict(batch.attrs)),
                    int(batch.failed),
                    orjson.dumps(summary.to_dict()),
                ),
            )
        seq = cursor.lastrowid
        assert seq is not None
        twin = self._rebuilt(seq, batch.workspace, batch.id, batch.created_at, batch.seed, batch.scenario,
                             batch.policy, batch.attrs, batch.failed, summary)  # fmt: skip
        self._remember(seq, twin)
        return twin

    def update(self, workspace: str, batch_id: str, change: Callable[[Entry], Entry]) -> Entry | None:
        """Decide and record a cancel or a delete in one write transaction: every process sees the
        record as the database holds it, so concurrent cancels agree on the first cancel time."""
        with self.db.transaction() as conn:
            row = conn.execute(
                "SELECT seq, cancel_initiated_at, deleted FROM batches WHERE provider = ? AND workspace = ? AND id = ?",
                (self.provider, workspace, batch_id),
            ).fetchone()
            if row is None or row[2]:
                return None
            entry = Entry(self._batch(row[0]), row[1], False)
            new = change(entry)
            if row[1] is not None:  # the first cancel time recorded wins
                new = new._replace(cancel_initiated_at=row[1])
            if new != entry:
                conn.execute(
                    "UPDATE batches SET cancel_initiated_at = ?, deleted = ? WHERE seq = ?",
                    (new.cancel_initiated_at, int(new.deleted), row[0]),
                )
        if new.deleted:
            with self._cache_lock:
                self._cache.pop(row[0], None)
        return new

    def next_number(self) -> int:
        row = self.db.write_one(
            "INSERT INTO sequences (provider, value) VALUES (?, 1) "
            "ON CONFLICT (provider) DO UPDATE SET value = value + 1 RETURNING value",
            (self.provider,),
        )
        return int(row[0])

    def clear(self) -> None:
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM batches WHERE provider = ?", (self.provider,))
            conn.execute("DELETE FROM sequences WHERE provider = ?", (self.provider,))
        self.drop_cache()

    # -- reads ----------------------------------------------------------------------------------

    def get(self, workspace: str, batch_id: str) -> Entry | None:
        snapshot = self.db.pinned_snapshot()
        changes = snapshot.changes if snapshot is not None else None
        if changes is not None:
            known = self._known.get((workspace, batch_id))
            if known is not None and known[1] == changes:
                batch = self._cache.get(known[0])
                if batch is not None:  # nothing was canceled or deleted since it was read
                    return Entry(batch, known[2])
        row = self.db.read(
            "SELECT seq, cancel_initiated_at, deleted FROM batches WHERE provider = ? AND workspace = ? AND id = ?",
            (self.provider, workspace, batch_id),
        )
        if row is None or row[2]:
            return None
        entry = Entry(self._batch(row[0]), row[1])
        if changes is not None:
            if len(self._known) >= _KNOWN_SIZE:
                self._known.clear()
            self._known[(workspace, batch_id)] = (row[0], changes, row[1])
        return entry

    def knows(self, workspace: str, batch_id: str) -> bool:
        row = self.db.read(
            "SELECT 1 FROM batches WHERE provider = ? AND workspace = ? AND id = ?",
            (self.provider, workspace, batch_id),
        )
        return row is not None

    def page(self, workspace: str, limit: int, after_id: str | None, before_id: str | None) -> Page:
        cursor_id = before_id if before_id is not None else after_id
        bound: int | None = None
        where = (self.provider, workspace)
        if cursor_id is not None:
            found = self.db.read(
                "SELECT seq FROM batches WHERE provider = ? AND workspace = ? AND id = ?", (*where, cursor_id)
            )
            if found is None:
                return Page([], False)
            bound = int(found[0])
        live = "SELECT seq, cancel_initiated_at FROM batches WHERE provider = ? AND workspace = ? AND deleted = 0"
        if before_id is not None:
            rows = self.db.read_all(f"{live} AND seq > ? ORDER BY seq ASC LIMIT ?", (*where, bound, limit + 1))
            has_more = len(rows) > limit
            rows = rows[:limit][::-1]
        else:
            if bound is None:
                rows = self.db.read_all(f"{live} ORDER BY seq DESC LIMIT ?", (*where, limit + 1))
            else:
                rows = self.db.read_all(f"{live} AND seq < ? ORDER BY seq DESC LIMIT ?", (*where, bound, limit + 1))
            has_more = len(rows) > limit
            rows = rows[:limit]
        return Page([Entry(self._batch(r[0]), r[1]) for r in rows], has_more)

    def workspaces(self) -> list[str]:
        rows = self.db.read_all(
            "SELECT DISTINCT workspace FROM batches WHERE provider = ? AND deleted = 0", (self.provider,)
        )
        return [row[0] for row in rows]

    # -- the per-process cache of rebuilt batches ----------------------------------------------

    def drop_cache(self) -> None:
        """Forget the batches rebuilt by this process (they are re-read when next asked for)."""
        with self._cache_lock:
            self._cache.clear()
            self._known.clear()
            bodies, self._bodies, self._body_bytes = list(self._bodies.values()), OrderedDict(), 0
        for batch, _ in bodies:
            batch.release()

    def loaded_bytes(self) -> int:
        """What the requests this process has loaded take (at most :attr:`body_budget`, beyond
        the batches in use)."""
        return self._body_bytes

    def _remember(self, seq: int, batch: Batch) -> None:
        with self._cache_lock:
            self._cache[seq] = batch
            while len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)

    def _batch(self, seq: int) -> Batch:
        """The batch numbered ``seq``, from the cache or rebuilt."""
        with self._cache_lock:
            batch = self._cache.get(seq)
            if batch is not None:
                self._cache.move_to_end(seq)
        if batch is None:
            batch = self._load(seq)
            self._remember(seq, batch)
        return batch

    def _load(self, seq: int) -> Batch:
        row = self.db.read(f"SELECT {_HEADER} FROM batches WHERE seq = ?", (seq,))
        if row is None:  # pragma: no cover - only a concurrent reset gets here
            raise LookupError(f"batch #{seq} vanished")
        workspace, batch_id, created_at, seed, scenario, policy, attrs, failed, summary = row
        return self._rebuilt(
            seq,
            workspace,
            batch_id,
            created_at,
            seed,
            self._scenario(scenario),
            Policy.from_dict(orjson.loads(policy)),
            orjson.loads(attrs),
            bool(failed),
            Summary.from_dict(orjson.loads(summary)) if summary is not None else None,
        )

    def _scenario(self, data: bytes) -> Scenario:
        """The scenario stored as ``data`` (one object for every batch created under it)."""
        found = self._scenarios.get(data)
        if found is None:
            if len(self._scenarios) >= 1024:
                self._scenarios.clear()
            found = self._scenarios[data] = Scenario.from_dict(orjson.loads(data))
        return found

    def _rebuilt(
        self,
        seq: int,
        workspace: str,
        batch_id: str,
        created_at: int,
        seed: str,
        scenario: Scenario,
        policy: Policy,
        attrs: Any,
        failed: bool,
        summary: Summary | None,
    ) -> Batch:
        """A batch whose requests are read from the database when first needed (and let go again
        when the loaded requests pass the budget), or at once without a summary (a batch stored
        before summaries were)."""
        holder: list[Batch] = []

        def load() -> Body:
            body = self._body(seq)
            if holder:
                self._loaded(seq, holder[0], body)
            return body

        path = self.db.path
        origin = (
            None if path == ":memory:" or path.startswith("file:") else partial(load_batch, path, self.provider, seq)
        )
        batch = Batch(
            batch_id, workspace, created_at, (), (), {}, scenario, seed, None, policy, attrs, failed,
            summary=summary, loader=load, origin=origin,
        )  # fmt: skip
        holder.append(batch)
        if batch.loaded:
            self._loaded(seq, batch, (batch.custom_ids, batch.params, batch.invalid, batch.canned))
        return batch

    def _body(self, seq: int) -> Body:
        row = self.db.read(f"SELECT {_BODY} FROM batches WHERE seq = ?", (seq,))
        if row is None:  # pragma: no cover - only a concurrent reset gets here
            raise LookupError(f"batch #{seq} vanished")
        ids, id_sizes, params, sizes, invalid, canned = row
        return (
            _decode_ids(ids, id_sizes),
            _decode_params(params, sizes),
            {int(i): text for i, text in orjson.loads(invalid).items()},
            {cid: Canned(outcome, line.encode()) for cid, (outcome, line) in orjson.loads(canned).items()},
        )

    def _loaded(self, seq: int, batch: Batch, body: Body) -> None:
        """Count a batch's requests against the budget, letting the least recently loaded go."""
        ids, params = body[0], body[1]
        size = params.nbytes if isinstance(params, PackedParams) else sum(map(len, params))
        size += ids.nbytes if isinstance(ids, PackedIds) else 64 * len(ids)
        size += 40 * len(ids)  # the plan: outcomes, ranks, starts, finishes, once computed
        released: list[Batch] = []
        with self._cache_lock:
            old = self._bodies.pop(seq, None)
            if old is not None:
                self._body_bytes -= old[1]
            self._bodies[seq] = (batch, size)
            self._body_bytes += size
            while self._body_bytes > self.body_budget and len(self._bodies) > 1:
                _, (other, other_size) = self._bodies.popitem(last=False)
                self._body_bytes -= other_size
                released.append(other)
        for other in released:
            other.release()


_opened: dict[str, Database] = {}


def load_batch(path: str, provider: str, seq: int) -> Batch:
    """Batch ``seq`` of ``provider`` in the database at ``path``, its requests loaded: how a batch
    of a durable store travels to another process (the results writer) without its requests."""
    db = _opened.get(path)
    if db is None:
        db = _opened[path] = Database(path)
    batch = SqliteStore(db, provider)._load(seq)
    batch.check_params()
    _ = batch.custom_ids  # loaded here, in the process that needs them
    return batch
