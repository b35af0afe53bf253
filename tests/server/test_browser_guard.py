"""What a web page can make a real ``batchsim serve`` do: under a rebound host name it is not
answered (421), from another origin it cannot change the control plane (403), the dashboard is
served with a content security policy, and the command-line tools keep working."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from serverproc import ServerProcess, running_server

from .conftest import assert_envelope, call, log_barrier, requests_body, sdk

pytestmark = pytest.mark.server

BATCHES = "/v1/messages/batches"


def _port(server: ServerProcess) -> str:
    return server.url.rsplit(":", 1)[1]


@pytest.fixture(scope="module")
def guarded_server() -> Iterator[ServerProcess]:
    with running_server() as proc:
        yield proc


@pytest.fixture
def guarded(guarded_server: ServerProcess) -> ServerProcess:
    guarded_server.control("POST", "reset").raise_for_status()
    return guarded_server


# -- DNS rebinding --------------------------------------------------------------------------------


def test_a_rebound_host_name_is_not_answered(guarded: ServerProcess) -> None:
    """A page under attacker.example, pointed at 127.0.0.1, would read the journal (prompts) and
    every key's batches and results as its own: the server answers no such host."""
    client = sdk(guarded)
    batch = client.messages.batches.create(requests=requests_body(2))
    guarded.advance(3600)
    rebound = {"host": f"attacker.example:{_port(guarded)}"}
    for path in (
        "/_batchsim/journal",
        "/_batchsim/batches",
        f"/_batchsim/batches/{batch.id}/results",
        "/_batchsim/ui",
        f"{BATCHES}/{batch.id}/results",
    ):
        answer = call(guarded, "GET", path, headers=rebound)
        assert "attacker.example" in assert_envelope(answer, 421, "invalid_request_error")["error"]["message"]
        assert "custom_id" not in answer.text
    assert_envelope(call(guarded, "POST", "/_batchsim/reset", headers=rebound), 421)
    assert [b.id for b in client.messages.batches.list()] == [batch.id]


def test_loopback_names_and_addresses_are_answered(guarded: ServerProcess) -> None:
    port = _port(guarded)
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"LOCALHOST.:{port}", f"app.localhost:{port}", "[::1]"):
        answer = call(guarded, "GET", "/_batchsim/health", headers={"host": host})
        assert answer.status_code == 200, (host, answer.text)


def test_allowed_hosts_are_an_option() -> None:
    with running_server("--allowed-host", "batchsim.test", "--allowed-host", "ci.test") as server:
        port = _port(server)
        for host in (f"batchsim.test:{port}", f"ci.test:{port}", f"localhost:{port}"):
            assert call(server, "GET", "/_batchsim/health", headers={"host": host}).status_code == 200
        assert_envelope(call(server, "GET", "/_batchsim/health", headers={"host": f"other.test:{port}"}), 421)
    with running_server(env={"BATCHSIM_ALLOWED_HOST": "*"}) as server:
        assert call(server, "GET", "/_batchsim/health", headers={"host": "anything.example"}).status_code == 200


def test_which_hosts_a_server_answers_follows_its_address() -> None:
    from batchsim._serve.guard import allowed_hosts, host_allowed

    # Bound to loopback: loopback names and addresses, and the names given.
    assert allowed_hosts("127.0.0.1", None) == frozenset()
    assert allowed_hosts("::1", ["Batchsim.Test."]) == frozenset({"batchsim.test"})
    # Bound to every address (a compose stack): any host, unless names are given.
    assert allowed_hosts("0.0.0.0", None) is None
    assert allowed_hosts("::", None) is None
    assert allowed_hosts("0.0.0.0", ["ci.internal"]) == frozenset({"ci.internal"})
    assert allowed_hosts("127.0.0.1", ["*"]) is None
    names = frozenset({"ci.internal"})
    assert host_allowed(b"ci.internal:8000", names, any_address=True)
    assert host_allowed(b"10.0.0.7:8000", names, any_address=True)  # an address cannot be rebound
    assert not host_allowed(b"10.0.0.7:8000", names, any_address=False)
    assert not host_allowed(b"attacker.example", names, any_address=True)
    assert host_allowed(b"127.0.0.2", names, any_address=False)
    assert not host_allowed(b"[::1", names, any_address=False)


