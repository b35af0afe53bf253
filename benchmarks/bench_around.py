"""The calls around batches, on a real ``batchsim serve``:

* token counting (``POST /v1/messages/count_tokens``) vs the bare app reading and parsing the
  same body (``POST /parse``), and the models list (``GET /v1/models``, the first page) vs the
  bare app answering the same bytes: requests per second, medians of per-round ratios;
* a 100 MB file upload (``POST /v1/files``): the server's peak RSS above what it held before the
  upload (``VmHWM`` after ``/proc/PID/clear_refs``), against the bodies' spool threshold (what a
  body still arriving may keep in memory) and against a 1 MB upload.
"""

from __future__ import annotations

import socket
import statistics
import tempfile
from pathlib import Path
from typing import Any

import orjson

from batchsim._http.bodies import SPOOL_THRESHOLD

from . import _common as c

MiB = 1024 * 1024
_COUNT = orjson.dumps(
    {
        "model": "claude-sonnet-4-5",
        "system": "You summarize documents.",
        "messages": [{"role": "user", "content": "Summarize: the quick brown fox jumps over the lazy dog. " * 8}],
    }
)


def _rss(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field}")


def _upload(url: str, size: int) -> dict[str, Any]:
    """Send a multipart upload of ``size`` bytes in 1 MiB pieces (never whole in this process)."""
    host, port = url.removeprefix("http://").split(":")
    boundary = "batchsimbenchboundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.pdf"\r\n'
        "Content-Type: application/pdf\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    with socket.create_connection((host, int(port)), timeout=300) as sock:
        sock.sendall(
            f"POST /v1/files HTTP/1.1\r\nhost: {host}\r\nx-api-key: bench-key\r\nanthropic-version: 2023-06-01\r\n"
            f"content-type: multipart/form-data; boundary={boundary}\r\n"
            f"content-length: {len(head) + size + len(tail)}\r\nconnection: close\r\n\r\n".encode()
        )
        sock.sendall(head)
        piece = b"%" * MiB
        left = size
        while left:
            n = min(left, MiB)
            sock.sendall(piece[:n])
            left -= n
        sock.sendall(tail)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status = answer.split(b" ", 2)[1]
    if status != b"200":
        raise RuntimeError(f"upload answered {answer[:300]!r}")
    body: dict[str, Any] = orjson.loads(answer.split(b"\r\n\r\n", 1)[1])
    return body


def _upload_peak(url: str, pid: int, size: int) -> int:
    """The server's peak RSS during one upload above its RSS just before it."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    before = _rss(pid, "VmRSS:")
    uploaded = _upload(url, size)
    peak = _rss(pid, "VmHWM:")
    c.http_json("DELETE", f"{url}/v1/files/{uploaded['id']}")
    return max(0, peak - before)


def _ratio(ours: list[c.Load], base: list[c.Load]) -> float:
    return statistics.median(a.rps / b.rps for a, b in zip(ours, base, strict=True))


def run() -> list[dict[str, Any]]:
    rounds = 3 if c.QUICK else 5
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp, c.batchsim_server() as sim:
        small = orjson.dumps(
            {
                "requests": [
                    {
                        "custom_id": "a",
                        "params": {
                            "model": "claude-sonnet-4-5",
                            "max_tokens": 16,
                            "messages": [{"role": "user", "content": "hi"}],
                        },
                    }
                ]
            }
        )
        batch_id = c.http_json("POST", f"{sim.url}/v1/messages/batches", small)["id"]
        retrieve_body = _raw(f"{sim.url}/v1/messages/batches/{batch_id}")
        (Path(tmp) / "retrieve.json").write_bytes(retrieve_body)
        models_body = _raw(f"{sim.url}/v1/models")
        json_file = Path(tmp) / "models.json"
        json_file.write_bytes(models_body)
        with c.bare_server(str(json_file)) as bare, c.bare_server(str(Path(tmp) / "retrieve.json")) as bare_small:
            runs = c.interleave(
                {
                    "bare_small": lambda: c.load(f"{bare_small.url}/json"),
                    "retrieve": lambda: c.load(f"{sim.url}/v1/messages/batches/{batch_id}"),
                    "bare_parse": lambda: c.load(f"{bare.url}/parse", body=_COUNT),
                    "count_tokens": lambda: c.load(f"{sim.url}/v1/messages/count_tokens", body=_COUNT),
                    "bare_json": lambda: c.load(f"{bare.url}/json"),
                    "models": lambda: c.load(f"{sim.url}/v1/models"),
                },
                rounds,
            )
        for name, ours, base, what, base_what in (
            ("count_tokens speed", "count_tokens", "bare_parse", "count_tokens", "bare route parsing the same body"),
            ("models list speed", "models", "bare_json", "GET /v1/models", f"bare JSON route ({len(models_body)} B)"),
        ):
            ratio = _ratio(runs[ours], runs[base])
            rows.append(
                c.row(
                    name,
                    c.median_rps(runs[ours]),
                    "req/s",
                    f"{what} vs {base_what}; median of per-round ratios; {c.load_note(runs[ours], runs[base])}",
                    baseline=c.median_rps(runs[base]),
                    ratio=ratio,
                    target=">= 0.85",
                    ok=ratio >= 0.85,
                )
            )
        rows.append(
            c.row(
                "retrieve speed in the same rounds (context)",
                c.median_rps(runs["retrieve"]),
                "req/s",
                "the control-plane figure (retrieve vs a bare route answering the same bytes) measured in the "
                "same rounds, for the machine's load at the time; median of per-round ratios",
                baseline=c.median_rps(runs["bare_small"]),
                ratio=_ratio(runs["retrieve"], runs["bare_small"]),
            )
        )
        if Path("/proc/self/clear_refs").exists():
            pid = sim.process.pid
            _upload_peak(sim.url, pid, MiB)  # warm up: the first upload sizes the server's buffers
            one = sorted(_upload_peak(sim.url, pid, MiB) for _ in range(3))[1]
            big = sorted(_upload_peak(sim.url, pid, 100 * MiB) for _ in range(3))[1]
            rows.append(
                c.row(
                    "100 MB file upload: memory held",
                    big / 1e6,
                    "MB",
                    f"the server's peak RSS during a 100 MiB POST /v1/files above its RSS before it (median of 3), "
                    f"vs the spool threshold ({SPOOL_THRESHOLD // 1024} KiB: what a body still arriving keeps in "
                    f"memory); a 1 MiB upload peaks at {one / 1e6:.2f} MB",
                    baseline=SPOOL_THRESHOLD / 1e6,
                    ratio=big / SPOOL_THRESHOLD,
                    target="<= 1x",
                    ok=big <= SPOOL_THRESHOLD,
                )
            )
        else:
            rows.append(c.row("100 MB file upload: memory held", None, "", "skipped: needs /proc (Linux)"))
    return rows


def _raw(url: str) -> bytes:
    import urllib.request

    request = urllib.request.Request(url, headers={"x-api-key": "bench-key", "anthropic-version": "2023-06-01"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return bytes(response.read())
