"""Text for a terminal: what a server or an upstream sent, made safe to print.

A value from the other side of a socket (a journal path from a client's ``%1B``, an upstream's
JSON key) may hold control characters: an ESC starts a terminal escape sequence, a carriage
return or a bidi override rewrites what the reader sees. Every command prints such values
through :func:`printable`.
"""

from __future__ import annotations

__all__ = ["printable"]


def printable(text: str) -> str:
    """``text`` with every character Python does not call printable (controls, format characters
    such as bidi overrides, line separators, surrogates) written as its escape (``\\x1b``,
    ``\\u202e``, ``\\n``)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
