"""The model catalogue: what ``GET /v1/models`` lists and what a request's ``model`` is checked
against.

The data is one file in the package, ``models.json`` (every model the current and earlier SDK
generations name, newest first, each with where its lifecycle came from); a scenario's
``[anthropic]`` section adds models or replaces them (see :class:`~.traits.AnthropicSettings`).

A model's lifecycle is a function of the emulator's clock: a model whose end of life was
announced (``retires_at``) is ``deprecated`` before that instant and ``retired`` from it; one with
no announced end of life is ``active``. Requests naming a retired model, or one the catalogue does
not know, are refused as production refuses them (``not_found_error``, ``model: <name>``), unless
the scenario accepts any model name.
"""

from __future__ import annotations

import json
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any

import orjson

from .._engine.clock import MICROS
from .._engine.times import rfc3339

__all__ = [
    "LIFECYCLES",
    "Catalogue",
    "Model",
    "ModelCheck",
    "builtin_catalogue",
    "builtin_data",
    "builtin_models",
    "catalogue_for",
    "default_check",
    "parse_instant",
]

LIFECYCLES = ("active", "deprecated", "retired")


def parse_instant(value: str) -> int:
    """An RFC 3339 instant (``2025-09-29T00:00:00Z``) in epoch microseconds (``ValueError`` if it is none)."""
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone")
    return round(moment.timestamp() * MICROS)


@dataclass(frozen=True)
class Model:
    """One model of the catalogue. ``lifecycle`` fixes the lifecycle whatever the time (a
    scenario's choice); else it follows ``retires_at``."""

    id: str
    display_name: str
    created_at: int
    max_tokens: int | None = None
    max_input_tokens: int | None = None
    retires_at: int | None = None
    lifecycle: str | None = None
    capabilities: Mapping[str, Any] | None = None

    def lifecycle_at(self, now: int) -> str:
        if self.lifecycle is not None:
            return self.lifecycle
        if self.retires_at is None:
            return "active"
        return "retired" if now >= self.retires_at else "deprecated"

    def info(self, now: int) -> dict[str, Any]:
        """The ``ModelInfo`` object at ``now``."""
        lifecycle = self.lifecycle_at(now)
        return {
            "id": self.id,
            "type": "model",
            "display_name": self.display_name,
            "created_at": rfc3339(self.created_at),
            "lifecycle": lifecycle,
            "deprecated_at": None,
            "retires_at": rfc3339(self.retires_at) if self.retires_at is not None and lifecycle != "active" else None,
            "max_input_tokens": self.max_input_tokens,
            "max_tokens": self.max_tokens,
            "capabilities": dict(self.capabilities) if self.capabilities is not None else None,
        }

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Model:
        """A model from the data file's (or a scenario's) plain values (already checked)."""
        retires = data.get("retires_at")
        return cls(
            id=data["id"],
            display_name=data.get("display_name") or data["id"],
            created_at=parse_instant(data.get("created_at") or "1970-01-01T00:00:00Z"),
            max_tokens=data.get("max_tokens"),
            max_input_tokens=data.get("max_input_tokens"),
            retires_at=parse_instant(retires) if retires else None,
            lifecycle=data.get("lifecycle"),
            capabilities=data.get("capabilities"),
        )


class ModelCheck:
    """What a request's ``model`` and ``max_tokens`` are checked against at one instant:
    ``limits`` maps each callable model (active or deprecated) to its largest ``max_tokens``
    (``None``: no limit known); ``any_model`` accepts names it does not hold."""

    __slots__ = ("any_model", "limits")

    def __init__(self, limits: Mapping[str, int | None], any_model: bool = False) -> None:
        self.limits = limits
        self.any_model = any_model

    def problem(self, model: str, max_tokens: int | None) -> str | None:
        """The API's refusal of ``model`` (with ``max_tokens``, unless ``None``), or ``None``.
        A model the catalogue does not serve is a ``not_found_error`` (see ``validation.NOT_FOUND``)."""
        limits = self.limits
        if model not in limits:
            if self.any_model:
                return None
            return f"\x1fmodel: {model}"
        limit = limits[model]
        if max_tokens is not None and limit is not None and max_tokens > limit:
            return (
                f"max_tokens: {max_tokens} > {limit}, which is the maximum allowed number of output tokens for {model}"
            )
        return None


