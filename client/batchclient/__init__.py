"""batchclient: Message Batches jobs that survive the real world, with the official SDK.

A JSONL file (or any iterable) of ``{"custom_id", "params"}`` requests becomes a results file
with every custom_id exactly once, in input order: checked before sending, cut into batches under
the API limits, polled with backoff, retried (failed requests worth retrying and expired ones,
with their original params), resumable after a crash without submitting anything twice.

    import anthropic
    from batchclient import BatchRunner

    runner = BatchRunner(anthropic.Anthropic())      # base URL from ANTHROPIC_BASE_URL
    outcome = runner.run("requests.jsonl", out="results.jsonl", retries=2, state="job.json")
    print(outcome.report.to_text())

Public names:

* :class:`BatchRunner` -- ``run`` a whole job, ``cancel`` one, or the steps ``submit``, ``wait``,
  ``results``, ``retry`` on their own;
* :class:`JobOutcome`, :class:`Report`, :class:`Usage`, :class:`Failure` -- what a job produced;
* :class:`Price`, :data:`DEFAULT_PRICES`, :func:`load_prices` -- the cost estimate's price table;
* :class:`RetryPolicy` -- batchclient's own retries of failed API calls;
* :class:`Progress` -- where progress goes (a terminal line, log lines, or nowhere);
* :class:`BatchClientError` and its subclasses :class:`InputError`, :class:`StateError`,
  :class:`JobTimeoutError`.
"""

from ._api import RetryPolicy
from ._errors import BatchClientError, InputError, JobTimeoutError, StateError
from ._progress import Progress
from ._report import DEFAULT_PRICES, Failure, Price, Report, Usage, load_prices
from ._runner import BatchRunner, JobOutcome

__all__ = [
    "DEFAULT_PRICES",
    "BatchClientError",
    "BatchRunner",
    "Failure",
    "InputError",
    "JobOutcome",
    "JobTimeoutError",
    "Price",
    "Progress",
    "Report",
    "RetryPolicy",
    "StateError",
    "Usage",
    "load_prices",
]
