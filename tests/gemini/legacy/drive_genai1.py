"""Run with google-genai 1.x on ``PYTHONPATH``: drives a ``batchsim serve`` at ``argv[1]`` over HTTP
(or, with ``--in-process``, an emulator in this process through ``Emulator.gemini_client()``) and
prints what the SDK showed, as JSON."""

from __future__ import annotations

import io
import json
import sys
import warnings
from typing import Any

import httpx
from google import genai

MODEL = "gemini-2.5-flash"
REQUESTS = [{"contents": [{"role": "user", "parts": [{"text": f"Question {i}"}]}]} for i in range(2)]


def advance(target: Any, seconds: float) -> None:
    if isinstance(target, str):
        httpx.post(f"{target}/_batchsim/clock/advance", json={"seconds": seconds}, timeout=30).raise_for_status()
    else:
        target.advance(seconds)


def main() -> None:
    if sys.argv[1] == "--in-process":
        from batchsim import Emulator, Scenario

        target: Any = Emulator(Scenario.of(timing={"start_delay": 0, "per_request": 60, "concurrency": 1}))
        client = target.gemini_client()
    else:
        target = sys.argv[1]
        client = genai.Client(api_key="legacy-genai", http_options={"base_url": target})
    seen: dict[str, Any] = {"version": genai.__version__}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        job = client.batches.create(model=MODEL, src=REQUESTS, config={"display_name": "legacy"})
        seen["created"] = str(job.state.value)
        advance(target, 30)
        seen["running"] = str(client.batches.get(name=job.name).state.value)
        advance(target, 3600)
        done = client.batches.get(name=job.name)
        seen["done"] = str(done.state.value)
        seen["texts"] = [r.response.text for r in done.dest.inlined_responses]
        data = b'{"key": "a", "request": {"contents": [{"parts": [{"text": "x"}]}]}}\n'
        uploaded = client.files.upload(file=io.BytesIO(data), config={"mime_type": "application/jsonl"})
        by_file = client.batches.create(model=MODEL, src=uploaded.name)
        advance(target, 3600)
        result = client.batches.get(name=by_file.name).dest.file_name
        seen["download"] = json.loads(client.files.download(file=result))["key"]
        seen["listed"] = sorted(j.name for j in client.batches.list()) == sorted([job.name, by_file.name])
        client.batches.delete(name=by_file.name)
        seen["warnings"] = sorted({str(w.message) for w in caught if "JobState" in str(w.message)})
    print(json.dumps(seen))


if __name__ == "__main__":
    main()
