"""What one connection can make a real ``batchsim serve`` hold, and for how long: request heads
and URLs (414, 431, refused as they arrive), heads and bodies that stall (408), clients that stop
reading (cut), and the number of open connections (529), with either HTTP implementation."""

from __future__ import annotations

import contextlib
import select
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator

import httpx2
import orjson
import pytest
from serverproc import ServerProcess, running_server

from .conftest import (
    PARAMS,
    closed_by_server,
    connect,
    no_traceback,
    open_results_files,
    raw_envelope,
    read_answer,
    requests_body,
    rss,
    server_holds,
    stalled_get,
)

pytestmark = pytest.mark.server

MiB = 1024 * 1024
HEALTH = "/_batchsim/health"


@pytest.fixture(scope="module", params=["httptools", "h11"])
def sized(request: pytest.FixtureRequest) -> Iterator[ServerProcess]:
    """A server with the default bounds, with each HTTP implementation."""
    with running_server("--http", request.param) as proc:
        yield proc
    no_traceback(proc)


@pytest.fixture(scope="module", params=["httptools", "h11"])
def bounded(request: pytest.FixtureRequest) -> Iterator[ServerProcess]:
    """A server timing out heads after 2 s, with each HTTP implementation."""
    with running_server("--http", request.param, "--header-timeout", "2") as proc:
        yield proc
    no_traceback(proc)


def _head(target: str = HEALTH, headers: bytes = b"") -> bytes:
    return f"GET {target} HTTP/1.1\r\nhost: 127.0.0.1\r\n".encode() + headers + b"\r\n"


def _exchange(server: ServerProcess, data: bytes) -> tuple[int, dict[str, str], bytes, bool]:
    """Send ``data`` on a fresh connection: the answer, and whether the server then closed."""
    with connect(server) as sock:
        sock.sendall(data)
        status, headers, body = read_answer(sock)
        return status, headers, body, closed_by_server(sock) if headers.get("connection") == "close" else False


# -- request heads and URLs --------------------------------------------------------------------------


def test_a_long_url_is_414_and_the_connection_closed(sized: ServerProcess) -> None:
    status, headers, body, closed = _exchange(sized, _head(HEALTH + "?pad=" + "a" * 20_000))
    assert "16384 bytes" in raw_envelope(status, headers, body, 414, "invalid_request_error")
    assert closed


def test_a_large_header_block_is_431_and_the_connection_closed(sized: ServerProcess) -> None:
    status, headers, body, closed = _exchange(sized, _head(headers=b"x-pad: " + b"a" * (70 * 1024) + b"\r\n"))
    assert "65536 bytes" in raw_envelope(status, headers, body, 431, "invalid_request_error")
    assert closed
    many = b"".join(b"x-pad-%d: %s\r\n" % (n, b"a" * 1000) for n in range(70))
    status, headers, body, closed = _exchange(sized, _head(headers=many))
    raw_envelope(status, headers, body, 431, "invalid_request_error")


@pytest.mark.parametrize("where", ["url", "header"])
def test_a_head_that_never_ends_is_refused_while_it_arrives(sized: ServerProcess, where: str) -> None:
    """8 MiB of a head without its end: refused after a few of its first kilobytes, the server's
    memory untouched, instead of being buffered (and copied again with every piece) to the end."""
    pid = sized.process.pid
    before = rss(pid)
    start = b"GET /" if where == "url" else b"GET / HTTP/1.1\r\nhost: 127.0.0.1\r\nx-pad: "
    with connect(sized, timeout=20) as sock:
        sock.sendall(start)
        with contextlib.suppress(OSError):  # the server answered and closed: the point
            for _ in range(128):
                sock.sendall(b"a" * 65536)
        status, headers, body = read_answer(sock)
    assert rss(pid) - before < 16 * MiB
    raw_envelope(status, headers, body, 414 if where == "url" else 431, "invalid_request_error")
    assert httpx2.get(sized.url + HEALTH, timeout=30).status_code == 200


