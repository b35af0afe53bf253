"""``@pytest.mark.batchsim(...)``: the marker's keys, merged over every level, checked up front.

Markers may sit on a test, its class and its module (and ``pytestmark``). Keys are merged with the
closest marker winning key by key: a module-level ``scenario=`` and a test-level ``seed=`` combine.
An unknown key or a positional argument fails the test with a one-line message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn

import pytest

from .._anthropic.responder import Responder
from .._engine.clock import Clock
from .._engine.scenario import Scenario, ScenarioError

__all__ = ["LIVE_IGNORED", "MARKER_HELP", "MarkerOptions", "read_options"]

SCENARIO_OVERRIDES = ("seed", "timing", "outcomes", "rules", "faults", "canned")
EMULATOR_KEYS = ("clock", "start", "api_keys", "responder", "journal")
KEYS = ("scenario", *SCENARIO_OVERRIDES, *EMULATOR_KEYS, "autoadvance")
LIVE_IGNORED = ("seed", "clock", "start", "journal", "autoadvance")
"""Keys that only tune the emulator: under ``--batchsim-live`` the test runs without them (noted
in the report). Every other key shapes what the API answers (outcomes, faults, timing, accepted
keys, messages), which the real API cannot be made to do: the test is skipped."""

MARKER_HELP = (
    "batchsim(scenario=None, seed=None, clock='virtual', autoadvance=False, ...): configure the "
    f"batchsim fixture; keys: {', '.join(KEYS)}"
)


@dataclass(frozen=True)
class MarkerOptions:
    """The merged keys of every ``batchsim`` marker that applies to one test."""

    given: Mapping[str, Any] = field(default_factory=dict)

    @property
    def autoadvance(self) -> bool:
        return bool(self.given.get("autoadvance", False))

    def scenario(self, base: Path, rootpath: Path) -> Scenario:
        """The scenario: ``scenario=`` (object, mapping or file) with the other scenario keys over it."""
        value = self.given.get("scenario")
        if isinstance(value, str | Path):
            value = _resolve(value, base, rootpath)
        overrides = {k: self.given[k] for k in SCENARIO_OVERRIDES if k in self.given}
        canned = overrides.get("canned")
        if isinstance(canned, str | Path):
            overrides["canned"] = str(_resolve(canned, base, rootpath))
        return Scenario.of(value, **overrides)

    def emulator_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {k: self.given[k] for k in EMULATOR_KEYS if k in self.given}
        clock = kwargs.get("clock", "virtual")
        if not isinstance(clock, str | Clock):
            _fail(f"clock: expected 'virtual', 'real', 'scaled:N' or a clock object, got {clock!r}")
        start = kwargs.get("start")
        if start is not None and not isinstance(start, datetime | int | float):
            _fail(f"start: expected a datetime or epoch seconds, got {start!r}")
        if start is not None and clock != "virtual":
            _fail(f"start: applies to the virtual clock only, not to clock={clock!r}")
        responder: Responder | None = kwargs.get("responder")
        if responder is not None and not callable(responder):
            _fail("responder: expected a callable (custom_id, params) -> dict")
        return kwargs


def read_options(node: pytest.Item) -> MarkerOptions:
    """Merge the ``batchsim`` markers of ``node`` (closest first) into one :class:`MarkerOptions`."""
    merged: dict[str, Any] = {}
    for marker in node.iter_markers("batchsim"):
        if marker.args:
            _fail(f"takes keyword arguments only, got positional {marker.args!r}")
        for key, value in marker.kwargs.items():
            if key not in KEYS:
                _fail(f"unknown key {key!r} (allowed: {', '.join(KEYS)})")
            merged.setdefault(key, value)
    autoadvance = merged.get("autoadvance", False)
    if not isinstance(autoadvance, bool):
        _fail(f"autoadvance: expected True or False, got {autoadvance!r}")
    return MarkerOptions(merged)


def build_scenario(options: MarkerOptions, node: pytest.Item) -> Scenario:
    """The test's scenario; a bad one fails the test with the offending key in one line."""
    try:
        return options.scenario(node.path.parent, node.config.rootpath)
    except (ScenarioError, OSError, TypeError) as exc:
        problem = f"scenario: {exc}"
    _fail(problem)  # outside the except block: one line, no chained "during handling" traceback


def _resolve(value: str | Path, base: Path, rootpath: Path) -> Path:
    """A relative path is looked up next to the test file, then under the rootdir, then as given."""
    path = Path(value)
    if path.is_absolute():
        return path
    for folder in (base, rootpath):
        candidate = folder / path
        if candidate.exists():
            return candidate
    return path


def _fail(message: str) -> NoReturn:
    __tracebackhide__ = True
    pytest.fail(f"@pytest.mark.batchsim: {message}", pytrace=False)
