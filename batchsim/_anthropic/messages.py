"""The calls a batch job makes around its batches: token counting (``POST
/v1/messages/count_tokens``) and the model catalogue (``GET /v1/models``, ``GET
/v1/models/{model_id}``), in wire form.

Token counting checks its params as a batch request's are checked, under the call's
``anthropic-version``, and answers at once (a problem is the API's 400, or 404 for a model it does
not serve); its count is the estimate the responder puts in ``usage.input_tokens`` for the same
prompt (see :mod:`.tokens`).
"""

from __future__ import annotations

from typing import Any

import orjson

from .._engine.clock import Clock
from .._engine.errors import InvalidError, NotFoundError, TooLargeError
from .._engine.scenario import Scenario
from .catalogue import Catalogue, catalogue_for
from .files import AnthropicFiles, file_problem
from .tokens import file_references, input_tokens
from .traits import NAME
from .validation import plainly_countable, problem_error, validate_params

__all__ = ["MAX_COUNT_BODY_BYTES", "MessagesApi"]

MAX_COUNT_BODY_BYTES = 32 * 1024 * 1024
"""The largest token-counting request (32 MB, as for the Messages API)."""
DEFAULT_LIMIT, MAX_LIMIT = 20, 1000


class MessagesApi:
    """Token counting and the models of one emulator (the catalogue follows its scenario)."""

    def __init__(self, clock: Clock, scenario: Scenario, files: AnthropicFiles | None = None) -> None:
        self.clock = clock
        self.scenario = scenario
        self.files = files
        self._pages: dict[tuple[Any, ...], bytes] = {}

    @property
    def catalogue(self) -> Catalogue:
        return catalogue_for(self.scenario.section(NAME))

    def count_tokens(self, workspace: str, body: bytes, version: str | None) -> bytes:
        if len(body) > MAX_COUNT_BODY_BYTES:
            raise TooLargeError(f"Request exceeds the maximum size of {MAX_COUNT_BODY_BYTES} bytes")
        try:
            params: Any = orjson.loads(body) if body.strip() else None
        except orjson.JSONDecodeError as exc:
            raise InvalidError(f"The request body is not valid JSON: {exc}") from None
        if not isinstance(params, dict):
            raise InvalidError("Input should be a valid dictionary")
        now = self.clock.now()
        models = self.catalogue.check(now)
        if plainly_countable(params, models):  # the common shape: no file to read either
            return b'{"input_tokens":%d}' % input_tokens(params, len(orjson.dumps(params)))
        problem = validate_params(params, version, models, count=True)
        if problem is not None:
            kind, message = problem_error(problem)
            if kind == "not_found_error":
                raise NotFoundError("model", str(params.get("model")), message)
            raise InvalidError(message)
        file_bytes = 0
        for _, file_id in file_references(params):
            record = self.files.live(workspace, file_id, now) if self.files is not None else None
            if record is None:
                raise InvalidError(file_problem(file_id))
            file_bytes += record.size
        count = input_tokens(params, len(orjson.dumps(params)), file_bytes)
        return b'{"input_tokens":%d}' % count

    def list_models(self, limit: int, after_id: str | None, before_id: str | None) -> bytes:
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidError(f"limit: Input should be between 1 and {MAX_LIMIT}")
        catalogue = self.catalogue
        if after_id is not None and before_id is not None:
            before_id = None  # after_id wins, as in the SDKs' auto-pagination direction
        now = self.clock.now()
        # A page changes only with the catalogue and a lifecycle: kept until then.
        key = (id(catalogue), catalogue.window(now), limit, after_id, before_id)
        found = self._pages.get(key)
        if found is not None:
            return found
        for name, cursor in (("after_id", after_id), ("before_id", before_id)):
            if cursor is not None and catalogue.get(cursor) is None:
                raise InvalidError(f"{name}: no model with id {cursor!r}")
        data, more = catalogue.page(now, limit, after_id, before_id)
        first = data[0]["id"] if data else None
        last = data[-1]["id"] if data else None
        page = orjson.dumps({"data": data, "first_id": first, "last_id": last, "has_more": more})
        if len(self._pages) >= 256:
            self._pages.clear()
        self._pages[key] = page
        return page

    def retrieve_model(self, model_id: str) -> bytes:
        found = self.catalogue.encoded(self.clock.now(), model_id)
        if found is None:
            raise NotFoundError("model", model_id, f"model: {model_id}")
        return found
