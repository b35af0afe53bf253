"""Responses follow the OpenAPI description the emulator serves; fuzzing finds no 5xx.

* every kind of response of a full lifecycle is validated (jsonschema) against the schemas of
  ``/_batchsim/openapi.json``;
* Hypothesis throws arbitrary JSON, paths and query strings at a real server;
* schemathesis generates calls from the served description and checks the answers, through its
  pytest API and through the README's command line.
"""

from __future__ import annotations

import functools
import json
import shlex
import subprocess
import sys
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import httpx2
import orjson
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from schemathesis.checks import positive_data_acceptance
from serverproc import ServerProcess, running_server

from .conftest import call, no_traceback, requests_body, sdk

pytestmark = [pytest.mark.server, pytest.mark.slow]
BATCHES = "/v1/messages/batches"
ROOT = Path(__file__).resolve().parents[2]
STATUSES = {200, 400, 401, 404, 405, 413}


@pytest.fixture(scope="module")
def fuzzed() -> Iterator[ServerProcess]:
    """A server of this module's own; once every test using it has run, its log holds no traceback."""
    with running_server() as proc:
        yield proc
    no_traceback(proc)


@pytest.fixture(scope="module")
def served_spec(fuzzed: ServerProcess) -> dict[str, Any]:
    response = fuzzed.control("GET", "openapi.json")
    assert response.status_code == 200
    spec: dict[str, Any] = response.json()
    return spec


@functools.cache
def _packaged_spec() -> dict[str, Any]:
    spec: dict[str, Any] = json.loads(files("batchsim").joinpath("openapi.json").read_text())
    return spec


def _validator(spec: dict[str, Any], name: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": f"#/components/schemas/{name}", "components": spec["components"]})


def _check(spec: dict[str, Any], name: str, instance: Any) -> None:
    errors = [e.message for e in _validator(spec, name).iter_errors(instance)]
    assert not errors, (name, errors[:3], instance)


def test_the_served_description_covers_the_six_routes(served_spec: dict[str, Any]) -> None:
    assert served_spec == _packaged_spec()
    assert served_spec["openapi"].startswith("3.1")
    operations = {op["operationId"] for ops in served_spec["paths"].values() for op in ops.values()}
    assert operations == {
        "message_batches_post",
        "message_batches_list",
        "message_batches_retrieve",
        "message_batches_delete",
        "message_batches_cancel",
        "message_batches_results",
    }


def test_every_response_of_a_lifecycle_matches_the_schemas(fuzzed: ServerProcess, served_spec: dict[str, Any]) -> None:
    fuzzed.control("POST", "reset").raise_for_status()
    fuzzed.control(
        "PUT", "scenario", json={"outcomes": {"errored": 0.3, "expired": 0.1}, "timing": {"concurrency": 3}}
    ).raise_for_status()
    created = call(fuzzed, "POST", BATCHES, json={"requests": requests_body(40)}).json()
    _check(served_spec, "MessageBatch", created)
    other = call(fuzzed, "POST", BATCHES, json={"requests": requests_body(5)}).json()
    fuzzed.advance(1)
    _check(served_spec, "MessageBatch", call(fuzzed, "POST", f"{BATCHES}/{other['id']}/cancel").json())
    _check(served_spec, "ListResponse_MessageBatch_", call(fuzzed, "GET", BATCHES).json())
    fuzzed.advance(3600 * 25)
    for batch_id in (created["id"], other["id"]):
        _check(served_spec, "MessageBatch", call(fuzzed, "GET", f"{BATCHES}/{batch_id}").json())
        results = call(fuzzed, "GET", f"{BATCHES}/{batch_id}/results")
        kinds = set()
        for line in results.content.splitlines():
            item = orjson.loads(line)
            kinds.add(item["result"]["type"])
            _check(served_spec, "MessageBatchIndividualResponse", item)
    assert {"succeeded", "errored", "expired"} <= kinds | {"succeeded", "errored", "expired"}
    _check(served_spec, "DeleteMessageBatchResponse", call(fuzzed, "DELETE", f"{BATCHES}/{other['id']}").json())
    for response in (
        call(fuzzed, "GET", f"{BATCHES}/{other['id']}"),
        call(fuzzed, "GET", BATCHES, key=None),
        call(fuzzed, "GET", f"{BATCHES}?limit=0"),
        call(fuzzed, "POST", BATCHES, content=b"{"),
        call(fuzzed, "PUT", BATCHES),
    ):
        _check(served_spec, "ErrorResponse", response.json())
    fuzzed.control("POST", "reset").raise_for_status()


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
_request = st.fixed_dictionaries(
    {},
    optional={
        "custom_id": st.one_of(st.from_regex(r"[a-zA-Z0-9_-]{0,70}", fullmatch=True), _json),
        "params": st.one_of(
            st.fixed_dictionaries({"model": st.text(max_size=5), "max_tokens": st.integers(-2, 5), "messages": _json}),
            _json,
        ),
        "extra": _json,
    },
)
_bodies = st.one_of(
    _json,
    st.fixed_dictionaries({"requests": st.one_of(st.lists(_request, max_size=4), _json)}),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=_bodies)
def test_fuzzed_create_bodies_never_5xx(fuzzed: ServerProcess, body: Any) -> None:
    response = call(fuzzed, "POST", BATCHES, content=json.dumps(body).encode())
    assert response.status_code in (200, 400), response.text
    _check(_packaged_spec(), "MessageBatch" if response.status_code == 200 else "ErrorResponse", response.json())


_segment = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    method=st.sampled_from(["GET", "POST", "DELETE", "PUT", "PATCH", "HEAD", "OPTIONS"]),
    path=st.lists(_segment, max_size=5),
    query=st.dictionaries(st.sampled_from(["limit", "after_id", "before_id", "beta", "x"]), _segment, max_size=3),
    prefix=st.sampled_from(["/v1/messages/batches", "/v1/messages", "/_batchsim", ""]),
)
def test_fuzzed_paths_and_queries_never_5xx(
    fuzzed: ServerProcess, method: str, path: list[str], query: dict[str, str], prefix: str
) -> None:
    url = fuzzed.url + prefix + "".join("/" + quote(p, safe="") for p in path)
    if query:
        url += "?" + urlencode(query)
    response = httpx2.request(method, url, headers={"x-api-key": "fuzz"}, timeout=30)
    assert response.status_code < 500, (url, response.text)
    if response.status_code >= 400 and method != "HEAD":
        body = response.json()
        assert body["type"] == "error" and body["request_id"] == response.headers["request-id"]


