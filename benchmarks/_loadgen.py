"""A Python load generator for when ``wrk`` is not installed: N keep-alive connections sending
GET requests back to back for a fixed time. Prints ``{"rps": ..., "errors": ...}``.

Usage: ``python -m benchmarks._loadgen URL API_KEY SECONDS CONNECTIONS [HEADER...]`` (headers as
``"name: value"``, sent instead of ``x-api-key: API_KEY``)
"""

from __future__ import annotations

import asyncio
import sys
import time
from urllib.parse import urlsplit

import orjson


async def _worker(host: str, port: int, request: bytes, deadline: float, counts: list[int]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < deadline:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            counts[0 if head.startswith(b"HTTP/1.1 2") else 1] += 1
    finally:
        writer.close()


async def _main(url: str, key: str, seconds: float, connections: int, headers: list[str]) -> None:
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    sent = "".join(f"{h}\r\n" for h in headers or [f"x-api-key: {key}"])
    request = f"GET {target} HTTP/1.1\r\nhost: {parts.netloc}\r\n{sent}\r\n".encode()
    counts = [0, 0]
    start = time.perf_counter()
    deadline = start + seconds
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    await asyncio.gather(*(_worker(host, port, request, deadline, counts) for _ in range(connections)))
    elapsed = time.perf_counter() - start
    print(orjson.dumps({"rps": (counts[0] + counts[1]) / elapsed, "errors": counts[1]}).decode())


def main() -> None:
    url, key, seconds, connections = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover
        pass
    asyncio.run(_main(url, key, seconds, connections, sys.argv[5:]))


if __name__ == "__main__":
    main()
