"""What the engine knows of OpenAI's Files + Batch API (registered when this module is imported):
its fault endpoints, its scenario section ``[openai]`` and the format of its canned lines."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from .._engine import traits
from .._engine.scenario import ScenarioError

__all__ = ["ENDPOINTS", "NAME", "OpenAISettings", "canned_key"]

NAME = "openai"
ENDPOINTS = (
    "files.create",
    "files.retrieve",
    "files.list",
    "files.content",
    "files.delete",
    "batches.create",
    "batches.retrieve",
    "batches.list",
    "batches.cancel",
)
_MISSING_FILE = ("fail", "reject")
_MAX_SECONDS = 30 * 86_400.0


@dataclass(frozen=True)
class OpenAISettings:
    """What only OpenAI's batches have (the ``[openai]`` section of a scenario).

    Durations are seconds of emulator time; the defaults are what production shows:

    * ``validating``: how long a batch stays ``validating`` (a batch the input file makes fail,
      fails when it ends);
    * ``finalizing``: how long a batch stays ``finalizing`` after its last request;
    * ``cancelling``: how long a canceled batch stays ``cancelling`` (at least until the
      requests in flight finish; production says "up to 10 minutes");
    * ``missing_input_file``: a create naming no file of the key: ``"fail"`` (the batch is
      created, then fails validation: observed in 2025) or ``"reject"`` (400 at once: observed
      in 2024);
    * ``count_expired_as_failed``: whether ``request_counts.failed`` counts requests that
      expired (one observation says it does not);
    * ``models``: when given, the only models a batch's requests may name (others make the
      batch fail with ``model_not_found``); by default any model is accepted.
    """

    validating: float = 10.0
    finalizing: float = 10.0
    cancelling: float = 60.0
    missing_input_file: str = "fail"
    count_expired_as_failed: bool = False
    models: tuple[str, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["models"] = list(self.models) if self.models is not None else None
        return {k: v for k, v in data.items() if v is not None}

    @classmethod
    def from_dict(cls, where: str, data: Mapping[str, Any]) -> OpenAISettings:
        allowed = {f.name for f in fields(cls)}
        for key in data:
            if key not in allowed:
                raise ScenarioError(f"{where}.{key}: unknown key (allowed: {', '.join(sorted(allowed))})")
        base = cls()
        values: dict[str, Any] = {}
        for name in ("validating", "finalizing", "cancelling"):
            value = data.get(name, getattr(base, name))
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise ScenarioError(f"{where}.{name}: expected a number of seconds, got {value!r}")
            if not 0 <= value <= _MAX_SECONDS:
                raise ScenarioError(f"{where}.{name}: must be between 0 and {_MAX_SECONDS:.0f}, got {value!r}")
            values[name] = float(value)
        missing = data.get("missing_input_file", base.missing_input_file)
        if missing not in _MISSING_FILE:
            raise ScenarioError(
                f"{where}.missing_input_file: expected one of {', '.join(_MISSING_FILE)}; got {missing!r}"
            )
        values["missing_input_file"] = missing
        counted = data.get("count_expired_as_failed", base.count_expired_as_failed)
        if not isinstance(counted, bool):
            raise ScenarioError(f"{where}.count_expired_as_failed: expected true or false")
        values["count_expired_as_failed"] = counted
        models = data.get("models")
        if models is not None:
            if not isinstance(models, list | tuple) or not all(isinstance(m, str) and m for m in models):
                raise ScenarioError(f"{where}.models: expected a list of model names")
            if len(models) > 10_000:
                raise ScenarioError(f"{where}.models: at most 10000 names")
            values["models"] = tuple(models)
        return cls(**values)


def canned_key(line: Mapping[str, Any]) -> tuple[str, str] | None:
    """``(custom_id, outcome)`` of an OpenAI output or error line (``{"custom_id", "response",
    "error"}``), or ``None`` for any other line."""
    cid = line.get("custom_id")
    if not isinstance(cid, str) or "response" not in line or "result" in line:
        return None
    response, error = line.get("response"), line.get("error")
    if isinstance(error, Mapping):
        code = error.get("code")
        return cid, "expired" if code == "batch_expired" else "canceled" if code == "batch_cancelled" else "errored"
    if isinstance(response, Mapping) and isinstance(response.get("status_code"), int):
        return cid, "succeeded" if response["status_code"] < 400 else "errored"
    return None


traits.register(
    traits.Traits(
        NAME,
        ENDPOINTS,
        streams=("files.content",),
        section=OpenAISettings.from_dict,
        default=OpenAISettings(),
        canned=canned_key,
        canned_format='{"custom_id": ..., "response": {"status_code": ..., "body": ...}, "error": ...}',
    )
)
