"""batchsim: a faithful, offline emulator of Anthropic's Message Batches API.

Public names: :class:`Emulator` (with :class:`BatchView`), :class:`Scenario` (with
:class:`Timing`, :class:`Outcomes`, :class:`Rule`, :class:`Fault`), :class:`ScenarioError`, the
clocks and :class:`Call`.
"""

from typing import TYPE_CHECKING, Any

from ._engine.clock import Clock, RealClock, ScaledClock, VirtualClock
from ._engine.scenario import Fault, Outcomes, Rule, Scenario, ScenarioError, Timing
from ._http.journal import Call

if TYPE_CHECKING:
    from ._emulator import BatchView, Emulator

__all__ = [
    "BatchView",
    "Call",
    "Clock",
    "Emulator",
    "Fault",
    "Outcomes",
    "RealClock",
    "Rule",
    "ScaledClock",
    "Scenario",
    "ScenarioError",
    "Timing",
    "VirtualClock",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # The emulator (its web framework included) loads on first use: importing batchsim, as
    # pytest does for the plugin in every run, stays cheap.
    if name in ("Emulator", "BatchView"):
        from . import _emulator

        return getattr(_emulator, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
