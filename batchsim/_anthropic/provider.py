"""Anthropic's Message Batches API as one emulator serves it: its service over the engine, its
routes, dialect and console (see :class:`~batchsim._http.spec.Provider`)."""

from __future__ import annotations

from .._engine.clock import Clock
from .._engine.ports import ResultsFiles, Store
from .._engine.scenario import Scenario
from .._engine.service import BatchService
from .._http.spec import Provider
from .api import BATCH_IDS, WHAT, MessageBatches, canned_of, policy
from .console import Console
from .errors import AnthropicDialect
from .responder import Responder
from .routes import batch_operations
from .traits import NAME

__all__ = ["Anthropic"]


class Anthropic:
    """The Anthropic API of one emulator."""

    name = NAME

    def __init__(
        self,
        clock: Clock,
        scenario: Scenario,
        store: Store,
        results: ResultsFiles | None,
        *,
        responder: Responder | None = None,
        seed: int = 0,
    ) -> None:
        self.service = BatchService(clock, scenario, store, results, ids=BATCH_IDS, what=WHAT, policy=policy)
        self.api = MessageBatches(self.service, responder)
        self.set_scenario(scenario)
        self.provider = Provider(NAME, AnthropicDialect(seed), batch_operations(self.api), Console(self.api))

    def set_scenario(self, scenario: Scenario) -> None:
        """Make ``scenario`` apply to new batches (its canned lines of Anthropic's format read)."""
        self.service.set_scenario(scenario, canned_of(scenario))

    def reset(self) -> None:
        """Forget every batch."""
        self.service.reset()
