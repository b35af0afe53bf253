"""The exceptions batchclient raises. All derive from :class:`BatchClientError`."""

from __future__ import annotations

__all__ = ["BatchClientError", "InputError", "JobTimeoutError", "StateError"]


class BatchClientError(Exception):
    """Base class of every error batchclient raises on its own."""


class InputError(BatchClientError, ValueError):
    """The input cannot be sent: a malformed line, a bad or duplicate ``custom_id``, a request
    too large for a batch. Raised before anything is sent; ``problems`` lists ``(line, message)``
    pairs (line numbers start at 1; for an iterable, the item number starting at 1)."""

    def __init__(self, problems: list[tuple[int, str]], more: int = 0) -> None:
        self.problems = problems
        lines = [f"line {line}: {message}" for line, message in problems]
        if more:
            lines.append(f"... and {more} more problem(s)")
        super().__init__("invalid input, nothing was sent:\n  " + "\n  ".join(lines))


class StateError(BatchClientError):
    """The job state file does not match this job (another input or output), or is unreadable."""


class JobTimeoutError(BatchClientError):
    """``max_wait`` ran out before the job finished. Nothing is lost: run the same job again (same
    state file) to continue waiting."""
