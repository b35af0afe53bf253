"""Gemini batch mode as one emulator serves it (see :class:`~batchsim._http.spec.Provider`)."""

from __future__ import annotations

from .._engine.clock import Clock
from .._engine.ports import Files, ResultsFiles, Store
from .._engine.scenario import Scenario
from .._engine.service import BatchService
from .._http.spec import Provider
from .api import GeminiApi, policy
from .console import Console
from .errors import GeminiDialect
from .routes import operations
from .traits import NAME
from .wire import BATCH_IDS, read_canned

__all__ = ["Gemini"]


class Gemini:
    """The Gemini API of one emulator."""

    name = NAME

    def __init__(
        self, clock: Clock, scenario: Scenario, store: Store, results: ResultsFiles | None, files: Files
    ) -> None:
        self.service = BatchService(clock, scenario, store, results, ids=BATCH_IDS, what="batch", policy=policy)
        self.api = GeminiApi(self.service, files)
        self.files = files
        self.set_scenario(scenario)
        self.provider = Provider(NAME, GeminiDialect(), operations(self.api), Console(self.api))

    def set_scenario(self, scenario: Scenario) -> None:
        """Make ``scenario`` apply to new batches (its canned lines of Gemini's format read)."""
        self.service.set_scenario(scenario, read_canned(scenario))

    def reset(self) -> None:
        """Forget every batch and file."""
        self.api.reset()
