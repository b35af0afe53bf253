"""Shared bits for the plugin's tests."""

from __future__ import annotations

from typing import Any

MODEL = "claude-sonnet-4-5"


def request(custom_id: str, text: str = "Summarize this.", **params: Any) -> dict[str, Any]:
    return {
        "custom_id": custom_id,
        "params": {"model": MODEL, "max_tokens": 64, "messages": [{"role": "user", "content": text}], **params},
    }


def requests(n: int, prefix: str = "req") -> list[dict[str, Any]]:
    return [request(f"{prefix}-{i}") for i in range(n)]


# Source put at the top of every inner test file run by pytester.
INNER_HEADER = """
import asyncio
import os
import time

import anthropic
import pytest

from batchsim import Emulator, Scenario


def request(custom_id, text="Summarize this.", **params):
    return {
        "custom_id": custom_id,
        "params": {"model": "claude-sonnet-4-5", "max_tokens": 64,
                   "messages": [{"role": "user", "content": text}], **params},
    }
"""
