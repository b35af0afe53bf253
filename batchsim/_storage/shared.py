"""State shared by every process serving one database: clock, active scenario, resets.

With ``batchsim serve --db PATH`` the emulator's state that is not per batch lives in the
database too, so several workers (and a restarted server) show one emulator:

* the virtual clock's "now" (an advance through one worker is seen by all), and the origin of a
  scaled clock;
* the active scenario, with a version number each worker compares on every request;
* a reset generation, so a reset through one worker also restarts the fault counters and clears
  the request journal of the others on their next request.

The creation sequence (batch ids) lives in :class:`~batchsim._sqlite.SqliteStore`.
"""

from __future__ import annotations

import time
from datetime import datetime

import orjson

from .._engine.clock import DEFAULT_START, LATEST, ScaledClock, VirtualClock, advance_by, to_micros
from .._engine.scenario import Scenario
from .sqlite import SNAPSHOT_SQL, Database, Snapshot

__all__ = ["SharedScaledClock", "SharedState", "SharedVirtualClock"]


class SharedState:
    """The ``shared`` row of the database: scenario (versioned) and reset generation."""

    def __init__(self, db: Database) -> None:
        self.db = db

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
