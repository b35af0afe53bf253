"""What the engine knows of Gemini's batch mode (registered when this module is imported): its
fault endpoints, its scenario section ``[gemini]`` and the format of its canned lines."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from .._engine import traits
from .._engine.scenario import ScenarioError

__all__ = ["ENDPOINTS", "NAME", "GeminiSettings", "canned_key"]

NAME = "gemini"
ENDPOINTS = (
    "gemini.batches.create",
    "gemini.batches.get",
    "gemini.batches.list",
    "gemini.batches.cancel",
    "gemini.batches.delete",
    "gemini.files.upload",
    "gemini.files.get",
    "gemini.files.list",
    "gemini.files.delete",
    "gemini.files.download",
)
_MISSING_FILE = ("reject", "fail")
_ERROR_CODES = ("grpc", "http")
_MAX_SECONDS = 30 * 86_400.0


@dataclass(frozen=True)
class GeminiSettings:
    """What only Gemini's batches have (the ``[gemini]`` section of a scenario). Each is a choice
    where Google's documentation says nothing (see the README's Gemini section):

    * ``pending``: seconds a new batch stays ``BATCH_STATE_PENDING`` before it runs;
    * ``missing_input_file``: a create naming a file the key does not have: ``"reject"`` (403
      ``PERMISSION_DENIED`` at once, as a file get answers) or ``"fail"`` (the batch is created
      and ends ``BATCH_STATE_FAILED``);
    * ``cancelled_results``: whether a cancelled batch keeps the results of the requests that
      finished before the cancel (``output``); by default it has none, as an expired one;
    * ``error_codes``: the ``code`` of a request's error in the results: ``"grpc"`` (a
      ``google.rpc.Status``: 3 for INVALID_ARGUMENT, 13 for INTERNAL...) or ``"http"`` (400, 500...).
    """

    pending: float = 5.0
    missing_input_file: str = "reject"
    cancelled_results: bool = False
    error_codes: str = "grpc"

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, where: str, data: Mapping[str, Any]) -> GeminiSettings:
        allowed = {f.name for f in fields(cls)}
        for key in data:
            if key not in allowed:
                raise ScenarioError(f"{where}.{key}: unknown key (allowed: {', '.join(sorted(allowed))})")
        base = cls()
        pending = data.get("pending", base.pending)
        if isinstance(pending, bool) or not isinstance(pending, int | float) or not math.isfinite(pending):
            raise ScenarioError(f"{where}.pending: expected a number of seconds, got {pending!r}")
        if not 0 <= pending <= _MAX_SECONDS:
            raise ScenarioError(f"{where}.pending: must be between 0 and {_MAX_SECONDS:g}, got {pending!r}")
        missing = data.get("missing_input_file", base.missing_input_file)
        if missing not in _MISSING_FILE:
            raise ScenarioError(
                f"{where}.missing_input_file: expected one of {', '.join(_MISSING_FILE)}; got {missing!r}"
            )
        cancelled = data.get("cancelled_results", base.cancelled_results)
        if not isinstance(cancelled, bool):
            raise ScenarioError(f"{where}.cancelled_results: expected true or false")
        codes = data.get("error_codes", base.error_codes)
        if codes not in _ERROR_CODES:
            raise ScenarioError(f"{where}.error_codes: expected one of {', '.join(_ERROR_CODES)}; got {codes!r}")
        return cls(float(pending), missing, cancelled, codes)


def canned_key(line: Mapping[str, Any]) -> tuple[str, str] | None:
    """``(key, outcome)`` of a Gemini responses line (``{"key", "response"}`` succeeded,
    ``{"key", "error"}`` errored), or ``None`` for any other line."""
    key = line.get("key")
    if not isinstance(key, str) or "custom_id" in line:
        return None
    if isinstance(line.get("response"), Mapping) and "error" not in line:
        return key, "succeeded"
    if isinstance(line.get("error"), Mapping) and "response" not in line:
        return key, "errored"
    return None


traits.register(
    traits.Traits(
        NAME,
        ENDPOINTS,
        streams=("gemini.files.download",),
        section=GeminiSettings.from_dict,
        default=GeminiSettings(),
        canned=canned_key,
        canned_format='{"key": ..., "response": {...}} or {"key": ..., "error": {"code": ..., "message": ...}}',
    )
)
