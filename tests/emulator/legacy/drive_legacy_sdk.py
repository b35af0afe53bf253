"""Drive a ``batchsim serve`` process with the legacy (0.x, httpx-based) SDK.

Run with the legacy SDK first on ``sys.path``: ``PYTHONPATH=.venv/legacy-sdk python this.py URL``.
Prints one JSON object describing what it saw; exits non-zero on any failure.
"""

from __future__ import annotations

import json
import sys
import urllib.request

import anthropic


def advance(url: str, seconds: float) -> None:
    request = urllib.request.Request(
        f"{url}/_batchsim/clock/advance",
        data=json.dumps({"seconds": seconds}).encode(),
        headers={"content-type": "application/json"},
        method="POST",
    )
    urllib.request.urlopen(request).read()


def main(url: str) -> None:
    client = anthropic.Anthropic(base_url=url, api_key="legacy-key", max_retries=0, _strict_response_validation=True)
    params = {"model": "claude-sonnet-4-5", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}
    requests = [{"custom_id": f"legacy-{i}", "params": params} for i in range(3)]
    seen: dict[str, object] = {"version": anthropic.__version__}
    for name, batches in (("ga", client.messages.batches), ("beta", client.beta.messages.batches)):
        created = batches.create(requests=requests)
        seen[f"{name}_created"] = created.processing_status
        advance(url, 120)
        ended = batches.retrieve(created.id)
        seen[f"{name}_ended"] = ended.processing_status
        seen[f"{name}_results"] = sorted(r.custom_id for r in batches.results(created.id))
        seen[f"{name}_listed"] = created.id in [b.id for b in batches.list(limit=100)]
        seen[f"{name}_deleted"] = batches.delete(created.id).type
        other = batches.create(requests=requests)
        seen[f"{name}_canceled"] = batches.cancel(other.id).processing_status
        try:
            batches.retrieve("msgbatch_01missing")
        except anthropic.NotFoundError as exc:
            seen[f"{name}_404"] = exc.status_code
    print(json.dumps(seen))


if __name__ == "__main__":
    main(sys.argv[1])
