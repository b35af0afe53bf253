"""batchsim: a faithful, offline emulator of the batch APIs of Anthropic, OpenAI and Gemini.

Public names: :class:`Emulator` (with :class:`BatchView`), :class:`Scenario` (with
:class:`Timing`, :class:`Outcomes`, :class:`Rule`, :class:`Fault`), :class:`ScenarioError`, the
clocks and :class:`Call`.
"""

from typing import TYPE_CHECKING, Any

from ._engine.clock import Clock, RealClock, ScaledClock, VirtualClock
from ._engine.scenario import Fault, Outcomes, Rule, Scenario, ScenarioError, Timing
from ._http.journal import Call

# Every provider's traits (its scenario section, fault endpoints, canned-line format), so that a
# scenario read anywhere knows them all.
from ._anthropic import traits as _anthropic_traits  # noqa: F401  # isort: skip
from ._openai import traits as _openai_traits  # noqa: F401  # isort: skip
from ._gemini import traits as _gemini_traits  # noqa: F401  # isort: skip

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
