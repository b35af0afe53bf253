"""What the engine knows of each provider: a name and the few facts a scenario needs.

A provider package registers its :class:`Traits` once, when it is imported (``batchsim``'s own
``__init__`` imports every provider's traits, so a scenario read anywhere knows them all). The
engine never imports a provider: it asks the registry.

* ``section`` parses the provider's own scenario section (``[openai]``: how long its batches
  validate and finalize...), given as ``section(where, data)``; ``default`` is the section when
  the scenario has none;
* ``endpoints`` are the names fault injection may target (``endpoint = "batches.create"``), and
  ``streams`` those whose answers stream (a ``truncate`` fault applies to them only);
* ``canned`` reads one canned results line of the provider's format: the request key it answers
  and its outcome (``succeeded``, ``errored``, ``expired`` or ``canceled``), or ``None`` if the
  line is not of its format.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["Section", "Traits", "all_endpoints", "find", "register", "registered", "stream_endpoints"]


class Section(Protocol):
    """A provider's scenario section: a frozen value that can be written back as plain data."""

    def to_dict(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Traits:
    name: str
    endpoints: tuple[str, ...]
    streams: tuple[str, ...] = ()
    section: Callable[[str, Mapping[str, Any]], Section] | None = None
    default: Section | None = None
    canned: Callable[[Mapping[str, Any]], tuple[str, str] | None] | None = None
    canned_format: str = ""
    """How a canned results line of this provider looks (for error messages)."""


_registry: dict[str, Traits] = {}


def register(traits: Traits) -> None:
    """Make a provider known (registering the same name again replaces it)."""
    _registry[traits.name] = traits


def registered() -> tuple[Traits, ...]:
    """Every known provider, in registration order."""
    return tuple(_registry.values())


def find(name: str) -> Traits | None:
    return _registry.get(name)


def all_endpoints() -> tuple[str, ...]:
    """Every endpoint name a fault may target, ``*`` included."""
    names: list[str] = []
    for traits in _registry.values():
        names.extend(e for e in traits.endpoints if e not in names)
    return (*names, "*")


def stream_endpoints() -> frozenset[str]:
    """The endpoints whose answers stream."""
    return frozenset(e for traits in _registry.values() for e in traits.streams)
