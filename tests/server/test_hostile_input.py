"""Client mistakes get the API's error envelope with the right status, never a 500 or a traceback."""

from __future__ import annotations

import socket
import time
from typing import Any

import orjson
import pytest
from serverproc import ServerProcess

from .conftest import PARAMS, assert_envelope, call, raw_exchange, requests_body

pytestmark = pytest.mark.server

BATCHES = "/v1/messages/batches"
LIMIT = 256 * 1024 * 1024


def _create(server: ServerProcess, body: Any, **kwargs: Any) -> Any:
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    return call(server, "POST", BATCHES, content=content, headers={"content-type": "application/json"}, **kwargs)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"", "requests: Field required"),
        (b"{", "not valid JSON"),
        (b"\xff\xfe\x00", "not valid JSON"),
        (b"[1, 2]", "valid dictionary"),
        (b"null", "valid dictionary"),
        ({}, "requests: Field required"),
        ({"requests": "x"}, "valid list"),
        ({"requests": []}, "at least 1 item"),
        ({"requests": [1]}, "requests.0: Input should be a valid dictionary"),
        ({"requests": [{"params": PARAMS}]}, "requests.0.custom_id: Field required"),
        ({"requests": [{"custom_id": "a"}]}, "requests.0.params: Field required"),
        ({"requests": [{"custom_id": 5, "params": PARAMS}]}, "valid string"),
        ({"requests": [{"custom_id": "", "params": PARAMS}]}, "at least 1 character"),
        ({"requests": [{"custom_id": "x" * 65, "params": PARAMS}]}, "at most 64 characters"),
        ({"requests": [{"custom_id": "a b", "params": PARAMS}]}, "should match pattern"),
        ({"requests": [{"custom_id": "a", "params": []}]}, "params: Input should be a valid dictionary"),
        ({"requests": [{"custom_id": "a", "params": PARAMS, "x": 1}]}, "requests.0.x: Extra inputs"),
        ({"requests": requests_body(1), "extra": True}, "extra: Extra inputs"),
        ({"requests": [*requests_body(2), requests_body(1)[0]]}, "Duplicate custom_id"),
    ],
)
def test_bad_create_bodies_are_400(plain: ServerProcess, body: Any, fragment: str) -> None:
    error = assert_envelope(_create(plain, body), 400, "invalid_request_error")
    assert fragment in error["error"]["message"]


@pytest.mark.slow
def test_more_than_100000_requests_is_400(plain: ServerProcess) -> None:
    body = b'{"requests":[' + b",".join(b'{"custom_id":"r%d","params":{}}' % i for i in range(100_001)) + b"]}"
    error = assert_envelope(_create(plain, body), 400, "invalid_request_error")
    assert "at most 100000 items" in error["error"]["message"]


def test_declared_oversize_body_is_413_before_it_is_sent(plain: ServerProcess) -> None:
    head = (
        f"POST {BATCHES} HTTP/1.1\r\nHost: 127.0.0.1\r\nx-api-key: k\r\ncontent-type: application/json\r\n"
        f"content-length: {LIMIT + 1}\r\n\r\n"
    ).encode()
    answer = raw_exchange(plain, head)  # no body at all: the server answers from the header
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b'"request_too_large"' in answer


