"""The SDK calls batchclient makes, with its own retries on top of the SDK's.

The SDK already retries 408/409/429/5xx and dropped connections (twice by default). When those
retries run out, :meth:`Api.call` waits and tries again, up to ``attempts`` times: it honours
``retry-after-ms`` / ``retry-after`` when the answer has them, else exponential backoff with
jitter. A results download cut half-way is retried the same way (from the start).

``create`` is special: retrying a create whose answer was lost would submit the batch twice.
It is sent without SDK retries; after a failure that may have created the batch (a 5xx, a
timeout, a dropped connection: anything but 429/529, which the API answers before doing
anything) the caller's ``find`` looks for it before trying again.
"""

from __future__ import annotations

import email.utils
import functools
import inspect
import json
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import anthropic
from anthropic.types.messages import MessageBatch

__all__ = ["Api", "RetryPolicy", "is_transient"]

T = TypeVar("T")
_NETWORK_MODULES = frozenset({"httpx", "httpx2", "httpcore", "httpcore2", "h11", "h2", "anyio"})
_REJECTED_BEFORE_PROCESSING = frozenset({429, 529})
PATH = "/v1/messages/batches"


@dataclass(frozen=True)
class RetryPolicy:
    """batchclient's own retries, after the SDK's: ``attempts`` tries in all, backoff from
    ``base`` seconds doubling up to ``cap``, each delay times a random factor in [0.5, 1]."""

    attempts: int = 8
    base: float = 1.0
    cap: float = 60.0


def is_transient(exc: BaseException) -> bool:
    """Worth trying again: rate limits, overload, server errors, network failures."""
    if isinstance(exc, anthropic.APIStatusError):
        return exc.status_code in (408, 409, 429) or exc.status_code >= 500
    if isinstance(exc, anthropic.APIConnectionError | OSError):
        return True
    return type(exc).__module__.split(".")[0] in _NETWORK_MODULES


def retry_after(exc: BaseException) -> float | None:
    """Seconds the server asked to wait (``retry-after-ms`` or ``retry-after``), if any."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    try:
        raw_ms = headers.get("retry-after-ms")
        if raw_ms is not None and float(raw_ms) > 0:
            return float(raw_ms) / 1000
        raw = headers.get("retry-after")
        if raw is None:
            return None
        try:
            seconds = float(raw)
        except ValueError:
            moment = email.utils.parsedate_to_datetime(raw)
            seconds = moment.timestamp() - time.time()
        return seconds if seconds > 0 else None
    except (TypeError, ValueError):
        return None


class Api:
    """The few SDK calls a job needs, each retried on transient failures."""

    def __init__(
        self,
        client: anthropic.Anthropic,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.client = client
        self.policy = policy or RetryPolicy()
        self.raw_create = "content" in inspect.signature(client.post).parameters
        """Send create bodies as the bytes read from the input (SDKs whose ``post`` takes
        ``content=``), instead of parsing them into dicts for ``messages.batches.create``: the
        same request on the wire, a fraction of the memory."""
        self._sleep = sleep
        self._log = log or (lambda message: None)

    def delay(self, exc: BaseException, attempt: int) -> float:
        asked = retry_after(exc)
        if asked is not None:
            return min(asked, 600.0)
        backoff: float = min(self.policy.cap, self.policy.base * 2.0**attempt)
        return backoff * (0.5 + random.random() / 2)

    def call(self, what: str, fn: Callable[[], T]) -> T:
        """``fn()``, tried again after transient failures."""
        for attempt in range(self.policy.attempts):
            try:
                return fn()
            except Exception as exc:
                if not is_transient(exc) or attempt + 1 >= self.policy.attempts:
                    raise
                wait = self.delay(exc, attempt)
                self._log(f"{what}: {type(exc).__name__}: {exc}; trying again in {wait:.2f}s")
                self._sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def create(self, body: bytes, find: Callable[[], MessageBatch | None]) -> MessageBatch:
        """Create a batch from its JSON body, once: after an ambiguous failure, ``find()`` it
        before trying again."""
        once = self.client.with_options(max_retries=0)
        for attempt in range(self.policy.attempts):
            try:
                return self._send_create(once, body)
            except Exception as exc:
                if not is_transient(exc) or attempt + 1 >= self.policy.attempts:
                    raise
                status = getattr(exc, "status_code", None)
                if status not in _REJECTED_BEFORE_PROCESSING:
                    found = find()
                    if found is not None:
                        self._log(f"create: {type(exc).__name__}, but batch {found.id} exists: using it")
                        return found
                wait = self.delay(exc, attempt)
                self._log(f"create: {type(exc).__name__}: {exc}; trying again in {wait:.2f}s")
                self._sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def _send_create(self, client: anthropic.Anthropic, body: bytes) -> MessageBatch:
        if self.raw_create:
            return client.post(PATH, content=body, cast_to=MessageBatch)  # type: ignore[call-arg,unused-ignore]
        requests = json.loads(body)["requests"]
        return client.messages.batches.create(requests=requests)

    def retrieve(self, batch_id: str) -> MessageBatch:
        return self.call(f"retrieve {batch_id}", lambda: self.client.messages.batches.retrieve(batch_id))

    def cancel(self, batch_id: str) -> MessageBatch:
        return self.call(f"cancel {batch_id}", lambda: self.client.messages.batches.cancel(batch_id))

    def virtual_clock(self) -> bool:
        """Whether the server says it is batchsim on a virtual clock (``GET /_batchsim/clock``
        answers ``{"kind": "virtual", ...}``): one quick call, never retried. Anything else
        (production has no such route, an error, another clock) is ``False``."""
        try:
            answer = self.client.with_options(max_retries=0, timeout=10.0).get("/_batchsim/clock", cast_to=object)
        except Exception:  # a hint only: whatever went wrong, there is none to give
            return False
        return isinstance(answer, dict) and answer.get("kind") == "virtual"

    def newest(self) -> MessageBatch | None:
        """The most recently created batch of the workspace, if any."""
        page = self.call("list", lambda: self.client.messages.batches.list(limit=1))
        return page.data[0] if page.data else None

    def batches(self) -> Iterator[MessageBatch]:
        """Every batch of the workspace, newest first, one page of 100 at a time."""
        after: str | None = None
        while True:
            kwargs: dict[str, Any] = {"limit": 100} if after is None else {"limit": 100, "after_id": after}
            page = self.call("list", functools.partial(self.client.messages.batches.list, **kwargs))
            yield from page.data
            if not page.has_more or not page.data:
                return
            after = page.data[-1].id

    @contextmanager
    def result_lines(self, batch_id: str) -> Iterator[Iterator[str]]:
        """The JSONL lines of an ended batch's results, streamed: as the API sent them, or (SDKs
        without a streaming ``results``) each parsed line serialized back with the fields it had."""
        batches = self.client.messages.batches
        if not hasattr(batches.with_streaming_response, "results"):
            yield (item.to_json(indent=None) for item in batches.results(batch_id))
            return
        with batches.with_streaming_response.results(batch_id) as response:
            yield (line for line in response.iter_lines() if line.strip())
