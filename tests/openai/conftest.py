"""Fixtures of the OpenAI Files + Batch API tests (helpers: ``openai_helpers.py``).

This folder has no ``__init__.py`` on purpose: as a package it would be named ``openai`` and
shadow the SDK."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest
from openai_helpers import InProcess, OverHttp, Target

from batchsim import Emulator


@pytest.fixture(params=["in-process", pytest.param("server", marks=pytest.mark.server)])
def target(request: pytest.FixtureRequest) -> Iterator[Target]:
    """The same emulator reached in process or over HTTP (a real ``batchsim serve``)."""
    if request.param == "in-process":
        sim = Emulator()
        yield InProcess(sim)
        sim.close()
    else:
        over_http = OverHttp(request.getfixturevalue("fresh_server"))
        yield over_http
        over_http.close()


@pytest.fixture
def sim() -> Iterator[Emulator]:
    emulator = Emulator()
    yield emulator
    emulator.close()


@pytest.fixture
def client(sim: Emulator) -> Iterator[openai.OpenAI]:
    """The SDK in process, validating every answer against its own models, without retries."""
    with sim.openai_client(max_retries=0, _strict_response_validation=True) as sdk:
        yield sdk
