"""The job report: counts by outcome, token usage, a cost estimate, and what still failed.

Costs come from a price table in US dollars per million tokens, matched to a result's model by
the longest key that is a prefix of the model id (``claude-sonnet-4-5`` matches
``claude-sonnet-4-5-20250929``). Batch pricing is the standard price times ``BATCH_DISCOUNT``.
The built-in table is an estimate; pass your own (``prices=`` or ``--prices FILE``) for
figures you rely on.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ._store import WorkStore

__all__ = ["BATCH_DISCOUNT", "DEFAULT_PRICES", "Failure", "Price", "Report", "Usage", "load_prices", "price_table"]

BATCH_DISCOUNT = 0.5
OUTCOMES = ("succeeded", "errored", "expired", "canceled")
_SHOWN_FAILURES = 20


@dataclass(frozen=True)
class Price:
    """US dollars per million tokens. Cache writes and reads default to 1.25x and 0.1x input.

    ``prices=`` and ``--prices FILE`` take either ``Price`` values or plain mappings such as
    ``{"input": 3.0, "output": 15.0}`` (keys ``input`` and ``output``, optionally
    ``cache_write`` and ``cache_read``; numbers >= 0).
    """

    input: float
    output: float
    cache_write: float | None = None
    cache_read: float | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Price:
        """A price from ``{"input": ..., "output": ...[, "cache_write": ..., "cache_read": ...]}``;
        :class:`ValueError` naming what is wrong otherwise."""
        if not isinstance(data, Mapping):
            raise ValueError(f"expected an object like {_EXAMPLE_PRICE}, got {data!r}")
        unknown = set(data) - _PRICE_KEYS
        if unknown:
            raise ValueError(
                f"unknown price key(s) {', '.join(map(repr, sorted(unknown, key=str)))}"
                f" (known: input, output, cache_write, cache_read)"
            )
        missing = [key for key in ("input", "output") if key not in data]
        if missing:
            raise ValueError(f"missing {' and '.join(map(repr, missing))} (e.g. {_EXAMPLE_PRICE})")
        for key, value in data.items():
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < math.inf:
                raise ValueError(f"{key!r} must be a number >= 0 (dollars per million tokens), not {value!r}")
        return cls(**{k: float(v) for k, v in data.items()})


_PRICE_KEYS = frozenset({"input", "output", "cache_write", "cache_read"})
_EXAMPLE_PRICE = '{"input": 3.0, "output": 15.0}'


def price_table(prices: Mapping[str, Price | Mapping[str, Any]], where: str | None = None) -> dict[str, Price]:
    """``prices`` with every plain mapping turned into a :class:`Price` (checked): a
    :class:`ValueError` naming the entry (``prices['model']``, or ``WHERE, model 'model'``)
    otherwise."""
    if not isinstance(prices, Mapping):
        raise ValueError(
            f"{where or 'prices'}: expected a mapping of model prefixes to prices, got {type(prices).__name__}"
        )
    table: dict[str, Price] = {}
    for model, value in prices.items():
        if not isinstance(model, str) or not model:
            raise ValueError(f"{where or 'prices'}: a model prefix must be a non-empty string, not {model!r}")
        try:
            table[model] = value if isinstance(value, Price) else Price.from_dict(value)
        except ValueError as exc:
            entry = f"prices[{model!r}]" if where is None else f"{where}, model {model!r}"
            raise ValueError(f"{entry}: {exc}") from None
    return table


DEFAULT_PRICES: Mapping[str, Price] = {
    "claude-opus-4-5": Price(5.0, 25.0),
    "claude-opus-4": Price(15.0, 75.0),
    "claude-sonnet-4": Price(3.0, 15.0),
    "claude-3-7-sonnet": Price(3.0, 15.0),
    "claude-3-5-sonnet": Price(3.0, 15.0),
    "claude-haiku-4-5": Price(1.0, 5.0),
    "claude-3-5-haiku": Price(0.8, 4.0),
    "claude-3-haiku": Price(0.25, 1.25),
}
"""Standard (non-batch) prices used when none are given."""


def load_prices(path: str | Path) -> dict[str, Price]:
    """Read ``{"model-prefix": {"input": 3, "output": 15}, ...}`` from a JSON file; a
    :class:`ValueError` naming the file and what was expected when it is not such a table."""
    text = Path(path).read_text(encoding="utf-8", errors="replace")
    expected = f'expected a JSON object like {{"claude-sonnet-4-5": {_EXAMPLE_PRICE}}} (dollars per million tokens)'
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"prices file {path} is not JSON ({exc}): {expected}") from None
    if not isinstance(data, dict):
        raise ValueError(f"prices file {path} holds a JSON {type(data).__name__}: {expected}")
    return price_table(data, where=f"prices file {path}")


@dataclass(frozen=True)
class Usage:
    """Tokens billed for the succeeded requests."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0

    def cost(self, price: Price) -> float:
        write = price.cache_write if price.cache_write is not None else price.input * 1.25
        read = price.cache_read if price.cache_read is not None else price.input * 0.1
        return (
            self.input_tokens * price.input
            + self.output_tokens * price.output
            + self.cache_creation_input_tokens * write
            + self.cache_read_input_tokens * read
        ) / 1e6

    def cost_without_cache(self, price: Price) -> float:
        """What the same prompts would cost with no prompt caching (every cached token as input)."""
        prompt = self.input_tokens + self.cache_creation_input_tokens + self.cache_read_input_tokens
        return (prompt * price.input + self.output_tokens * price.output) / 1e6


