"""Scenarios: the seeded script a batch follows (timing, outcomes, rules, HTTP faults), for every
provider at once.

A scenario is a plain frozen data object. It loads from a TOML or JSON file, from a mapping with
the same keys, or from Python keyword arguments. Unknown keys and out-of-range values raise
:class:`ScenarioError` naming the offending key: a typo never silently does nothing.

Every value has an upper bound (the ``MAX_*`` constants below), so nothing a scenario accepts can
make a later call fail. Rule patterns run on RE2 (the ``google-re2`` bindings): matching takes
time linear in the ``custom_id``, whatever the pattern, and compiling them is bounded too (each
compiled program at most :data:`MAX_PROGRAM` instructions, a scenario's at most
:data:`MAX_PROGRAMS`), so no scenario can stall the server.

Settings that only one provider has live in a section named after it (``[openai]``); the
providers register those sections, their fault endpoints and their canned-line formats with
:mod:`batchsim._engine.traits`. Error types and stop reasons are named as Anthropic's API names
them; each provider answers them in its own words.
"""

from __future__ import annotations

import json
import math
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal, cast

import re2  # type: ignore[import-untyped]

from . import traits
from .traits import Section

__all__ = ["Fault", "Outcomes", "Rule", "Scenario", "ScenarioError", "Timing", "builtin_scenarios", "find_scenario"]

BUILTIN = Path(__file__).resolve().parent.parent / "scenarios"
"""The ready-made scenarios shipped in the package (``batchsim/scenarios/NAME.toml``), usable by name."""

ResultType = Literal["succeeded", "errored", "expired", "canceled"]
RESULT_TYPES: tuple[str, ...] = ("succeeded", "errored", "expired", "canceled")
FAULT_KINDS: tuple[str, ...] = ("status", "drop", "lost", "truncate")
BOTH_CURSORS: tuple[str, ...] = ("error", "after_id", "before_id")
# Stop reasons a rule can give a succeeded request (the message's content follows from it).
STOP_REASONS: tuple[str, ...] = (
    "end_turn",
    "max_tokens",
    "stop_sequence",
    "tool_use",
    "pause_turn",
    "refusal",
    "model_context_window_exceeded",
)
# Why a request can end errored (as Anthropic names them; each provider words them its own way).
REQUEST_ERROR_TYPES: tuple[str, ...] = (
    "invalid_request_error",
    "authentication_error",
    "billing_error",
    "permission_error",
    "not_found_error",
    "request_too_large",
    "rate_limit_error",
    "api_error",
    "timeout_error",
    "overloaded_error",
)


MAX_SECONDS = 30 * 86_400.0
"""Upper bound of every timing value and of ``retry_after`` (seconds): 30 days, past the 24 h
after which every unfinished request has expired anyway."""
MAX_CONCURRENCY = 100_000
MAX_SEED = 2**63 - 1
MAX_TIMES = 1_000_000_000
MAX_WEIGHT = 1e6
MAX_RULES = 1000
MAX_FAULTS = 1000
MAX_PATTERN_CHARS = 1000
MAX_MESSAGE_CHARS = 4096
MAX_CANNED_LINES = 100_000
MAX_CANNED_DEPTH = 64
"""How deeply an inline canned line may nest (a results line nests a dozen levels at most)."""
MAX_PROGRAM = 10_000
"""The most instructions one rule's compiled pattern may take (``^poison-`` takes 4,
``[a-zA-Z0-9_-]{64}`` 260): compiling one costs at most a few milliseconds."""
MAX_PROGRAMS = 100_000
"""The most instructions all of a scenario's compiled patterns may take together."""
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False
_RE2_OPTIONS.max_mem = 256 * 1024  # a larger pattern fails to compile at once, cheaply


class ScenarioError(ValueError):
    """A scenario that cannot be used, with the path of the bad key in the message."""


def builtin_scenarios() -> list[str]:
    """The names of the ready-made scenarios shipped in the package."""
    return sorted(p.stem for p in BUILTIN.iterdir() if p.suffix in (".toml", ".json")) if BUILTIN.is_dir() else []