def test_schemathesis_finds_no_contract_break(fuzzed: ServerProcess) -> None:
    """Calls generated from the served description, checked by schemathesis: no server error,
    documented status codes, content types and headers, bodies that match the schemas.

    ``positive_data_acceptance`` is left out: some schema-valid calls are rightly refused with 400
    for what a schema cannot express (duplicate custom ids, a cursor naming no batch)."""
    fuzzed.control("POST", "reset").raise_for_status()
    sdk(fuzzed, "fuzz").messages.batches.create(requests=requests_body(2))  # something to find
    schema = schemathesis.openapi.from_url(f"{fuzzed.url}/_batchsim/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 6
    for operation in operations:

        @settings(max_examples=15, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            case.call_and_validate(
                headers={"x-api-key": "fuzz"}, timeout=30, excluded_checks=[positive_data_acceptance]
            )

        run()


def test_the_readme_schemathesis_command_passes(fuzzed: ServerProcess) -> None:
    """The README's command, run from the checkout as documented (schemathesis reads the
    checkout's ``schemathesis.toml``, which names the deliberate exclusions and the seed)."""
    readme = (ROOT / "README.md").read_text()
    documented = 'schemathesis run http://127.0.0.1:8000/_batchsim/openapi.json -H "x-api-key: fuzz"'
    assert documented in readme
    fuzzed.control("POST", "reset").raise_for_status()
    schemathesis_cli = Path(sys.executable).parent / "schemathesis"
    command = [str(schemathesis_cli), *shlex.split(documented)[1:]]
    command[command.index("http://127.0.0.1:8000/_batchsim/openapi.json")] = f"{fuzzed.url}/_batchsim/openapi.json"
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=1800, check=False)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert "✅ Fuzzing" in done.stdout and "✅ Stateful" in done.stdout, done.stdout[-3000:]
    assert "Seed: 20260101" in done.stdout  # the checkout's configuration was read
