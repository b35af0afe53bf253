"""Helpers for the Gemini tests: an emulator and its in-process google-genai client, inline
requests, and clients of a real ``batchsim serve``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from google import genai
from google.genai import types

from batchsim import Emulator, Scenario

MODEL = "gemini-2.5-flash"


def inline(n: int, prefix: str = "req", **request: Any) -> list[dict[str, Any]]:
    """``n`` inline requests (google-genai's ``InlinedRequest`` as a dict), keyed ``prefix-i``."""
    return [
        {
            "contents": [{"role": "user", "parts": [{"text": f"Question {i}"}]}],
            "metadata": {"key": f"{prefix}-{i}"},
            **request,
        }
        for i in range(n)
    ]


def line(key: str, text: str = "hello") -> dict[str, Any]:
    """One line of an input file."""
    return {"key": key, "request": {"contents": [{"role": "user", "parts": [{"text": text}]}]}}


def over_http(url: str, key: str = "key-a", **options: Any) -> genai.Client:
    """A google-genai client of a real server (no retries unless asked, as the SDK's default)."""
    return genai.Client(api_key=key, http_options=types.HttpOptions(base_url=url, **options))


@pytest.fixture
def sim() -> Iterator[Emulator]:
    emulator = Emulator(Scenario(seed=7))
    yield emulator
    emulator.close()


@pytest.fixture
def client(sim: Emulator) -> Iterator[genai.Client]:
    made = sim.gemini_client()
    yield made
    made.close()
