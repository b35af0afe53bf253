"""batchsim: a faithful, offline emulator of Anthropic's Message Batches API.

Public names: :class:`Emulator`, :class:`Scenario` (with :class:`Timing`, :class:`Outcomes`,
:class:`Rule`, :class:`Fault`), :class:`ScenarioError`, the clocks and :class:`Call`.
"""

from ._emulator import Emulator
from ._engine.clock import Clock, RealClock, ScaledClock, VirtualClock
from ._engine.scenario import Fault, Outcomes, Rule, Scenario, ScenarioError, Timing
from ._http.journal import Call

__all__ = [
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
