from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import anthropic
import pytest
from serverproc import ServerProcess

from batchsim import Emulator


def make_requests(n: int, prefix: str = "req", **params: Any) -> list[dict[str, Any]]:
    """``n`` valid batch requests with ids ``{prefix}-0`` … ."""
    base: dict[str, Any] = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 256,
        "messages": [{"role": "user", "content": "Summarize: the quick brown fox jumps over the lazy dog."}],
    }
    return [{"custom_id": f"{prefix}-{i}", "params": {**base, **params}} for i in range(n)]


class Target(Protocol):
    name: str

    def client(self, **kwargs: Any) -> anthropic.Anthropic: ...

    def async_client(self, **kwargs: Any) -> anthropic.AsyncAnthropic: ...

    def advance(self, seconds: float) -> None: ...


@dataclass
class InProcess:
    sim: Emulator
    name: str = "in-process"

    def client(self, **kwargs: Any) -> anthropic.Anthropic:
        kwargs.setdefault("max_retries", 0)
        return self.sim.client(_strict_response_validation=True, **kwargs)

    def async_client(self, **kwargs: Any) -> anthropic.AsyncAnthropic:
        kwargs.setdefault("max_retries", 0)
        return self.sim.async_client(_strict_response_validation=True, **kwargs)

    def advance(self, seconds: float) -> None:
        self.sim.advance(seconds)


@dataclass
class OverHttp:
    server: ServerProcess
    name: str = "server"
    opened: list[anthropic.Anthropic] = field(default_factory=list)

    def client(self, **kwargs: Any) -> anthropic.Anthropic:
        kwargs.setdefault("api_key", "batchsim-test-key")
        kwargs.setdefault("max_retries", 0)
        client = anthropic.Anthropic(base_url=self.server.url, _strict_response_validation=True, **kwargs)
        self.opened.append(client)
        return client

    def async_client(self, **kwargs: Any) -> anthropic.AsyncAnthropic:
        """Close it inside its event loop (``await client.close()``)."""
        kwargs.setdefault("api_key", "batchsim-test-key")
        kwargs.setdefault("max_retries", 0)
        return anthropic.AsyncAnthropic(base_url=self.server.url, _strict_response_validation=True, **kwargs)

    def close(self) -> None:
        for client in self.opened:
            client.close()

    def advance(self, seconds: float) -> None:
        self.server.advance(seconds)


@pytest.fixture(params=["in-process", pytest.param("server", marks=pytest.mark.server)])
def target(request: pytest.FixtureRequest) -> Iterator[Target]:
    """The same emulator reached in-process or over HTTP to a real ``batchsim serve``."""
    if request.param == "in-process":
        yield InProcess(Emulator())
    else:
        over_http = OverHttp(request.getfixturevalue("fresh_server"))
        yield over_http
        over_http.close()