def find_scenario(value: str | Path) -> Path:
    """The scenario file ``value`` names: an existing path wins; else a bare name (no folder, no
    suffix) is a ready-made scenario of the package. Anything else raises :class:`ScenarioError`
    (``OSError`` is left to reading a path that looked like one)."""
    path = Path(value)
    if path.exists() or path.parent != Path(".") or path.suffix:
        return path
    for suffix in (".toml", ".json"):
        candidate = BUILTIN / f"{path.name}{suffix}"
        if candidate.is_file():
            return candidate
    raise ScenarioError(
        f"no scenario file {str(value)!r} and no ready-made scenario of that name "
        f"(ready-made: {', '.join(builtin_scenarios())})"
    )


def _number(where: str, value: Any, *, low: float = 0.0, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ScenarioError(f"{where}: expected a number, got {value!r}")
    if not (low <= value <= high) or not math.isfinite(value):
        raise ScenarioError(f"{where}: must be between {low:g} and {high:g}, got {value!r}")
    return float(value)


def _integer(where: str, value: Any, *, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ScenarioError(f"{where}: expected an integer between {low} and {high}, got {value!r}")
    return value


def _text(where: str, value: Any, limit: int = MAX_MESSAGE_CHARS) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ScenarioError(f"{where}: expected a string")
    if len(value) > limit:
        raise ScenarioError(f"{where}: at most {limit} characters, got {len(value)}")
    return value


def _choice(where: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ScenarioError(f"{where}: expected one of {', '.join(allowed)}; got {value!r}")
    return cast(str, value)


def _table(where: str, value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ScenarioError(f"{where}: expected a table/object, got {type(value).__name__}")
    return value


def _known(where: str, data: Mapping[str, Any], cls: type) -> None:
    allowed = {f.name for f in fields(cls)}
    for key in data:
        if key not in allowed:
            prefix = f"{where}." if where else ""
            raise ScenarioError(f"{prefix}{key}: unknown key (allowed: {', '.join(sorted(allowed))})")


@dataclass(frozen=True)
class Timing:
    """How long things take, in seconds of emulator time."""

    start_delay: float = 1.0
    per_request: float = 2.0
    concurrency: int = 1000
    jitter: float = 0.0
    cancel_delay: float = 0.0

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "timing") -> Timing:
        _known(where, data, cls)
        t = cls()
        return cls(
            start_delay=_number(f"{where}.start_delay", data.get("start_delay", t.start_delay), high=MAX_SECONDS),
            per_request=_number(f"{where}.per_request", data.get("per_request", t.per_request), high=MAX_SECONDS),
            concurrency=_integer(
                f"{where}.concurrency", data.get("concurrency", t.concurrency), low=1, high=MAX_CONCURRENCY
            ),
            jitter=_number(f"{where}.jitter", data.get("jitter", t.jitter), high=1.0),
            cancel_delay=_number(f"{where}.cancel_delay", data.get("cancel_delay", t.cancel_delay), high=MAX_SECONDS),
        )


@dataclass(frozen=True)
class Outcomes:
    """Fractions of requests that end errored or expired, drawn with the seed."""

    errored: float = 0.0
    expired: float = 0.0
    error_types: Mapping[str, float] = field(default_factory=lambda: {"api_error": 1.0})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "outcomes") -> Outcomes:
        _known(where, data, cls)
        errored = _number(f"{where}.errored", data.get("errored", 0.0), high=1.0)
        expired = _number(f"{where}.expired", data.get("expired", 0.0), high=1.0)
        if errored + expired > 1.0:
            raise ScenarioError(f"{where}: errored + expired must not exceed 1.0")
        raw = _table(f"{where}.error_types", data.get("error_types", {"api_error": 1.0}))
        weights: dict[str, float] = {}
        for name, weight in raw.items():
            _choice(f"{where}.error_types.{name}", name, REQUEST_ERROR_TYPES)
            weights[name] = _number(f"{where}.error_types.{name}", weight, high=MAX_WEIGHT)
        if not weights or sum(weights.values()) <= 0:
            raise ScenarioError(f"{where}.error_types: needs at least one positive weight")
        return cls(errored=errored, expired=expired, error_types=weights)


@dataclass(frozen=True)
class Rule:
    """Force the result of every request whose ``custom_id`` matches a regular expression (RE2
    syntax: no backreferences or lookaround; matching is linear in the ``custom_id``); with
    ``stop_reason`` (``result`` then defaults to, and must be, ``succeeded``) its message stops
    for that reason."""

    custom_id: str
    result: ResultType
    error_type: str = "api_error"
    message: str | None = None
    stop_reason: str | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str) -> Rule:
        _known(where, data, cls)
        pattern = data.get("custom_id")
        if not isinstance(pattern, str):
            raise ScenarioError(f"{where}.custom_id: expected a regular expression string")
        _text(f"{where}.custom_id", pattern, MAX_PATTERN_CHARS)
        _compiled(f"{where}.custom_id", pattern)  # a pattern too large to compile fails here
        stop_reason = data.get("stop_reason")
        if stop_reason is not None:
            _choice(f"{where}.stop_reason", stop_reason, STOP_REASONS)
            if data.get("result", "succeeded") != "succeeded":
                raise ScenarioError(f"{where}.stop_reason: only a succeeded result has a stop reason")
        result = _choice(f"{where}.result", data.get("result", stop_reason and "succeeded"), RESULT_TYPES)
        error_type = _choice(f"{where}.error_type", data.get("error_type", "api_error"), REQUEST_ERROR_TYPES)
        message = _text(f"{where}.message", data.get("message"))
        return cls(
            custom_id=pattern,
            result=cast(ResultType, result),
            error_type=error_type,
            message=message,
            stop_reason=stop_reason,
        )

    def matches(self, custom_id: str) -> bool:
        return _compiled("custom_id", self.custom_id).search(custom_id) is not None


_patterns: dict[str, Any] = {}
_cached_program = 0
_CACHE_PROGRAM = 1_000_000  # instructions kept compiled across scenarios (a few MiB)


def _compiled(where: str, pattern: str) -> Any:
    """``pattern`` compiled by RE2 (kept: rules match every request of a batch), at most
    :data:`MAX_PROGRAM` instructions."""
    global _cached_program
    compiled = _patterns.get(pattern)
    if compiled is None:
        try:
            compiled = re2.compile(pattern, _RE2_OPTIONS)
        except re2.error as exc:
            detail = exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else exc
            if "too large" in str(detail):
                detail = f"{detail}: at most {MAX_PROGRAM} instructions once compiled"
            raise ScenarioError(f"{where}: invalid regular expression for RE2 ({detail})") from None
        size = int(compiled.programsize)
        if size > MAX_PROGRAM:
            raise ScenarioError(
                f"{where}: the regular expression compiles to {size} instructions, more than {MAX_PROGRAM}; "
                "use a simpler pattern"
            )
        if _cached_program + size > _CACHE_PROGRAM:
            _patterns.clear()
            _cached_program = 0
        _patterns[pattern] = compiled
        _cached_program += size
    return compiled


def _check_programs(rules: tuple[Rule, ...]) -> None:
    total = 0
    for n, rule in enumerate(rules):
        total += int(_compiled(f"rules.{n}.custom_id", rule.custom_id).programsize)
        if total > MAX_PROGRAMS:
            raise ScenarioError(
                f"rules: the patterns compile to more than {MAX_PROGRAMS} instructions together "
                f"(at rules.{n}); use fewer or simpler patterns"
            )


@dataclass(frozen=True)
class Fault:
    """An HTTP fault injected on API calls, by probability (``rate``) or count (``times``).

    ``kind`` is ``status`` (answer ``status`` with the API's error envelope), ``drop`` (cut the
    connection before the call is processed), ``lost`` (process the call, then cut the connection
    before the answer: the client cannot know it succeeded) or ``truncate`` (results only: cut the
    JSONL stream short).
    """

    endpoint: str = "*"
    status: int = 529
    rate: float | None = None
    times: int | None = None
    retry_after: float | None = None
    retry_after_ms: float | None = None
    should_retry: bool | None = None
    kind: str = "status"
    message: str | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str) -> Fault:
        _known(where, data, cls)
        endpoint = _choice(f"{where}.endpoint", data.get("endpoint", "*"), traits.all_endpoints())
        kind = _choice(f"{where}.kind", data.get("kind", "status"), FAULT_KINDS)
        status = _integer(f"{where}.status", data.get("status", 529), low=400, high=599)
        rate = data.get("rate")
        times = data.get("times")
        if (rate is None) == (times is None):
            raise ScenarioError(f"{where}: give exactly one of rate (probability) or times (count)")
        if rate is not None:
            rate = _number(f"{where}.rate", rate, high=1.0)
        if times is not None:
            times = _integer(f"{where}.times", times, low=0, high=MAX_TIMES)
        retry_after = data.get("retry_after")
        if retry_after is not None:
            retry_after = _number(f"{where}.retry_after", retry_after, high=MAX_SECONDS)
        retry_after_ms = data.get("retry_after_ms")
        if retry_after_ms is not None:
            retry_after_ms = _number(f"{where}.retry_after_ms", retry_after_ms, high=MAX_SECONDS * 1000)
        should_retry = data.get("should_retry")
        if should_retry is not None and not isinstance(should_retry, bool):
            raise ScenarioError(f"{where}.should_retry: expected true or false")
        streams = traits.stream_endpoints()
        if kind == "truncate" and endpoint != "*" and endpoint not in streams:
            raise ScenarioError(
                f"{where}.kind: truncate applies to the results and other streamed answers only "
                f"({', '.join(sorted(streams))})"
            )
        message = _text(f"{where}.message", data.get("message"))
        return cls(
            endpoint=endpoint,
            status=status,
            rate=rate,
            times=times,
            retry_after=retry_after,
            retry_after_ms=retry_after_ms,
            should_retry=should_retry,
            kind=kind,
            message=message,
        )