def test_heads_within_the_bounds_are_served(sized: ServerProcess) -> None:
    padded = b"".join(b"x-pad-%d: %s\r\n" % (n, b"a" * 1000) for n in range(60))  # 60 KiB of headers
    for data in (_head(HEALTH + "?pad=" + "a" * 15_000), _head(headers=padded)):
        with connect(sized) as sock:
            sock.sendall(data)
            status, _, body = read_answer(sock)
            assert status == 200, body
            sock.sendall(_head())  # the connection stays open for the next request
            assert read_answer(sock)[0] == 200


def test_a_small_answer_leaves_in_one_write(sized: ServerProcess) -> None:
    """Head and body of an answer go out together: the first read of the socket holds the whole
    answer (written apart, the first read usually ends with the head), keep-alive after it."""
    with connect(sized) as sock:
        for _ in range(20):
            sock.sendall(_head())
            data = sock.recv(65536)
            head, _, body = data.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200"), data[:200]
            length = int(
                next(
                    v
                    for k, _, v in (line.partition(b":") for line in head.split(b"\r\n"))
                    if k.lower() == b"content-length"
                )
            )
            assert len(body) == length and orjson.loads(body)["status"] == "ok", data[:300]


def test_a_websocket_upgrade_is_refused_as_before(sized: ServerProcess) -> None:
    """An upgrade request has no answer cycle of its own: it is refused by the WebSocket side
    (403; h11 serves it as plain HTTP), never taken for an invalid request."""
    upgrade = (
        b"upgrade: websocket\r\nconnection: Upgrade\r\n"
        b"sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n"
    )
    with connect(sized) as sock:
        sock.sendall(_head("/ws", upgrade))
        answer = sock.recv(65536)
    assert answer.startswith((b"HTTP/1.1 403", b"HTTP/1.1 404")), answer[:200]
    assert b"Invalid HTTP request" not in answer
    assert httpx2.get(sized.url + HEALTH, timeout=30).status_code == 200


def test_100_continue_is_sent_before_the_body_is(sized: ServerProcess) -> None:
    """A client that waits for ``100 Continue`` before sending its body gets it at once (the
    answer's first write is not held back for a body that cannot come yet)."""
    body = orjson.dumps({"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi"}]})
    head = (
        b"POST /v1/messages/count_tokens HTTP/1.1\r\nhost: 127.0.0.1\r\nx-api-key: k\r\n"
        b"anthropic-version: 2023-06-01\r\ncontent-type: application/json\r\nexpect: 100-continue\r\n"
        b"content-length: %d\r\n\r\n" % len(body)
    )
    with connect(sized) as sock:
        sock.sendall(head)
        interim = b""
        while b"\r\n\r\n" not in interim:  # bounded by the socket's timeout
            part = sock.recv(65536)
            assert part, interim
            interim += part
        assert interim.startswith(b"HTTP/1.1 100"), interim[:200]
        sock.sendall(body)
        status, _, answer = read_answer(sock)
    assert status == 200 and orjson.loads(answer)["input_tokens"] > 0, answer[:300]


def test_the_head_bounds_are_options() -> None:
    with running_server("--headers-max", "4K", env={"BATCHSIM_URL_MAX": "1K"}) as server:
        status, headers, body, _ = _exchange(server, _head(HEALTH + "?pad=" + "a" * 2000))
        assert "1024 bytes" in raw_envelope(status, headers, body, 414, "invalid_request_error")
        assert _exchange(server, _head(headers=b"x-pad: " + b"a" * 3000 + b"\r\n"))[0] == 200
        status, headers, body, _ = _exchange(server, _head(headers=b"x-pad: " + b"a" * 5000 + b"\r\n"))
        assert "4096 bytes" in raw_envelope(status, headers, body, 431, "invalid_request_error")


# -- stalled heads and bodies -------------------------------------------------------------------------


def test_a_head_trickling_in_gets_408_and_is_closed(bounded: ServerProcess) -> None:
    """A byte every 0.2 s keeps a connection busy, not its head alive: the head has
    --header-timeout in all to arrive."""
    head = _head()[:-4]  # never ends
    with connect(bounded) as sock:
        stop = threading.Event()

        def trickle() -> None:
            with contextlib.suppress(OSError):
                for byte in head:
                    if stop.wait(0.2):
                        return
                    sock.sendall(bytes([byte]))
                while not stop.wait(0.2):
                    sock.sendall(b"a")

        sender = threading.Thread(target=trickle, daemon=True)
        sender.start()
        try:
            status, headers, body = read_answer(sock)
        finally:
            stop.set()
            sender.join()
        assert "did not arrive within 2 s" in raw_envelope(status, headers, body, 408, "timeout_error")
        assert closed_by_server(sock)


