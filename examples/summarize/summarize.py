"""Summarize many documents with the Message Batches API.

The workflow done right: one request per document (``custom_id`` = document id), submit as a
batch, poll until it ends, stream the results and match them by ``custom_id`` (never by order),
then resubmit only the requests that failed for a retryable reason — with their original params.
A request the API rejected as invalid (``invalid_request_error``) is not retried: it would fail
again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import anthropic

MODEL = "claude-sonnet-4-5"
SYSTEM = "You write faithful three-sentence summaries. No preamble."


@dataclass
class Report:
    """Summaries by document id, and why the others have none."""

    summaries: dict[str, str] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    batches: list[str] = field(default_factory=list)


def build_requests(documents: dict[str, str], *, max_tokens: int = 400) -> list[dict[str, Any]]:
    return [
        {
            "custom_id": doc_id,
            "params": {
                "model": MODEL,
                "max_tokens": max_tokens,
                "system": SYSTEM,
                "messages": [{"role": "user", "content": f"Summarize this document:\n\n{text}"}],
            },
        }
        for doc_id, text in documents.items()
    ]


def wait_until_ended(client: anthropic.Anthropic, batch_id: str, poll_seconds: float) -> None:
    while client.messages.batches.retrieve(batch_id).processing_status != "ended":
        time.sleep(poll_seconds)


def summarize(
    documents: dict[str, str],
    client: anthropic.Anthropic | None = None,
    *,
    retries: int = 2,
    poll_seconds: float = 60.0,
) -> Report:
    """Summarize ``documents`` (id → text); failed requests are retried up to ``retries`` times."""
    if client is None:
        with anthropic.Anthropic() as own:  # ANTHROPIC_API_KEY / ANTHROPIC_BASE_URL from the environment
            return summarize(documents, own, retries=retries, poll_seconds=poll_seconds)
    report = Report()
    pending = build_requests(documents)
    for _attempt in range(retries + 1):
        batch = client.messages.batches.create(requests=pending)  # type: ignore[arg-type]
        report.batches.append(batch.id)
        wait_until_ended(client, batch.id, poll_seconds)
        original = {request["custom_id"]: request for request in pending}
        pending = []
        for line in client.messages.batches.results(batch.id):
            result = line.result
            if result.type == "succeeded":
                report.summaries[line.custom_id] = "".join(
                    block.text for block in result.message.content if block.type == "text"
                )
                report.failures.pop(line.custom_id, None)
            elif result.type == "errored" and result.error.error.type == "invalid_request_error":
                report.failures[line.custom_id] = f"invalid request: {result.error.error.message}"
            else:
                reason = result.error.error.type if result.type == "errored" else result.type
                report.failures[line.custom_id] = reason
                pending.append(original[line.custom_id])  # same params, same custom_id
        if not pending:
            break
    return report