@dataclass(frozen=True)
class Scenario:
    """Everything that decides how batches behave. Applies to batches created after it is set."""

    seed: int = 0
    timing: Timing = field(default_factory=Timing)
    outcomes: Outcomes = field(default_factory=Outcomes)
    rules: tuple[Rule, ...] = ()
    faults: tuple[Fault, ...] = ()
    canned: str | tuple[Mapping[str, Any], ...] | None = None
    """Results lines replayed by request key (``custom_id``): the path of a JSONL file of results
    lines, or the lines themselves, each in the format of the provider whose requests it answers
    (an Anthropic results line, an OpenAI output or error line, a Gemini responses line)."""
    cache_hit_rate: float = 1.0
    """Batches cache prompts on a best-effort basis: the probability (seeded) that a request
    sharing an already written cache prefix reads it (else it writes it again)."""
    list_both_cursors: str = "error"
    """A list call with both ``after_id`` and ``before_id`` (the API's answer is not known):
    ``error`` (400 ``invalid_request_error``), or the cursor that wins, ``after_id`` or
    ``before_id``. Applies at once."""
    sections: Mapping[str, Section] = field(default_factory=dict)
    """Settings one provider alone has, by provider name (``[openai]``, ``[gemini]``...); a
    provider without a section here uses its defaults (see :meth:`section`)."""

    def section(self, name: str) -> Any:
        """The section of provider ``name`` (its defaults when the scenario has none)."""
        found = self.sections.get(name)
        if found is not None:
            return found
        known = traits.find(name)
        return known.default if known is not None else None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Scenario:
        data = _table("scenario", data)
        providers = {t.name: t for t in traits.registered() if t.section is not None}
        allowed = {f.name for f in fields(cls) if f.name != "sections"} | set(providers)
        for key in data:
            if key not in allowed:
                raise ScenarioError(f"{key}: unknown key (allowed: {', '.join(sorted(allowed))})")
        seed = _integer("seed", data.get("seed", 0), low=0, high=MAX_SEED)
        timing = Timing.from_dict(_table("timing", data.get("timing", {})))
        outcomes = Outcomes.from_dict(_table("outcomes", data.get("outcomes", {})))
        rules = _items("rules", data.get("rules", []), Rule.from_dict, MAX_RULES)
        _check_programs(rules)
        faults = _items("faults", data.get("faults", []), Fault.from_dict, MAX_FAULTS)
        canned = data.get("canned")
        if isinstance(canned, list | tuple):
            if len(canned) > MAX_CANNED_LINES:
                raise ScenarioError(f"canned: at most {MAX_CANNED_LINES} results lines, got {len(canned)}")
            canned = tuple(canned_line(f"canned.{i}", line) for i, line in enumerate(canned))
        elif canned is not None and not isinstance(canned, str):
            raise ScenarioError("canned: expected the path of a JSONL results file, or a list of results lines")
        hit_rate = _number("cache_hit_rate", data.get("cache_hit_rate", 1.0), high=1.0)
        both = _choice("list_both_cursors", data.get("list_both_cursors", "error"), BOTH_CURSORS)
        sections: dict[str, Section] = {}
        for name, known in providers.items():
            if name in data:
                assert known.section is not None
                value = known.section(name, _table(name, data[name]))
                if value != known.default:
                    sections[name] = value
        return cls(
            seed=seed,
            timing=timing,
            outcomes=outcomes,
            rules=rules,
            faults=faults,
            canned=canned,
            cache_hit_rate=hit_rate,
            list_both_cursors=both,
            sections=sections,
        )

    @classmethod
    def load(cls, path: str | Path) -> Scenario:
        """Read a ``.toml`` or ``.json`` scenario file, or a ready-made one by name (``"flaky"``,
        see :func:`find_scenario`). A relative ``canned`` path is resolved against the scenario
        file's folder."""
        path = find_scenario(path)
        text = path.read_text(encoding="utf-8")
        try:
            data: Any = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
        except (ValueError, tomllib.TOMLDecodeError) as exc:
            raise ScenarioError(f"{path}: cannot parse ({exc})") from None
        scenario = cls.from_dict(data)
        if isinstance(scenario.canned, str) and not Path(scenario.canned).is_absolute():
            scenario = replace(scenario, canned=str(path.parent / scenario.canned))
        return scenario

    @classmethod
    def of(cls, value: Scenario | Mapping[str, Any] | str | Path | None = None, **overrides: Any) -> Scenario:
        """Build a scenario from a Scenario, a mapping, a file path or nothing, then apply overrides
        (the same keys as the file format: ``seed=3``, ``timing={"per_request": 5}``,
        ``openai={"validating": 0}``)."""
        if value is None:
            base: dict[str, Any] = {}
        elif isinstance(value, Scenario):
            base = value.to_dict()
        elif isinstance(value, str | Path):
            base = cls.load(value).to_dict()
        else:
            base = dict(value)
        for key, val in overrides.items():
            if isinstance(val, Scenario | Timing | Outcomes):
                val = asdict(val)
            elif hasattr(val, "to_dict") and not isinstance(val, Mapping):
                val = val.to_dict()
            if key in base and isinstance(base[key], dict) and isinstance(val, Mapping):
                base[key] = {**base[key], **val}
            else:
                base[key] = val
        return cls.from_dict(base)

    def to_dict(self) -> dict[str, Any]:
        """The scenario as plain data (the same keys as the file format); ``None`` keys are left out."""
        raw: dict[str, Any] = {
            "seed": self.seed,
            "timing": asdict(self.timing),
            "outcomes": {**asdict(self.outcomes), "error_types": dict(self.outcomes.error_types)},
            "rules": [_drop_none(asdict(r)) for r in self.rules],
            "faults": [_drop_none(asdict(f)) for f in self.faults],
            "canned": [dict(line) for line in self.canned] if isinstance(self.canned, tuple) else self.canned,
            "cache_hit_rate": self.cache_hit_rate,
            "list_both_cursors": self.list_both_cursors,
        }
        for name, section in self.sections.items():
            raw[name] = section.to_dict()
        return _drop_none(raw)