@pytest.mark.slow
def test_endless_chunked_body_is_413_while_it_streams(plain: ServerProcess) -> None:
    host, port = plain.url.removeprefix("http://").split(":")
    chunk = b"x" * (1 << 20)
    frame = b"%x\r\n%s\r\n" % (len(chunk), chunk)
    sent = 0
    answer = b""
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(
            f"POST {BATCHES} HTTP/1.1\r\nHost: 127.0.0.1\r\nx-api-key: k\r\ncontent-type: application/json\r\n"
            "transfer-encoding: chunked\r\n\r\n".encode()
        )
        sock.settimeout(0.0)
        deadline = time.monotonic() + 60
        pending = memoryview(frame)
        while time.monotonic() < deadline:  # keep sending until the server answers (or hangs up)
            try:
                n = sock.send(pending)
                sent += n
                pending = pending[n:] if n < len(pending) else memoryview(frame)
            except BlockingIOError:
                time.sleep(0.001)
            except OSError:
                break
            try:
                data = sock.recv(65536)
                if data:
                    answer += data
                    break
            except BlockingIOError:
                pass
            if sent > 3 * LIMIT:
                break
        sock.settimeout(5)
        try:
            while True:
                data = sock.recv(65536)
                if not data:
                    break
                answer += data
        except OSError:
            pass
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert sent < 2 * LIMIT  # refused as soon as the limit was crossed, not after reading everything
    assert plain.control("GET", "health").status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("POST", "/", 405),  # GET / redirects to the dashboard
        ("GET", "/v1", 404),
        ("GET", "/v1/messages", 404),
        ("GET", "/v2/messages/batches", 404),
        ("GET", "/v1/messages/batches/x/y/z", 404),
        ("PUT", BATCHES, 405),
        ("PATCH", f"{BATCHES}/msgbatch_x", 405),
        ("GET", f"{BATCHES}/msgbatch_x/cancel", 405),
        ("POST", f"{BATCHES}/msgbatch_x/results", 405),
        ("DELETE", "/_batchsim/clock", 405),
        ("GET", "/_batchsim/nothing", 404),
    ],
)
def test_unknown_routes_and_methods(plain: ServerProcess, method: str, path: str, status: int) -> None:
    assert_envelope(call(plain, method, path), status)


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", BATCHES, "GET, HEAD, POST"),  # create and list share the path: both are named
        ("PATCH", f"{BATCHES}/msgbatch_x", "DELETE, GET, HEAD"),
        ("GET", f"{BATCHES}/msgbatch_x/cancel", "POST"),
        ("DELETE", "/_batchsim/clock", "GET, HEAD"),
    ],
)
def test_405_names_the_allowed_methods(plain: ServerProcess, method: str, path: str, allow: str) -> None:
    response = call(plain, method, path)
    assert_envelope(response, 405, "invalid_request_error")
    assert response.headers["allow"] == allow


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=abc",
        "limit=-1",
        "limit=1001",
        "limit=1e3",
        "limit=99999999999999999999999",
        "after_id=msgbatch_unknown",
        "before_id=msgbatch_unknown",
        "after_id=a&before_id=b",
    ],
)
def test_bad_list_queries_are_400(plain: ServerProcess, query: str) -> None:
    assert_envelope(call(plain, "GET", f"{BATCHES}?{query}"), 400, "invalid_request_error")


@pytest.mark.parametrize("batch_id", ["msgbatch_unknown", "x" * 5000, "%00", "..", "msgbatch_%F0%9F%92%A9"])
def test_unknown_batch_ids_are_404(plain: ServerProcess, batch_id: str) -> None:
    for method, suffix in (("GET", ""), ("POST", "/cancel"), ("DELETE", ""), ("GET", "/results")):
        assert_envelope(call(plain, method, f"{BATCHES}/{batch_id}{suffix}"), 404, "not_found_error")


def test_missing_key_is_401(plain: ServerProcess) -> None:
    assert_envelope(call(plain, "GET", BATCHES, key=None), 401, "authentication_error")
    assert_envelope(
        call(plain, "GET", BATCHES, key=None, headers={"authorization": "Basic abc"}), 401, "authentication_error"
    )


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "clock/advance", b"{"),
        ("POST", "clock/advance", b"[]"),
        ("POST", "clock/advance", b'{"seconds": -1}'),
        ("POST", "clock/advance", b'{"seconds": "10"}'),
        ("POST", "clock/advance", b'{"seconds": true}'),
        ("POST", "clock/advance", b'{"seconds": 1, "minutes": 2}'),
        ("PUT", "scenario", b"{"),
        ("PUT", "scenario", b"[]"),
        ("PUT", "scenario", b'{"sed": 1}'),
        ("PUT", "scenario", b'{"timing": {"per_request": -1}}'),
        ("PUT", "scenario", b'{"faults": [{"kind": "explode", "times": 1}]}'),
        ("PUT", "scenario", b'{"rules": [{"custom_id": "(", "result": "errored"}]}'),
        ("PUT", "scenario", b'{"canned": "/nonexistent/file.jsonl"}'),
    ],
)
def test_bad_control_plane_input_is_400(plain: ServerProcess, method: str, path: str, body: bytes) -> None:
    assert_envelope(plain.control(method, path, content=body), 400, "invalid_request_error")


def test_oversize_control_body_is_413(plain: ServerProcess) -> None:
    assert_envelope(plain.control("PUT", "scenario", content=b" " * (2 << 20)), 413, "request_too_large")


def test_state_conflicts_are_400_not_500(plain: ServerProcess) -> None:
    batch_id = _create(plain, {"requests": requests_body(2)}).json()["id"]
    path = f"{BATCHES}/{batch_id}"
    assert_envelope(call(plain, "DELETE", path), 400, "invalid_request_error")
    assert_envelope(call(plain, "GET", path + "/results"), 400, "invalid_request_error")
    plain.advance(3600)
    assert_envelope(call(plain, "POST", path + "/cancel"), 400, "invalid_request_error")
    assert call(plain, "DELETE", path).status_code == 200
    assert_envelope(call(plain, "DELETE", path), 404, "not_found_error")
