"""State shared by every process serving one database: clock, active scenario, resets, ids.

With ``batchsim serve --db PATH`` the emulator's state that is not per batch lives in the
database too, so several workers (and a restarted server) show one emulator:

* the virtual clock's "now" (an advance through one worker is seen by all), and the origin of a
  scaled clock;
* the active scenario, with a version number each worker compares on every request;
* a reset generation, so a reset through one worker also restarts the fault counters and clears
  the request journal of the others on their next request;
* a salt drawn when the database was made, mixed with the generation into new batch ids (the
  service's ``epoch``), so no id is handed out twice across restarts and resets.

The creation sequences live in :class:`~batchsim._storage.sqlite.SqliteStore` (one per provider).
"""

from __future__ import annotations

import time
from datetime import datetime

import orjson

from .._engine.clock import DEFAULT_START, LATEST, Clock, ScaledClock, VirtualClock, advance_by, make_clock, to_micros
from .._engine.scenario import Scenario
from .files import DEFAULT_FILES_BYTES, SqliteFiles
from .sqlite import SNAPSHOT_SQL, Database, Snapshot, SqliteStore

__all__ = ["SharedScaledClock", "SharedState", "SharedVirtualClock"]


class SharedState:
    """The ``shared`` row of the database: scenario (versioned), reset generation, id salt; and the
    stores and clock over the database."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._stores: dict[str, SqliteStore] = {}

    def store(self, provider: str) -> SqliteStore:
        """The batches of ``provider`` in the database."""
        found = self._stores.get(provider)
        if found is None:
            found = self._stores[provider] = SqliteStore(self.db, provider)
        return found

    def files(self, provider: str, max_bytes: int = DEFAULT_FILES_BYTES) -> SqliteFiles:
        """The uploaded files of ``provider`` in the database."""
        return SqliteFiles(self.db, provider, max_bytes)

    def clock(self, spec: str | Clock, start: datetime | float | None = None) -> Clock:
        """The clock ``spec`` names, shared through the database (virtual and scaled clocks)."""
        clock = make_clock(spec)  # validates the spec
        if isinstance(clock, VirtualClock):
            return SharedVirtualClock(self.db, start if start is not None else DEFAULT_START)
        if isinstance(clock, ScaledClock):
            return SharedScaledClock(self.db, clock.factor)
        return clock

    def drop_caches(self) -> None:
        """Forget what this process read of the stores (they are read again when next asked for)."""
        for store in self._stores.values():
            store.drop_cache()

    def epoch(self) -> str:
        """What new ids mix in: the database's salt and the reset generation."""
        salt, generation = self.db.read("SELECT id_salt, generation FROM shared WHERE id = 1")
        return f"{salt}:{generation}"

    def poll(self) -> tuple[int, int]:
        """``(scenario_version, generation)``."""
        snapshot = self.snapshot()
        return snapshot.scenario_version, snapshot.generation

    def snapshot(self, changes: int | None = None) -> Snapshot:
        """The whole shared row, read at change counter ``changes``."""
        version, generation, clock_now, clock_origin = self.db.read(SNAPSHOT_SQL)
        return Snapshot(version, generation, clock_now, clock_origin, changes)

    def scenario(self) -> tuple[int, Scenario | None]:
        row = self.db.read("SELECT scenario_version, scenario FROM shared WHERE id = 1")
        return int(row[0]), (Scenario.from_dict(orjson.loads(row[1])) if row[1] is not None else None)

    def initial_scenario(self) -> Scenario | None:
        """The scenario the server was started with (a reset goes back to it)."""
        row = self.db.read("SELECT scenario_initial FROM shared WHERE id = 1")
        return Scenario.from_dict(orjson.loads(row[0])) if row[0] is not None else None

    def set_initial_scenario(self, scenario: Scenario) -> None:
        self.db.write("UPDATE shared SET scenario_initial = ? WHERE id = 1", (orjson.dumps(scenario.to_dict()),))

    def publish_scenario(self, scenario: Scenario) -> int:
        """Make ``scenario`` the active one for every process; returns its version."""
        row = self.db.write_one(
            "UPDATE shared SET scenario = ?, scenario_version = scenario_version + 1 WHERE id = 1 "
            "RETURNING scenario_version",
            (orjson.dumps(scenario.to_dict()),),
        )
        return int(row[0])

    def bump_generation(self) -> int:
        row = self.db.write_one("UPDATE shared SET generation = generation + 1 WHERE id = 1 RETURNING generation")
        return int(row[0])


class SharedVirtualClock(VirtualClock):
    """A virtual clock whose "now" is stored in the database (kept across restarts, one for all
    workers). ``start`` only applies to a database that has no clock yet."""

    def __init__(self, db: Database, start: datetime | float | int = DEFAULT_START) -> None:
        super().__init__(start)
        self.db = db
        begin = to_micros(start)
        db.write(
            "UPDATE shared SET clock_start = ?, clock_now = ? WHERE id = 1 AND clock_now IS NULL",
            (begin, begin),
        )

    def now(self) -> int:
        snapshot = self.db.pinned_snapshot()
        if snapshot is not None and snapshot.clock_now is not None:
            return snapshot.clock_now
        return int(self.db.read("SELECT clock_now FROM shared WHERE id = 1")[0])

    def advance(self, seconds: float) -> int:
        step = advance_by(self.now(), seconds)  # bounds the step; the database keeps the sum exact
        row = self.db.write_one(
            "UPDATE shared SET clock_now = min(clock_now + ?, ?) WHERE id = 1 RETURNING clock_now", (step, LATEST)
        )
        return int(row[0])

    def reset(self) -> None:
        self.db.write("UPDATE shared SET clock_now = clock_start WHERE id = 1")


class SharedScaledClock(ScaledClock):
    """A scaled clock whose origin (a wall-clock instant) is stored in the database, so every
    worker computes the same "now"."""

    def __init__(self, db: Database, factor: float) -> None:
        super().__init__(factor)
        self.db = db
        db.write(
            "UPDATE shared SET clock_origin = ? WHERE id = 1 AND clock_origin IS NULL",
            (time.time_ns() // 1000,),
        )

    def now(self) -> int:
        snapshot = self.db.pinned_snapshot()
        if snapshot is not None and snapshot.clock_origin is not None:
            origin = snapshot.clock_origin
        else:
            origin = int(self.db.read("SELECT clock_origin FROM shared WHERE id = 1")[0])
        return origin + round((time.time_ns() // 1000 - origin) * self.factor)

    def reset(self) -> None:
        self.db.write("UPDATE shared SET clock_origin = ? WHERE id = 1", (time.time_ns() // 1000,))
