"""Drive batchsim with OpenAI's legacy (1.x, httpx-based) SDK: against a ``batchsim serve`` at URL,
or in process (``inprocess``: ``Emulator.openai_client()``, which hands the SDK an httpx client).

Run with the legacy SDK first on ``sys.path``: ``PYTHONPATH=.venv/legacy-openai python this.py
URL|inprocess``. Prints one JSON object describing what it saw; exits non-zero on any failure.
"""

from __future__ import annotations

import json
import sys
import urllib.request
from collections.abc import Callable
from typing import Any

import openai

CHAT = "/v1/chat/completions"


def lines(n: int, prefix: str) -> bytes:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Summarize."}]}
    items = [{"custom_id": f"{prefix}-{i}", "method": "POST", "url": CHAT, "body": body} for i in range(n)]
    return b"".join(json.dumps(item).encode() + b"\n" for item in items)


def over_http(url: str) -> tuple[openai.OpenAI, Callable[[float], None]]:
    def advance(seconds: float) -> None:
        request = urllib.request.Request(
            f"{url}/_batchsim/clock/advance",
            data=json.dumps({"seconds": seconds}).encode(),
            headers={"content-type": "application/json"},
            method="POST",
        )
        urllib.request.urlopen(request).read()

    client = openai.OpenAI(base_url=f"{url}/v1", api_key="legacy-key", max_retries=0, _strict_response_validation=True)
    return client, advance


def in_process() -> tuple[openai.OpenAI, Callable[[float], None]]:
    from batchsim import Emulator

    sim = Emulator(scenario={"rules": [{"custom_id": "-1$", "result": "errored"}]})
    client = sim.openai_client(max_retries=0, _strict_response_validation=True)
    return client, lambda seconds: sim.advance(seconds)


def main(where: str) -> None:
    client, advance = in_process() if where == "inprocess" else over_http(where)
    library = next(c.__module__.split(".")[0] for c in type(client._client).__mro__ if c.__module__.startswith("httpx"))
    seen: dict[str, Any] = {"version": openai.__version__, "http_client": library}
    file = client.files.create(
        file=("in.jsonl", lines(3, "legacy")), purpose="batch", expires_after={"anchor": "created_at", "seconds": 7200}
    )
    seen["file"] = [file.purpose, file.status, file.expires_at - file.created_at]
    seen["processed"] = client.files.wait_for_processing(file.id, poll_interval=0.001).status
    batch = client.batches.create(input_file_id=file.id, endpoint=CHAT, completion_window="24h", metadata={"k": "v"})
    seen["created"] = batch.status
    advance(3600)
    done = client.batches.retrieve(batch.id)
    seen["ended"] = [done.status, done.request_counts.total if done.request_counts else None]
    output = client.files.content(done.output_file_id).text.splitlines() if done.output_file_id else []
    errors = client.files.content(done.error_file_id).text.splitlines() if done.error_file_id else []
    seen["output"] = sorted(json.loads(text)["custom_id"] for text in output)
    seen["errors"] = sorted(json.loads(text)["custom_id"] for text in errors)
    seen["listed"] = [b.id for b in client.batches.list(limit=1)] == [batch.id]
    seen["files"] = sorted(f.purpose for f in client.files.list())
    other = client.batches.create(input_file_id=file.id, endpoint=CHAT, completion_window="24h")
    seen["canceled"] = client.batches.cancel(other.id).status
    try:
        client.batches.retrieve("batch_missing")
    except openai.NotFoundError as exc:
        seen["404"] = [exc.status_code, exc.body["message"] if isinstance(exc.body, dict) else exc.body]
    seen["deleted"] = client.files.delete(file.id).deleted
    print(json.dumps(seen))


if __name__ == "__main__":
    main(sys.argv[1])
