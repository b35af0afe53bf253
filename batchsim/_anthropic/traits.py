"""What the engine knows of Anthropic's API (registered when this module is imported): its fault
endpoints, its scenario section ``[anthropic]`` and the format of its canned results lines."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .._engine import traits
from .._engine.scenario import ScenarioError
from .catalogue import LIFECYCLES, Model, parse_instant

__all__ = ["ENDPOINTS", "NAME", "AnthropicSettings", "canned_key"]

NAME = "anthropic"
ENDPOINTS = (
    "create",
    "retrieve",
    "list",
    "cancel",
    "delete",
    "results",
    "count_tokens",
    "models.list",
    "models.retrieve",
    "anthropic.files.upload",
    "anthropic.files.list",
    "anthropic.files.retrieve",
    "anthropic.files.download",
    "anthropic.files.delete",
)
_MODEL_KEYS = frozenset(
    {"id", "display_name", "created_at", "max_tokens", "max_input_tokens", "lifecycle", "retires_at", "capabilities"}
)
_MAX_MODELS = 10_000


@dataclass(frozen=True)
class AnthropicSettings:
    """What only Anthropic's API has (the ``[anthropic]`` section of a scenario):

    * ``models``: models added to the catalogue, or changing the fields they give of the model of
      the same ``id`` (``id`` required; ``display_name``, ``created_at`` (RFC 3339), ``max_tokens``,
      ``max_input_tokens``, ``lifecycle`` (``active``, ``deprecated`` or ``retired``),
      ``retires_at`` (RFC 3339) and ``capabilities`` optional);
    * ``any_model``: accept any model name in requests (for tests that use made-up names); models
      of the catalogue keep their ``max_tokens`` limit.
    """

    models: tuple[Mapping[str, Any], ...] = ()
    any_model: bool = False
    parsed: tuple[Model, ...] = field(default=(), compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"any_model": self.any_model}
        if self.models:
            data["models"] = [dict(m) for m in self.models]
        return data

    @classmethod
    def from_dict(cls, where: str, data: Mapping[str, Any]) -> AnthropicSettings:
        for key in data:
            if key not in ("models", "any_model"):
                raise ScenarioError(f"{where}.{key}: unknown key (allowed: any_model, models)")
        any_model = data.get("any_model", False)
        if not isinstance(any_model, bool):
            raise ScenarioError(f"{where}.any_model: expected true or false")
        models = data.get("models", [])
        if not isinstance(models, list | tuple):
            raise ScenarioError(f"{where}.models: expected a list of tables/objects")
        if len(models) > _MAX_MODELS:
            raise ScenarioError(f"{where}.models: at most {_MAX_MODELS} models")
        checked = tuple(_model(f"{where}.models[{i}]", entry) for i, entry in enumerate(models))
        parsed = tuple(Model.from_data(entry) for entry in checked)
        return cls(models=checked, any_model=any_model, parsed=parsed)


def _model(where: str, entry: Any) -> dict[str, Any]:
    if not isinstance(entry, Mapping):
        raise ScenarioError(f"{where}: expected a table/object")
    for key in entry:
        if key not in _MODEL_KEYS:
            raise ScenarioError(f"{where}.{key}: unknown key (allowed: {', '.join(sorted(_MODEL_KEYS))})")
    model_id = entry.get("id")
    if not isinstance(model_id, str) or not model_id or len(model_id) > 256:
        raise ScenarioError(f"{where}.id: expected a model name (1 to 256 characters)")
    for key in ("display_name",):
        if key in entry and (not isinstance(entry[key], str) or len(entry[key]) > 256):
            raise ScenarioError(f"{where}.{key}: expected a string of at most 256 characters")
    for key in ("max_tokens", "max_input_tokens"):
        value = entry.get(key)
        if value is not None and (type(value) is not int or not 1 <= value <= 100_000_000):
            raise ScenarioError(f"{where}.{key}: expected an integer between 1 and 100000000")
    for key in ("created_at", "retires_at"):
        value = entry.get(key)
        if value is not None:
            try:
                if not isinstance(value, str):
                    raise ValueError(value)
                parse_instant(value)
            except ValueError:
                raise ScenarioError(
                    f"{where}.{key}: expected an RFC 3339 instant such as 2026-01-01T00:00:00Z"
                ) from None
    lifecycle = entry.get("lifecycle")
    if lifecycle is not None and lifecycle not in LIFECYCLES:
        raise ScenarioError(f"{where}.lifecycle: expected one of {', '.join(LIFECYCLES)}; got {lifecycle!r}")
    capabilities = entry.get("capabilities")
    if capabilities is not None and not isinstance(capabilities, Mapping):
        raise ScenarioError(f"{where}.capabilities: expected a table/object")
    return dict(entry)


_OUTCOMES = ("succeeded", "errored", "expired", "canceled")


def canned_key(line: Mapping[str, Any]) -> tuple[str, str] | None:
    """``(custom_id, outcome)`` of an Anthropic results line (``{"custom_id", "result": {"type"}}``),
    or ``None`` for any other line."""
    result = line.get("result")
    cid = line.get("custom_id")
    if isinstance(cid, str) and isinstance(result, Mapping) and result.get("type") in _OUTCOMES:
        return cid, str(result["type"])
    return None


traits.register(
    traits.Traits(
        NAME,
        ENDPOINTS,
        streams=("results", "anthropic.files.download"),
        section=AnthropicSettings.from_dict,
        default=AnthropicSettings(),
        canned=canned_key,
        canned_format='{"custom_id": ..., "result": {"type": ...}}',
    )
)