class Catalogue:
    """Models newest first (by release, then as listed), looked up by id."""

    def __init__(self, models: Iterable[Model], any_model: bool = False) -> None:
        ordered = list(models)
        ordered.sort(key=lambda m: -m.created_at)  # stable: the listed order within a release date
        self.models = tuple(ordered)
        self.by_id = {m.id: m for m in self.models}
        self.any_model = any_model
        self._checks: tuple[int, int, ModelCheck] | None = None
        self._changes = sorted({m.retires_at for m in self.models if m.retires_at is not None and m.lifecycle is None})

    def with_changes(self, models: Iterable[Model], any_model: bool) -> Catalogue:
        """This catalogue with ``models`` added (or replacing those of the same id)."""
        changed = {m.id: m for m in models}
        kept = [changed.pop(m.id, m) for m in self.models]
        return Catalogue([*changed.values(), *kept], any_model)

    def get(self, model_id: str) -> Model | None:
        return self.by_id.get(model_id)

    def window(self, now: int) -> tuple[int, int]:
        """The instants around ``now`` between which no model's lifecycle changes."""
        changes = self._changes
        at = bisect_right(changes, now)
        return (changes[at - 1] if at else -(1 << 62)), (changes[at] if at < len(changes) else 1 << 62)

    def check(self, now: int) -> ModelCheck:
        """The :class:`ModelCheck` at ``now`` (kept until a lifecycle changes)."""
        kept = self._checks
        if kept is not None and kept[0] <= now < kept[1]:
            return kept[2]
        start, end = self.window(now)
        limits = {m.id: m.max_tokens for m in self.models if m.lifecycle_at(now) != "retired"}
        check = ModelCheck(limits, self.any_model)
        self._checks = (start, end, check)
        return check

    def page(
        self, now: int, limit: int, after_id: str | None, before_id: str | None
    ) -> tuple[list[dict[str, Any]], bool]:
        """A list page of ``ModelInfo`` objects and whether more follow in the direction asked
        (the cursors name models of the catalogue; the caller checks them)."""
        models = self.models
        if after_id is not None:
            at = next(i for i, m in enumerate(models) if m.id == after_id)
            chosen, more = models[at + 1 : at + 1 + limit], at + 1 + limit < len(models)
        elif before_id is not None:
            at = next(i for i, m in enumerate(models) if m.id == before_id)
            chosen, more = models[max(0, at - limit) : at], at - limit > 0
        else:
            chosen, more = models[:limit], limit < len(models)
        return [m.info(now) for m in chosen], more

    def encoded(self, now: int, model_id: str) -> bytes | None:
        model = self.by_id.get(model_id)
        return orjson.dumps(model.info(now)) if model is not None else None


@cache
def builtin_data() -> tuple[dict[str, Any], ...]:
    """The entries of the package's catalogue (``models.json``), as plain values."""
    text = resources.files(__package__).joinpath("models.json").read_text(encoding="utf-8")
    return tuple(json.loads(text)["models"])


@cache
def builtin_models() -> tuple[Model, ...]:
    """The package's catalogue (``models.json``)."""
    return tuple(Model.from_data(entry) for entry in builtin_data())


@cache
def builtin_catalogue() -> Catalogue:
    return Catalogue(builtin_models())


def default_check() -> ModelCheck:
    """The package's catalogue as of the wall clock (for checks given no catalogue)."""
    import time

    return builtin_catalogue().check(time.time_ns() // 1000)


_SCENARIO_CATALOGUES: dict[int, tuple[Any, Catalogue]] = {}


def catalogue_for(settings: Any) -> Catalogue:
    """The catalogue a scenario's ``[anthropic]`` section (an ``AnthropicSettings``) makes: the
    package's, with its models added or replacing, and its ``any_model``."""
    kept = _SCENARIO_CATALOGUES.get(id(settings))
    if kept is not None and kept[0] is settings:
        return kept[1]
    base = builtin_catalogue()
    if settings.models or settings.any_model:
        known = {entry["id"]: entry for entry in builtin_data()}
        # A scenario's entry changes the fields it gives of a model of the package.
        changes = [Model.from_data({**known.get(entry["id"], {}), **entry}) for entry in settings.models]
        catalogue = base.with_changes(changes, settings.any_model)
    else:
        catalogue = base
    if len(_SCENARIO_CATALOGUES) >= 64:
        _SCENARIO_CATALOGUES.clear()
    _SCENARIO_CATALOGUES[id(settings)] = (settings, catalogue)
    return catalogue