# -- cross-site requests ------------------------------------------------------------------------------


_BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"
CROSS_SITE = [
    {"origin": "http://127.0.0.1:9999"},  # a page on another local port
    {"origin": "null"},  # a sandboxed frame or a file
    {"sec-fetch-site": "same-site"},
    {"sec-fetch-site": "cross-site"},
    # What a no-cors fetch sends, from a browser that would send no Origin:
    {"content-type": "text/plain;charset=UTF-8", "user-agent": _BROWSER},
    {"content-type": "application/x-www-form-urlencoded", "user-agent": _BROWSER},
    {"content-type": "multipart/form-data; boundary=x", "user-agent": _BROWSER},
]


@pytest.mark.parametrize("headers", CROSS_SITE, ids=lambda h: "-".join(f"{k}={v}" for k, v in h.items()))
def test_a_control_plane_change_from_another_site_is_refused(guarded: ServerProcess, headers: dict[str, str]) -> None:
    client = sdk(guarded)
    batch = client.messages.batches.create(requests=requests_body(1))
    before = guarded.control("GET", "clock").json()["now"]
    for method, path, body in (
        ("POST", "reset", b""),
        ("POST", "clock/advance", b'{"seconds": 3600}'),
        ("PUT", "scenario", b'{"faults": [{"status": 529, "rate": 1}]}'),
        ("DELETE", "journal", b""),
    ):
        answer = guarded.control(method, path, content=body, headers=headers)
        assert "another site" in assert_envelope(answer, 403, "permission_error")["error"]["message"]
    assert [b.id for b in client.messages.batches.list()] == [batch.id]
    assert guarded.control("GET", "clock").json()["now"] == before
    assert guarded.control("GET", "scenario").json().get("faults", []) == []
    assert guarded.control("GET", "journal").json()["calls"]


def test_the_servers_own_pages_and_tools_change_it(guarded: ServerProcess, tmp_path: Path) -> None:
    own = {"origin": guarded.url, "sec-fetch-site": "same-origin", "content-type": "application/json"}
    assert guarded.control("POST", "clock/advance", json={"seconds": 60}, headers=own).status_code == 200
    assert guarded.control("POST", "reset", headers={"sec-fetch-site": "none"}).status_code == 200
    scenario = tmp_path / "s.toml"
    scenario.write_text("seed = 3\n")
    for args in (("advance", "1h"), ("reset",), ("scenario", "set", str(scenario))):
        done = subprocess.run(
            [sys.executable, "-m", "batchsim", *args, "--url", guarded.url],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
    assert guarded.control("GET", "scenario").json()["seed"] == 3


def test_tools_that_send_a_simple_content_type_still_change_it(guarded: ServerProcess) -> None:
    """``curl -d`` sends a form type, Node's ``fetch`` with a string body text/plain: no browser,
    no site to defend against."""
    for agent, kind in (("curl/8.5.0", "application/x-www-form-urlencoded"), ("node", "text/plain;charset=UTF-8")):
        headers = {"user-agent": agent, "content-type": kind}
        answer = guarded.control("POST", "clock/advance", content=b'{"seconds": 60}', headers=headers)
        assert answer.status_code == 200, answer.text


def test_the_dashboard_is_served_with_a_content_security_policy(guarded: ServerProcess) -> None:
    for path in ("/_batchsim/ui", "/_batchsim/ui/static/app.js", "/_batchsim/ui/static/style.css"):
        answer = httpx2.get(guarded.url + path, timeout=30)
        assert answer.status_code == 200
        policy = answer.headers["content-security-policy"]
        assert "default-src 'self'" in policy and "script-src 'self';" in policy
        assert "unsafe-inline" not in policy.split("script-src", 1)[1].split(";", 1)[0]
        assert "frame-ancestors 'none'" in policy
        assert answer.headers["x-frame-options"] == "DENY"
        assert answer.headers["x-content-type-options"] == "nosniff"


def test_api_keys_without_an_admin_token_are_warned_about() -> None:
    with running_server("--api-key", "team-a") as server:
        log_barrier(server)
        assert "--api-key without --admin-token" in "".join(server.output)
    with running_server("--api-key", "team-a", "--admin-token", "t") as server:
        log_barrier(server)
        assert "--api-key without --admin-token" not in "".join(server.output)
