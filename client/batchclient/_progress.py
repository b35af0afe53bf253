"""Progress display: one redrawn status line on a terminal, plain log lines otherwise.

The API reports a batch's requests as ``processing`` until the whole batch has ended, so
"requests done" moves a batch at a time; the ETA is a straight-line estimate from the requests
done so far in this run.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["Progress"]


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class Progress:
    """Reports what a job does to ``stream`` (stderr by default; ``None`` for silence).

    ``tty`` forces or disables the terminal display; by default it follows ``stream.isatty()``.
    Off a terminal, status lines are written at most every ``heartbeat`` seconds.
    """

    def __init__(self, stream: TextIO | None = sys.stderr, tty: bool | None = None, heartbeat: float = 30.0):
        self.stream = stream
        self.tty = bool(stream is not None and (stream.isatty() if tty is None else tty))
        self.heartbeat = heartbeat
        self._started = time.monotonic()
        self._last_status = float("-inf")
        self._line = ""
        self._done_at_start: int | None = None

    def _write(self, text: str) -> None:
        if self.stream is not None:
            self.stream.write(text)
            self.stream.flush()

    def log(self, message: str) -> None:
        """A notable event: a batch submitted, ended or saved, a retry round, a retry."""
        if self.tty:
            self._write("\r\x1b[K" + message + "\n" + self._line)
        else:
            self._write(f"[batchclient {time.strftime('%H:%M:%S')}] {message}\n")

    def status(self, round_: int, batches: list[tuple[str, int, int]], done: int, total: int) -> None:
        """The state of the current round: ``batches`` as ``(batch_id, done, requests)``."""
        now = time.monotonic()
        elapsed = now - self._started
        if self._done_at_start is None:
            self._done_at_start = done
        gained = done - self._done_at_start
        eta = _clock(elapsed * (total - done) / gained) if gained > 0 and done < total else "?"
        ended = sum(1 for _, d, n in batches if d == n)
        shown = " ".join(f"[{bid[-6:]} {d}/{n}]" for bid, d, n in batches[:4])
        more = f" +{len(batches) - 4}" if len(batches) > 4 else ""
        line = (
            f"round {round_}: {ended}/{len(batches)} batches ended, {done:,}/{total:,} requests done"
            f" {shown}{more} | elapsed {_clock(elapsed)} ETA {eta}"
        )
        if self.tty:
            self._line = line
            self._write("\r\x1b[K" + line)
        elif now - self._last_status >= self.heartbeat:
            self._last_status = now
            self._write(f"[batchclient {time.strftime('%H:%M:%S')}] {line}\n")

    def close(self) -> None:
        if self.tty and self._line:
            self._write("\n")
            self._line = ""