def test_a_connection_that_never_sends_is_closed(bounded: ServerProcess) -> None:
    with connect(bounded) as sock:
        assert sock.recv(65536) == b""  # closed without an answer: it asked nothing


def _upload(server: ServerProcess, declared: int, send: int) -> socket.socket:
    sock = connect(server)
    sock.sendall(
        f"POST /v1/messages/batches HTTP/1.1\r\nhost: 127.0.0.1\r\nx-api-key: k\r\n"
        f"content-type: application/json\r\ncontent-length: {declared}\r\n\r\n".encode()
        + b" " * send
    )
    return sock


def test_a_stalled_body_gets_408_and_gives_its_budget_back() -> None:
    with running_server("--body-budget", "3M", "--body-timeout", "2") as server:
        stalled = [_upload(server, 100 * MiB, MiB + MiB // 4) for _ in range(2)]  # 2.5 of the 3 MiB
        try:
            for sock in stalled:
                status, headers, body = read_answer(sock)
                assert "stopped arriving for 2 s" in raw_envelope(status, headers, body, 408, "timeout_error")
                assert headers["connection"] == "close"
                assert closed_by_server(sock)
        finally:
            for sock in stalled:
                sock.close()
        # What the stalled bodies took is back: a 2 MiB create fits the 3 MiB budget.
        padded = {"requests": [{"custom_id": "a", "params": {**PARAMS, "metadata": {"pad": "p" * (2 * MiB)}}}]}
        answer = httpx2.post(
            server.url + "/v1/messages/batches", content=orjson.dumps(padded), headers={"x-api-key": "k"}, timeout=60
        )
        assert answer.status_code != 529, answer.text
        no_traceback(server)


# -- connections beyond the descriptors -----------------------------------------------------------------

_LIMITED = (
    "import resource, sys; resource.setrlimit(resource.RLIMIT_NOFILE, (128, 128)); "
    "from batchsim._serve.cli import main; sys.exit(main(sys.argv[1:]))"
)


def test_stalled_connections_past_the_descriptor_limit_leave_the_server_answering() -> None:
    """200 connections that never finish their heads, on a server allowed 128 descriptors: those
    past its connection bound are refused at once (529, or closed before their head was read),
    and a new caller gets an answer at once, never a wait (the server used to stop accepting
    anyone once its descriptors ran out); once they go, it serves again."""
    with running_server(program=(sys.executable, "-c", _LIMITED)) as server:
        stalled = []
        for _ in range(200):
            sock = connect(server)
            sock.sendall(_head()[:-4])
            stalled.append(sock)
        try:
            refused = _refused(stalled, at_least=150)
            assert len(refused) >= 150
            for status in refused:
                assert status in (529, "closed"), refused
            with connect(server) as newcomer:
                probe = _refused([newcomer], at_least=1)  # a newcomer is told at once
            assert probe and probe[0] in (529, "closed"), probe
        finally:
            for sock in stalled:
                sock.close()
        deadline = time.monotonic() + 60
        while True:  # as the SDK does: retry a 529 shortly
            with contextlib.suppress(httpx2.TransportError):
                if httpx2.get(server.url + HEALTH, timeout=10).status_code == 200:
                    break
            assert time.monotonic() < deadline, "the server stopped answering"
            time.sleep(0.1)
        no_traceback(server)


def _refused(socks: list[socket.socket], at_least: int, within: float = 30) -> list[int | str]:
    """Wait (at most ``within`` s) until ``at_least`` of ``socks`` were answered or closed by the
    server; what each of those got: a status, or "closed"."""
    pending = {sock.fileno(): sock for sock in socks}
    outcomes: list[int | str] = []
    deadline = time.monotonic() + within
    while len(outcomes) < at_least and pending and time.monotonic() < deadline:
        ready, _, _ = select.select(list(pending), [], [], 0.5)
        for fd in ready:
            sock = pending.pop(fd)
            try:
                status, headers, body = read_answer(sock)
            except (ConnectionResetError, ConnectionError):
                outcomes.append("closed")
                continue
            if status == 529:
                raw_envelope(status, headers, body, 529, "overloaded_error")
                assert headers["retry-after"] == "1"
            outcomes.append(status)
    return outcomes


# -- clients that stop reading ----------------------------------------------------------------------------


@contextlib.contextmanager
def _with_big_results(*args: str) -> Iterator[tuple[ServerProcess, str, int]]:
    """A server, a batch whose results are about 9 MiB, and their size."""
    with running_server(*args) as server:
        rule = {"custom_id": ".", "result": "errored", "message": "m" * 4096}
        httpx2.put(server.url + "/_batchsim/scenario", json={"rules": [rule]}, timeout=30).raise_for_status()
        batch = httpx2.post(
            server.url + "/v1/messages/batches",
            json={"requests": requests_body(2000)},
            headers={"x-api-key": "k"},
            timeout=60,
        ).json()
        server.advance(3600)
        size = len(httpx2.get(_results(server, batch["id"]), headers={"x-api-key": "k"}, timeout=60).content)
        yield server, batch["id"], size
        no_traceback(server)


@pytest.fixture(scope="module")
def big_results() -> Iterator[tuple[ServerProcess, str, int]]:
    with _with_big_results() as found:
        yield found


@pytest.fixture(scope="module")
def cut_results() -> Iterator[tuple[ServerProcess, str, int]]:
    """The same, on a server whose sends may wait 2 s for the client to read."""
    with _with_big_results("--send-timeout", "2") as found:
        yield found


def _results(server: ServerProcess, batch_id: str) -> str:
    return f"{server.url}/v1/messages/batches/{batch_id}/results"


def _drained(sock: socket.socket) -> int:
    """Read what the server sent until it closed; how many bytes that was."""
    total = 0
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(65536):
            total += len(chunk)
    return total


def _wait_until(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"waited {timeout:g} s for {what}"
        time.sleep(0.05)


def test_a_download_nobody_reads_is_cut_and_lets_its_file_go(cut_results: tuple[ServerProcess, str, int]) -> None:
    server, batch_id, size = cut_results
    pid = server.process.pid
    path = _results(server, batch_id).removeprefix(server.url)
    with stalled_get(server, path) as sock:
        assert server_holds(pid, sock)
        _wait_until(lambda: not server_holds(pid, sock), "the server to cut the download nobody reads")
        assert open_results_files([pid]) == []  # its file let go
        assert _drained(sock) < size  # what the kernel had buffered, never the whole answer


def test_a_journal_read_nobody_reads_is_cut(cut_results: tuple[ServerProcess, str, int]) -> None:
    server = cut_results[0]
    pid = server.process.pid
    _fill_journal(server, 100)
    with stalled_get(server, "/_batchsim/journal") as sock:
        assert server_holds(pid, sock)
        _wait_until(lambda: not server_holds(pid, sock), "the server to cut the journal read nobody reads")


def _fill_journal(server: ServerProcess, calls: int) -> None:
    """``calls`` refused creates with 70 KB bodies: 64 KiB of each is journaled."""
    for n in range(calls):
        httpx2.post(server.url + "/v1/messages/batches", content=b"x" * 70_000, headers={"x-api-key": f"j{n}"})


def test_stalled_downloads_and_journal_reads_hold_little(big_results: tuple[ServerProcess, str, int]) -> None:
    """30 results downloads and 8 journal reads (a 20 MB answer) nobody reads: each holds a piece
    of its answer, not the whole (the journal's was built whole; downloads held 1 MiB pieces)."""
    server, batch_id, _ = big_results
    pid = server.process.pid
    _fill_journal(server, 300)
    path = _results(server, batch_id).removeprefix(server.url)
    before = rss(pid)
    stalled = [stalled_get(server, path) for _ in range(30)]
    stalled += [stalled_get(server, "/_batchsim/journal") for _ in range(8)]
    try:
        grown = rss(pid) - before
        assert grown < 40 * MiB, f"38 stalled readers grew the server by {grown / MiB:.0f} MiB"
    finally:
        for sock in stalled:
            sock.close()
    assert httpx2.get(server.url + HEALTH, timeout=30).status_code == 200
