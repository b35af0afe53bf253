"""Gemini under ``batchsim serve --db``: batches, uploaded files and results survive ``kill -9``;
with ``--workers 2`` every worker sees every batch, file and upload session (an upload started on
one connection may finish on another, that is on another worker)."""

from __future__ import annotations

import io
import json
import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx2
import orjson
import pytest
from google.genai import types
from serverproc import running_server, start_server, stop_server

from .conftest import MODEL, inline, line, over_http

pytestmark = [pytest.mark.server, pytest.mark.slow]


def test_batches_and_files_survive_kill_9(tmp_path: Path) -> None:
    db = str(tmp_path / "gemini.db")
    server = start_server("--db", db)
    try:
        client = over_http(server.url)
        job = client.batches.create(model=MODEL, src=inline(2), config={"display_name": "durable"})
        data = b"".join(orjson.dumps(line(k)) + b"\n" for k in ("x", "y"))
        uploaded = client.files.upload(file=io.BytesIO(data), config={"mime_type": "application/jsonl"})
        from_file = client.batches.create(model=MODEL, src=uploaded.name)  # type: ignore[arg-type]
        assert stop_server(server, signal.SIGKILL) == -signal.SIGKILL
        server = start_server("--db", db)
        client = over_http(server.url)
        assert client.batches.get(name=job.name).display_name == "durable"  # type: ignore[arg-type]
        assert client.files.get(name=uploaded.name).size_bytes == len(data)  # type: ignore[arg-type]
        server.advance(600)
        done = client.batches.get(name=from_file.name)  # type: ignore[arg-type]
        assert done.state == types.JobState.JOB_STATE_SUCCEEDED
        body = client.files.download(file=done.dest.file_name)  # type: ignore[union-attr, arg-type]
        assert [json.loads(x)["key"] for x in body.splitlines()] == ["x", "y"]
    finally:
        stop_server(server)


def test_two_workers_share_batches_files_and_upload_sessions(tmp_path: Path) -> None:
    with running_server("--db", str(tmp_path / "shared.db"), "--workers", "2") as server:
        headers = {"x-goog-api-key": "w-key"}
        body = {
            "batch": {
                "input_config": {"requests": {"requests": [{"request": {"contents": [{"parts": [{"text": "hi"}]}]}}]}}
            }
        }
        created = httpx2.post(
            f"{server.url}/v1beta/models/{MODEL}:batchGenerateContent", headers=headers, json=body, timeout=30
        )
        name = created.json()["name"]

        def get(_: int) -> str:  # a new connection each time: spread over the workers
            answer = httpx2.get(f"{server.url}/v1beta/{name}", headers=headers, timeout=30)
            assert answer.status_code == 200
            return answer.headers["x-batchsim-worker"]

        with ThreadPoolExecutor(4) as pool:
            workers = set(pool.map(get, range(24)))
        assert len(workers) == 2
        # Uploads whose start and chunks each come on a new connection: sessions live in the database.
        data = b"".join(orjson.dumps(line(f"k{i}")) + b"\n" for i in range(3))
        start = {
            "X-Goog-Upload-Protocol": "resumable",
            "X-Goog-Upload-Command": "start",
            "X-Goog-Upload-Header-Content-Length": str(len(data)),
            "X-Goog-Upload-Header-Content-Type": "application/jsonl",
        }
        names = []
        for _ in range(6):
            url = httpx2.post(f"{server.url}/upload/v1beta/files", headers={**headers, **start}, timeout=30).headers[
                "x-goog-upload-url"
            ]
            first = httpx2.post(
                url,
                headers={"X-Goog-Upload-Command": "upload", "X-Goog-Upload-Offset": "0"},
                content=data[:10],
                timeout=30,
            )
            assert first.headers["x-goog-upload-status"] == "active"
            last = httpx2.post(
                url,
                headers={"X-Goog-Upload-Command": "upload, finalize", "X-Goog-Upload-Offset": "10"},
                content=data[10:],
                timeout=30,
            )
            assert last.status_code == 200, last.text
            names.append(last.json()["file"]["name"])
        client = over_http(server.url, key="w-key")
        assert {f.name for f in client.files.list()} == set(names)
        job = client.batches.create(model=MODEL, src=names[0])
        server.advance(600)
        done = client.batches.get(name=job.name)  # type: ignore[arg-type]
        assert client.files.download(file=done.dest.file_name).count(b"\n") == 3  # type: ignore[union-attr, arg-type]
