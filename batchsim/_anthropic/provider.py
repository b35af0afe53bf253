"""Anthropic's API as one emulator serves it: the Message Batches service over the engine, the
calls around batches (token counting, models, files), their routes, dialect and console (see
:class:`~batchsim._http.spec.Provider`)."""

from __future__ import annotations

from .._engine.clock import Clock
from .._engine.ports import Files, ResultsFiles, Store
from .._engine.scenario import Scenario
from .._engine.service import BatchService
from .._http.spec import Provider
from .api import BATCH_IDS, WHAT, MessageBatches, canned_of, policy
from .console import Console
from .errors import AnthropicDialect
from .files import AnthropicFiles
from .messages import MessagesApi
from .responder import Responder
from .routes import around_operations, batch_operations, files_operations
from .traits import NAME

__all__ = ["Anthropic"]


class Anthropic:
    """The Anthropic API of one emulator. ``files`` keeps its uploaded files (none: the Files API
    is not served, and batch requests naming a file are not checked against it)."""

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
        files: Files | None = None,
    ) -> None:
        self.service = BatchService(clock, scenario, store, results, ids=BATCH_IDS, what=WHAT, policy=policy)
        self.files = AnthropicFiles(files, clock, seed, lambda: self.service.epoch) if files is not None else None
        self.api = MessageBatches(self.service, responder, self.files)
        self.messages = MessagesApi(clock, scenario, self.files)
        self.set_scenario(scenario)
        operations = batch_operations(self.api) + around_operations(self.messages)
        if self.files is not None:
            operations += files_operations(self.files)
        self.provider = Provider(NAME, AnthropicDialect(seed), operations, Console(self.api))

    def set_scenario(self, scenario: Scenario) -> None:
        """Make ``scenario`` apply to new batches (its canned lines of Anthropic's format read)
        and to the model catalogue."""
        self.service.set_scenario(scenario, canned_of(scenario))
        self.messages.scenario = scenario

    def reset(self) -> None:
        """Forget every batch and file."""
        self.service.reset()
        if self.files is not None:
            self.files.files.clear()
