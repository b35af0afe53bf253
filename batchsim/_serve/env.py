"""Every option of ``batchsim serve`` also reads from the environment: ``--foo-bar`` from
``BATCHSIM_FOO_BAR``, checked as the option itself would be, the command line winning.

A repeatable option (``--api-key``) takes a comma-separated list; a flag takes ``1``/``true``/
``yes``/``on`` or ``0``/``false``/``no``/``off``. A bad value is a one-line error naming the
variable, never a traceback.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from typing import Any

__all__ = ["PREFIX", "EnvError", "env_name", "read_environment"]

PREFIX = "BATCHSIM_"
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")


class EnvError(ValueError):
    """An environment variable holds a value its option would refuse."""


def env_name(action: argparse.Action) -> str | None:
    """The variable an option reads from (``--api-key`` -> ``BATCHSIM_API_KEY``), or ``None``."""
    long = [o for o in action.option_strings if o.startswith("--")]
    if not long or isinstance(action, argparse._HelpAction | argparse._VersionAction):
        return None
    return PREFIX + long[0][2:].replace("-", "_").upper()


def read_environment(parser: argparse.ArgumentParser, environ: Mapping[str, str] | None = None) -> list[str]:
    """Set the defaults of ``parser``'s options from the environment; returns the variables used.

    Raises :class:`EnvError` for a value the option would refuse."""
    environ = os.environ if environ is None else environ
    used: list[str] = []
    for action in parser._actions:
        name = env_name(action)
        if name is None or name not in environ:
            continue
        action.default = _convert(action, name, environ[name])
        used.append(name)
    return used


def _convert(action: argparse.Action, name: str, raw: str) -> Any:
    if action.nargs == 0:  # a flag (store_true / store_false)
        value = raw.strip().lower()
        if value not in _TRUE + _FALSE:
            raise EnvError(f"{name}={raw!r}: expected one of {', '.join(_TRUE + _FALSE[:-1])}")
        on = value in _TRUE
        return on if action.const is True else (not on if action.const is False else action.const)
    if isinstance(action, argparse._AppendAction):
        return [_one(action, name, part.strip()) for part in raw.split(",") if part.strip()]
    return _one(action, name, raw)


def _one(action: argparse.Action, name: str, raw: str) -> Any:
    convert = action.type if callable(action.type) else str
    try:
        value = convert(raw)
    except (argparse.ArgumentTypeError, TypeError, ValueError) as exc:
        why = str(exc) if isinstance(exc, argparse.ArgumentTypeError) else f"not a valid {_type_name(convert)}"
        raise EnvError(f"{name}={raw!r}: {why} (as {action.option_strings[-1]})") from None
    if action.choices is not None and value not in action.choices:
        choices = ", ".join(map(str, action.choices))
        raise EnvError(f"{name}={raw!r}: expected one of {choices} (as {action.option_strings[-1]})")
    return value


def _type_name(convert: Any) -> str:
    return {int: "integer", float: "number"}.get(convert, getattr(convert, "__name__", "value").strip("_"))