@dataclass(frozen=True)
class Failure:
    """A request that did not succeed: its final result type and, if errored, the error."""

    custom_id: str
    result: str
    error_type: str | None = None
    message: str | None = None


@dataclass(frozen=True)
class Report:
    """What a job produced. ``failures`` shows the first 20; the output file has all of them."""

    requests: int
    counts: Mapping[str, int]
    usage: Usage
    usage_by_model: Mapping[str, Usage]
    cost_standard: float
    cost_batch: float
    unpriced_models: tuple[str, ...]
    failures: tuple[Failure, ...]
    batches: int = 0
    rounds: int = 0
    output: str | None = None
    prices: Mapping[str, Price] = field(default_factory=dict, repr=False)
    cache_saved: float = 0.0
    """What prompt caching saved, at batch prices (negative when cache writes cost more than the
    reads saved)."""

    @property
    def failed(self) -> int:
        """Requests whose final result is not ``succeeded``."""
        return self.requests - self.counts.get("succeeded", 0)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("prices")
        data["failed"] = self.failed
        return data

    def to_text(self) -> str:
        counts = ", ".join(f"{self.counts.get(k, 0):,} {k}" for k in OUTCOMES)
        u = self.usage
        lines = [
            f"{self.requests:,} requests in {self.batches} batch(es) over {self.rounds} round(s): {counts}",
            f"tokens: {u.input_tokens:,} input, {u.output_tokens:,} output, "
            f"{u.cache_creation_input_tokens:,} cache write, {u.cache_read_input_tokens:,} cache read",
            f"estimated cost: {_dollars(self.cost_batch)} with batch pricing ({_dollars(self.cost_standard)} "
            f"at standard prices, saved {_dollars(self.cost_standard - self.cost_batch)})",
        ]
        if u.cache_creation_input_tokens or u.cache_read_input_tokens:
            lines.append(f"prompt caching saved ${self.cache_saved:,.2f} (included above)")
        if self.unpriced_models:
            lines.append(f"no price for model(s) {', '.join(self.unpriced_models)}: not in the cost estimate")
        if self.failures:
            lines.append(f"{self.failed:,} request(s) did not succeed:")
            for f in self.failures:
                error = f" {f.error_type}: {f.message}" if f.error_type else ""
                lines.append(f"  {f.custom_id}: {f.result}{error}")
            if self.failed > len(self.failures):
                more = self.failed - len(self.failures)
                lines.append(f"  ... and {more:,} more (see {self.output or 'the output file'})")
        if self.output:
            lines.append(f"results: {self.output}")
        return "\n".join(lines)


def _dollars(amount: float) -> str:
    """Cents from a dollar up; below, enough digits to tell sub-cent amounts apart ($0.0042)."""
    if amount == 0 or abs(amount) >= 1:
        return f"${amount:,.2f}"
    return f"${amount:.2g}" if abs(amount) < 0.0001 else f"${amount:.4f}".rstrip("0").rstrip(".")


def _price_for(model: str, prices: Mapping[str, Price]) -> Price | None:
    matches = [key for key in prices if model.startswith(key)]
    return prices[max(matches, key=len)] if matches else None


def build_report(
    store: WorkStore,
    prices: Mapping[str, Price] | None = None,
    *,
    batches: int = 0,
    rounds: int = 0,
    output: str | None = None,
) -> Report:
    """The report of everything saved in ``store`` (streamed by SQL, never all in memory)."""
    prices = DEFAULT_PRICES if prices is None else {**DEFAULT_PRICES, **prices}  # given prices override
    total = store.count()
    counts = {k: 0 for k in OUTCOMES}
    for outcome, n in store.query("SELECT outcome, COUNT(*) FROM results GROUP BY outcome"):
        counts[outcome] = n
    counts["canceled"] += total - sum(counts.values())  # never sent: the job was canceled first
    by_model: dict[str, Usage] = {}
    standard = 0.0
    uncached = 0.0
    unpriced: list[str] = []
    for model, *tokens in store.query(
        "SELECT COALESCE(model, '?'), SUM(COALESCE(input_tokens, 0)), SUM(COALESCE(output_tokens, 0)),"
        " SUM(COALESCE(cache_write, 0)), SUM(COALESCE(cache_read, 0))"
        " FROM results WHERE outcome = 'succeeded' GROUP BY model ORDER BY model"
    ):
        usage = Usage(*tokens)
        by_model[model] = usage
        price = _price_for(model, prices)
        if price is None:
            unpriced.append(model)
        else:
            standard += usage.cost(price)
            uncached += usage.cost_without_cache(price)
    total_usage = Usage(*(sum(getattr(u, f) for u in by_model.values()) for f in Usage.__dataclass_fields__))
    failures = tuple(
        Failure(*row)
        for row in store.query(
            "SELECT q.custom_id, r.outcome, r.error_type, r.error_message FROM results r"
            " JOIN requests q USING (pos) WHERE r.outcome != 'succeeded' ORDER BY q.pos LIMIT ?",
            _SHOWN_FAILURES,
        )
    )
    return Report(
        requests=total,
        counts=counts,
        usage=total_usage,
        usage_by_model=by_model,
        cost_standard=standard,
        cost_batch=standard * BATCH_DISCOUNT,
        unpriced_models=tuple(unpriced),
        failures=failures,
        batches=batches,
        rounds=rounds,
        output=output,
        prices=prices,
        cache_saved=(uncached - standard) * BATCH_DISCOUNT,
    )
