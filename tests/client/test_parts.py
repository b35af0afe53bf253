"""Small parts on their own: retry-after parsing, backoff, the progress display."""

from __future__ import annotations

import io

import anthropic
import httpx2
import pytest

from batchclient import Progress, RetryPolicy
from batchclient._api import Api, is_transient, retry_after


def _error(status: int, headers: dict[str, str]) -> anthropic.APIStatusError:
    request = httpx2.Request("GET", "http://127.0.0.1/v1/messages/batches/x")
    response = httpx2.Response(status, headers=headers, request=request)
    kind = anthropic.BadRequestError if status == 400 else anthropic.APIStatusError
    return kind("boom", response=response, body=None)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after": "3"}, 3.0),
        ({"retry-after-ms": "0", "retry-after": "2"}, 2.0),
        ({"retry-after": "0"}, None),
        ({"retry-after": "soon"}, None),
        ({}, None),
    ],
)
def test_retry_after_headers(headers: dict[str, str], expected: float | None) -> None:
    assert retry_after(_error(429, headers)) == expected


def test_retry_after_http_date_in_the_past_is_ignored() -> None:
    assert retry_after(_error(529, {"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"})) is None


def test_transient_errors_and_waits() -> None:
    assert is_transient(_error(429, {})) and is_transient(_error(529, {})) and is_transient(_error(500, {}))
    assert not is_transient(_error(400, {})) and not is_transient(_error(404, {}))
    client = anthropic.Anthropic(base_url="http://127.0.0.1:9", api_key="k")
    api = Api(client, RetryPolicy(attempts=3, base=1.0, cap=4.0))
    assert api.delay(_error(429, {"retry-after": "7"}), attempt=0) == 7.0  # the server's word wins
    assert 2.0 <= api.delay(_error(500, {}), attempt=2) <= 4.0  # 1 * 2**2 with jitter in [0.5, 1]
    assert 2.0 <= api.delay(_error(500, {}), attempt=9) <= 4.0  # capped
    slept: list[float] = []
    api = Api(client, RetryPolicy(attempts=3, base=0.01), sleep=slept.append)
    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise _error(529, {"retry-after-ms": "5"})
        return "ok"

    assert api.call("test", flaky) == "ok"
    assert slept == [0.005, 0.005]
    with pytest.raises(anthropic.BadRequestError):
        api.call("test", lambda: (_ for _ in ()).throw(_error(400, {})))
    client.close()


def test_progress_on_a_terminal_redraws_one_line() -> None:
    out = io.StringIO()
    progress = Progress(out, tty=True)
    progress.status(0, [("msgbatch_aaaaaa111111", 0, 10), ("msgbatch_bbbbbb222222", 0, 5)], 0, 15)
    progress.log("submitted batch x")
    progress.status(0, [("msgbatch_aaaaaa111111", 10, 10), ("msgbatch_bbbbbb222222", 0, 5)], 10, 15)
    progress.close()
    text = out.getvalue()
    assert text.count("\r\x1b[K") >= 3
    assert "round 0: 1/2 batches ended, 10/15 requests done [111111 10/10] [222222 0/5]" in text
    assert "ETA 0:00:00" in text and "submitted batch x\n" in text and text.endswith("\n")


def test_progress_off_a_terminal_writes_log_lines() -> None:
    out = io.StringIO()
    progress = Progress(out, tty=False, heartbeat=3600)
    progress.status(1, [("b", 0, 3)], 0, 3)
    progress.status(1, [("b", 0, 3)], 0, 3)  # within the heartbeat: not repeated
    progress.log("batch b ended")
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and all(line.startswith("[batchclient ") for line in lines)
    assert "\r" not in out.getvalue()