def _drop_none(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v is not None}


def canned_line(where: str, line: Any) -> Mapping[str, Any]:
    """``line`` if some provider reads it as a results line of its format (an Anthropic
    ``{"custom_id": ..., "result": {"type": ...}}``, an OpenAI output or error line...)."""
    if _deeper_than(line, MAX_CANNED_DEPTH):
        raise ScenarioError(f"{where}: nested more than {MAX_CANNED_DEPTH} levels deep")
    if isinstance(line, Mapping):
        for known in traits.registered():
            if known.canned is not None and known.canned(line) is not None:
                return line
    formats = " or ".join(f"{t.canned_format} ({t.name})" for t in traits.registered() if t.canned is not None)
    raise ScenarioError(f"{where}: expected a results line: {formats or 'no provider reads canned lines'}")


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether ``value`` (JSON data) nests more than ``limit`` levels (walked without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, Mapping | list | tuple):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, Mapping) else item
            stack.extend((child, depth + 1) for child in children if isinstance(child, Mapping | list | tuple))
    return False


def _items(where: str, value: Any, build: Any, limit: int) -> tuple[Any, ...]:
    if not isinstance(value, list | tuple):
        raise ScenarioError(f"{where}: expected a list of tables")
    if len(value) > limit:
        raise ScenarioError(f"{where}: at most {limit} items, got {len(value)}")
    return tuple(build(_table(f"{where}.{i}", item), f"{where}.{i}") for i, item in enumerate(value))
