"""Drive the calls around batches (token counting, models, the beta Files API) with the legacy
(0.x, httpx-based) SDK, sync and async, against ``batchsim serve`` (an URL) or an emulator in
this process (``in-process``: the SDK on an httpx transport forwarding to the app).

Run with the legacy SDK first on ``sys.path``: ``PYTHONPATH=.venv/legacy-sdk python this.py TARGET``.
Prints one JSON object describing what it saw; exits non-zero on any failure.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import anthropic
import httpx

PDF = b"%PDF-1.4\n" + b"1 0 obj << /Type /Page >> endobj\n" * 50 + b"%%EOF\n"
MESSAGES = [{"role": "user", "content": "Summarize the attached report."}]


def sync_calls(client: Any) -> dict[str, object]:
    seen: dict[str, object] = {}
    seen["tokens"] = client.messages.count_tokens(model="claude-sonnet-4-5", messages=MESSAGES).input_tokens
    try:
        client.messages.count_tokens(model="claude-sonnet-4-5", messages=[{"role": "user", "content": ""}])
    except anthropic.BadRequestError as exc:
        seen["empty_text"] = exc.body["error"]["message"]
    seen["models"] = [m.id for m in client.models.list(limit=10)]
    seen["sonnet"] = client.models.retrieve("claude-sonnet-4-5").display_name
    try:
        client.models.retrieve("claude-imaginary-9")
    except anthropic.NotFoundError as exc:
        seen["unknown_model"] = exc.body["error"]["message"]
    uploaded = client.beta.files.upload(file=("report.pdf", PDF, "application/pdf"))
    seen["uploaded"] = [
        uploaded.type,
        uploaded.filename,
        uploaded.mime_type,
        uploaded.size_bytes,
        uploaded.downloadable,
    ]
    seen["listed"] = [f.id for f in client.beta.files.list()] == [uploaded.id]
    seen["metadata"] = client.beta.files.retrieve_metadata(uploaded.id).size_bytes
    document = [
        {
            "role": "user",
            "content": [
                {"type": "document", "source": {"type": "file", "file_id": uploaded.id}},
                {"type": "text", "text": "Summarize."},
            ],
        }
    ]
    seen["file_tokens"] = client.beta.messages.count_tokens(
        model="claude-sonnet-4-5", messages=document, betas=["files-api-2025-04-14"]
    ).input_tokens
    try:
        client.beta.files.download(uploaded.id)
    except anthropic.BadRequestError as exc:
        seen["download"] = exc.status_code
    seen["deleted"] = client.beta.files.delete(uploaded.id).type
    try:
        client.beta.files.retrieve_metadata(uploaded.id)
    except anthropic.NotFoundError as exc:
        seen["after_delete"] = exc.status_code
    return seen


async def async_calls(client: Any) -> dict[str, object]:
    seen: dict[str, object] = {}
    seen["tokens"] = (await client.messages.count_tokens(model="claude-haiku-4-5", messages=MESSAGES)).input_tokens
    seen["models"] = len([m.id async for m in client.models.list(limit=10)])  # every page
    uploaded = await client.beta.files.upload(file=("a.pdf", PDF, "application/pdf"))
    seen["listed"] = [f.id async for f in client.beta.files.list()] == [uploaded.id]
    seen["deleted"] = (await client.beta.files.delete(uploaded.id)).type
    await client.close()
    return seen


def main(target: str) -> None:
    seen: dict[str, object] = {"version": anthropic.__version__}
    if target == "in-process":
        from batchsim import Emulator
        from batchsim._pytest.legacy import legacy_client

        sim = Emulator()
        seen["sync"] = sync_calls(legacy_client(sim.app, "legacy-key", max_retries=0, _strict_response_validation=True))
        seen["calls"] = [[c.endpoint, c.headers.get("anthropic-beta", ""), c.query] for c in sim.calls]
    else:
        client = anthropic.Anthropic(
            base_url=target, api_key="legacy-key", max_retries=0, _strict_response_validation=True
        )
        seen["sync"] = sync_calls(client)
        aclient = anthropic.AsyncAnthropic(
            base_url=target,
            api_key="legacy-key",
            max_retries=0,
            _strict_response_validation=True,
            http_client=httpx.AsyncClient(),
        )
        seen["async"] = asyncio.run(async_calls(aclient))
    print(json.dumps(seen))


if __name__ == "__main__":
    main(sys.argv[1])
