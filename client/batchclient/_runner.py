"""``BatchRunner``: a whole job in one call, or its steps one at a time."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anthropic
from anthropic.types.messages import MessageBatch

from ._api import Api, RetryPolicy
from ._input import MAX_BATCH_BYTES, MAX_BATCH_REQUESTS, RequestSource
from ._job import Job, JobSettings, StallHint, default_state_path, open_existing, poll, progress_of
from ._progress import Progress
from ._report import Price, Report, price_table
from ._state import JobState
from ._store import is_retryable

__all__ = ["BatchRunner", "JobOutcome"]


@dataclass(frozen=True)
class JobOutcome:
    """What :meth:`BatchRunner.run` returns once the output file is complete."""

    report: Report
    output: Path
    state: Path
    batch_ids: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """Every request succeeded."""
        return self.report.failed == 0


class BatchRunner:
    """Runs Message Batches jobs with the official SDK client it is given.

    ``client`` defaults to ``anthropic.Anthropic()``, which reads ``ANTHROPIC_API_KEY`` and
    ``ANTHROPIC_BASE_URL``: the same code runs against ``batchsim serve`` and production.

    Waiting polls every ``poll_interval`` seconds, growing 1.5x per poll up to
    ``max_poll_interval``; ``max_wait`` (seconds, default unlimited) bounds one call of
    :meth:`run` or :meth:`wait`. Batches are cut under ``max_batch_requests`` and
    ``max_batch_bytes`` (the API limits by default; lower them to use less memory per create).
    ``retry_policy`` sets batchclient's own retries of failed API calls (after the SDK's).
    ``prices`` overrides entries of the built-in price table of the cost estimate (model prefixes
    not given keep their built-in prices); each value is a :class:`Price` or a plain mapping
    such as ``{"input": 3.0, "output": 15.0}``, checked here (a :class:`ValueError` naming the
    entry), before anything is submitted. ``progress`` reports to stderr by
    default; ``Progress(None)`` is silent.
    """

    def __init__(
        self,
        client: anthropic.Anthropic | None = None,
        *,
        poll_interval: float = 5.0,
        max_poll_interval: float = 60.0,
        max_wait: float | None = None,
        max_batch_requests: int = MAX_BATCH_REQUESTS,
        max_batch_bytes: int = MAX_BATCH_BYTES,
        retry_policy: RetryPolicy | None = None,
        prices: Mapping[str, Price | Mapping[str, float]] | None = None,
        progress: Progress | None = None,
    ) -> None:
        if not 1 <= max_batch_requests <= MAX_BATCH_REQUESTS:
            raise ValueError(f"max_batch_requests must be between 1 and {MAX_BATCH_REQUESTS}")
        if not 0 < max_batch_bytes <= MAX_BATCH_BYTES:
            raise ValueError(f"max_batch_bytes must be between 1 and {MAX_BATCH_BYTES}")
        table = None if prices is None else price_table(prices)
        self.client = client if client is not None else anthropic.Anthropic()
        self.progress = progress if progress is not None else Progress()
        self.api = Api(self.client, retry_policy, log=self.progress.log)
        self.settings = JobSettings(
            max_batch_requests=max_batch_requests,
            max_batch_bytes=max_batch_bytes,
            poll_interval=poll_interval,
            max_poll_interval=max_poll_interval,
            max_wait=max_wait,
            prices=table,
        )

    # -- the whole job --------------------------------------------------------------------------

    def run(
        self,
        requests: RequestSource,
        out: str | os.PathLike[str],
        *,
        retries: int = 2,
        state: str | os.PathLike[str] | None = None,
    ) -> JobOutcome:
        """Validate, submit, wait, retry and write every result to ``out`` in input order.

        ``requests`` is a JSONL file or an iterable of ``{"custom_id", "params"}`` mappings.
        Errored requests worth retrying (not ``invalid_request_error``) and expired ones are sent
        again, with their original params, for up to ``retries`` more rounds. The job's progress
        lives in ``state`` (default ``OUT.job.json``): call ``run`` again with the same arguments
        after a crash or Ctrl-C and it continues where it stopped, submitting nothing twice.
        """
        output = Path(out)
        state_path = Path(state) if state is not None else default_state_path(output)
        job = Job.open(self.api, self.settings, self.progress, requests, output, state_path)
        try:
            report = job.run(retries)
            return JobOutcome(report, output, state_path, tuple(job.state.batch_ids()))
        finally:
            job.close()

    def cancel(self, state: str | os.PathLike[str]) -> list[str]:
        """Cancel a job: submit nothing more and cancel its live batches (their ids are returned).
        Running the job again afterwards collects what they finished."""
        job = open_existing(self.api, self.settings, self.progress, Path(state))
        try:
            return job.cancel()
        finally:
            job.close()

    def job_state(self, state: str | os.PathLike[str]) -> JobState:
        """The recorded state of a job (batches, rounds, what is saved), without API calls."""
        job = open_existing(self.api, self.settings, self.progress, Path(state))
        job.close()
        return job.state

    # -- the steps on their own -----------------------------------------------------------------

    def submit(self, requests: RequestSource) -> list[str]:
        """Check the requests, cut them into batches and create them; the batch ids."""
        with tempfile.TemporaryDirectory(prefix="batchclient-") as tmp:
            folder = Path(tmp)
            job = Job.open(self.api, self.settings, self.progress, requests, folder / "out.jsonl", folder / "job.json")
            try:
                return job.submit_round(0)
            finally:
                job.close()

    def wait(self, batch_ids: Iterable[str], *, max_wait: float | None = None) -> list[MessageBatch]:
        """Poll until every batch has ended (backoff as configured); the ended batches."""
        ids = list(batch_ids)
        ended: dict[str, MessageBatch] = {}
        stall = StallHint(self.api, self.progress)

        def check() -> bool:
            seen = []
            for batch_id in ids:
                if batch_id not in ended:
                    batch = self.api.retrieve(batch_id)
                    seen.append(progress_of(batch))
                    if batch.processing_status == "ended":
                        ended[batch_id] = batch
            stall.observe(seen)
            return len(ended) == len(ids)

        poll(check, self.settings, max_wait if max_wait is not None else self.settings.max_wait, "batches")
        return [ended[i] for i in ids]

    def results(self, batch_id: str) -> Iterator[dict[str, Any]]:
        """The result lines of an ended batch, parsed, streamed in the API's order."""
        with self.api.result_lines(batch_id) as lines:
            for line in lines:
                yield json.loads(line)

    def retry(self, requests: RequestSource, batch_ids: Iterable[str]) -> list[str]:
        """Submit again, with their original params from ``requests``, the requests of the ended
        ``batch_ids`` whose result is worth retrying; the new batch ids (none if nothing to retry).
        Holds the retryable custom_ids in memory."""
        again = {
            line["custom_id"]
            for batch_id in batch_ids
            for line in self.results(batch_id)
            if is_retryable(line.get("result") or {})
        }
        if not again:
            return []
        return self.submit(r for r in _iter_requests(requests) if r.get("custom_id") in again)


def _iter_requests(source: RequestSource) -> Iterator[Mapping[str, Any]]:
    if not isinstance(source, str | os.PathLike):
        yield from source
        return
    with open(source, "rb") as f:
        for raw in f:
            if raw.strip():
                yield json.loads(raw)
