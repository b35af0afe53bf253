"""Responses follow the OpenAPI descriptions the emulator serves; fuzzing finds no 5xx.

* each provider's description (``/_batchsim/openapi.json?provider=...``) names every route the
  emulator answers for it;
* every kind of response of a full lifecycle of each provider is validated (jsonschema) against
  the schemas of its description;
* Hypothesis throws arbitrary JSON, paths and query strings at a real server;
* schemathesis generates calls from each served description and checks the answers, through its
  pytest API and through the README's command lines.
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
DOCUMENTS = {"anthropic": "openapi.json", "openai": "openapi-openai.json", "gemini": "openapi-gemini.json"}
KEY_HEADERS = {"anthropic": "x-api-key: fuzz", "openai": "Authorization: Bearer fuzz", "gemini": "x-goog-api-key: fuzz"}
README_COMMANDS = {
    "anthropic": 'schemathesis run http://127.0.0.1:8000/_batchsim/openapi.json -H "x-api-key: fuzz"',
    "openai": 'schemathesis run "http://127.0.0.1:8000/_batchsim/openapi.json?provider=openai" '
    '-H "Authorization: Bearer fuzz"',
    "gemini": 'schemathesis run "http://127.0.0.1:8000/_batchsim/openapi.json?provider=gemini" '
    '-H "x-goog-api-key: fuzz"',
}
ANTHROPIC_OPERATIONS = {
    "message_batches_post",
    "message_batches_list",
    "message_batches_retrieve",
    "message_batches_delete",
    "message_batches_cancel",
    "message_batches_results",
    "messages_count_tokens_post",
    "models_list",
    "models_get",
    "beta_upload_file_v1_files_post",
    "beta_list_files_v1_files_get",
    "beta_download_file_v1_files__file_id__content_get",
    "beta_get_file_metadata_v1_files__file_id__get",
    "beta_delete_file_v1_files__file_id__delete",
}
OPENAI_OPERATIONS = {
    "createBatch",
    "listBatches",
    "retrieveBatch",
    "cancelBatch",
    "createFile",
    "listFiles",
    "retrieveFile",
    "deleteFile",
    "downloadFile",
}
GEMINI_OPERATIONS = {
    f"{v}.{op}"
    for v in ("v1", "v1beta")
    for op in (
        "models.batchGenerateContent",
        "models.asyncBatchEmbedContent",
        "batches.list",
        "batches.get",
        "batches.cancel",
        "batches.delete",
        "files.upload",
        "files.upload.session",
        "files.list",
        "files.get",
        "files.delete",
        "files.download",
        "files.download.guide",
    )
}


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
def _packaged_spec(provider: str = "anthropic") -> dict[str, Any]:
    spec: dict[str, Any] = json.loads(files("batchsim").joinpath(DOCUMENTS[provider]).read_text())
    return spec


def _validator(spec: dict[str, Any], name: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": f"#/components/schemas/{name}", "components": spec["components"]})


def _check(spec: dict[str, Any], name: str, instance: Any) -> None:
    errors = [e.message for e in _validator(spec, name).iter_errors(instance)]
    assert not errors, (name, errors[:3], instance)


@pytest.mark.parametrize(
    ("provider", "operations"),
    [("anthropic", ANTHROPIC_OPERATIONS), ("openai", OPENAI_OPERATIONS), ("gemini", GEMINI_OPERATIONS)],
)
def test_each_provider_has_a_description_of_its_routes(
    fuzzed: ServerProcess, provider: str, operations: set[str]
) -> None:
    response = fuzzed.control("GET", f"openapi.json?provider={provider}")
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/json")
    spec = response.json()
    assert spec == _packaged_spec(provider)
    assert spec["openapi"].startswith("3.1")
    Draft202012Validator.check_schema({"components": spec["components"]})
    assert {op["operationId"] for ops in spec["paths"].values() for op in ops.values()} == operations
    # Every route described is one the emulator answers: a call without a key is refused, or names
    # no such batch or file (a route of no key), and is neither unknown nor of another method.
    for path, ops in spec["paths"].items():
        concrete = path.replace("{", "").replace("}", "")
        for method in ops:
            answered = httpx2.request(method.upper(), fuzzed.url + concrete, timeout=30)
            assert answered.status_code in (400, 401, 403, 404), (method, path, answered.text)
            assert "Not found: " not in answered.text, (method, path, answered.text)


@pytest.mark.parametrize("provider", ["anthropic", "openai", "gemini"])
def test_an_empty_query_parameter_is_answered_as_described(fuzzed: ServerProcess, provider: str) -> None:
    """``allowEmptyValue`` says an empty value is the parameter's default (the list answers 200);
    an empty value of any other parameter whose schema refuses "" is refused with 400."""
    headers = dict(
        [KEY_HEADERS[provider].split(": ")], **({"anthropic-version": "2023-06-01"} if provider == "anthropic" else {})
    )
    answers = {}
    for path, ops in _packaged_spec(provider)["paths"].items():
        for method, op in ops.items():
            for parameter in op.get("parameters", []):
                if parameter["in"] != "query" or "{" in path:
                    continue
                schema = parameter.get("schema", {})
                takes_empty = schema.get("type", "string") == "string" and Draft202012Validator(schema).is_valid("")
                if takes_empty and not parameter.get("allowEmptyValue"):
                    continue  # "" is a value of it like any other
                url = f"{path}?{parameter['name']}="
                status = httpx2.request(method.upper(), fuzzed.url + url, headers=headers, timeout=30).status_code
                answers[url] = status == (200 if parameter.get("allowEmptyValue") else 400)
    assert answers and all(answers.values()), answers


def test_the_default_description_is_anthropics(fuzzed: ServerProcess, served_spec: dict[str, Any]) -> None:
    assert served_spec == _packaged_spec("anthropic")
    assert fuzzed.control("GET", "openapi.json?provider=anthropic").json() == served_spec


def test_an_unknown_provider_is_refused_in_the_envelope(fuzzed: ServerProcess) -> None:
    response = fuzzed.control("GET", "openapi.json?provider=mistral")
    assert response.status_code == 400
    body = response.json()
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    assert "anthropic, openai, gemini" in body["error"]["message"]


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


def test_every_openai_response_of_a_lifecycle_matches_its_description(fuzzed: ServerProcess) -> None:
    spec = _packaged_spec("openai")
    fuzzed.control("POST", "reset").raise_for_status()
    fuzzed.control("PUT", "scenario", json={"outcomes": {"errored": 0.3}}).raise_for_status()
    auth = {"Authorization": "Bearer fuzz"}

    def openai(method: str, path: str, **kwargs: Any) -> httpx2.Response:
        return httpx2.request(method, fuzzed.url + path, headers=auth, timeout=60, **kwargs)

    lines = b"".join(
        orjson.dumps(
            {
                "custom_id": f"r{i}",
                "method": "POST",
                "url": "/v1/chat/completions",
                "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"hi {i}"}]},
            }
        )
        + b"\n"
        for i in range(20)
    )
    uploaded = openai("POST", "/v1/files", files={"file": ("in.jsonl", lines)}, data={"purpose": "batch"}).json()
    _check(spec, "OpenAIFile", uploaded)
    body = {"input_file_id": uploaded["id"], "endpoint": "/v1/chat/completions", "completion_window": "24h"}
    created = openai("POST", "/v1/batches", json=body).json()
    _check(spec, "Batch", created)
    other = openai("POST", "/v1/batches", json=body).json()
    fuzzed.advance(1)
    _check(spec, "Batch", openai("POST", f"/v1/batches/{other['id']}/cancel").json())
    _check(spec, "ListBatchesResponse", openai("GET", "/v1/batches").json())
    fuzzed.advance(3600 * 25)
    ended = openai("GET", f"/v1/batches/{created['id']}").json()
    _check(spec, "Batch", ended)
    _check(spec, "Batch", openai("GET", f"/v1/batches/{other['id']}").json())
    assert ended["status"] == "completed" and ended["output_file_id"] and ended["error_file_id"]
    listed = openai("GET", "/v1/files").json()
    _check(spec, "ListFilesResponse", listed)
    for file in listed["data"]:
        _check(spec, "OpenAIFile", openai("GET", f"/v1/files/{file['id']}").json())
    assert openai("GET", f"/v1/files/{ended['output_file_id']}/content").content.count(b"\n") >= 1
    _check(spec, "DeleteFileResponse", openai("DELETE", f"/v1/files/{ended['error_file_id']}").json())
    for response in (
        openai("GET", f"/v1/files/{ended['error_file_id']}"),
        openai("GET", "/v1/batches/batch_nothing"),
        openai("GET", "/v1/batches?limit=0"),
        openai("POST", "/v1/batches", content=b"{"),
        httpx2.get(fuzzed.url + "/v1/batches", timeout=30),
    ):
        assert 400 <= response.status_code < 500, response.text
        _check(spec, "ErrorResponse", response.json())
    fuzzed.control("POST", "reset").raise_for_status()


def test_every_gemini_response_of_a_lifecycle_matches_its_description(fuzzed: ServerProcess) -> None:
    spec = _packaged_spec("gemini")
    fuzzed.control("POST", "reset").raise_for_status()
    fuzzed.control("PUT", "scenario", json={"outcomes": {"errored": 0.3}}).raise_for_status()

    def gemini(method: str, path: str, **kwargs: Any) -> httpx2.Response:
        return httpx2.request(method, fuzzed.url + path, headers={"x-goog-api-key": "fuzz"}, timeout=60, **kwargs)

    requests = [
        {"request": {"contents": [{"role": "user", "parts": [{"text": f"hi {i}"}]}]}, "metadata": {"key": f"r{i}"}}
        for i in range(20)
    ]
    body = {"batch": {"displayName": "lifecycle", "inputConfig": {"requests": {"requests": requests}}}}
    created = gemini("POST", "/v1beta/models/gemini-2.5-flash:batchGenerateContent", json=body).json()
    _check(spec, "Operation", created)
    embed = {"request": {"content": {"parts": [{"text": "hi"}]}}, "metadata": {"key": "e"}}
    embeds = {"batch": {"inputConfig": {"requests": {"requests": [embed]}}}}
    embedding = gemini("POST", "/v1/models/gemini-embedding-001:asyncBatchEmbedContent", json=embeds).json()
    _check(spec, "Operation", embedding)
    other = gemini("POST", "/v1/models/gemini-2.5-flash:batchGenerateContent", json=body).json()
    fuzzed.advance(1)
    _check(spec, "Empty", gemini("POST", f"/v1beta/{other['name']}:cancel").json())
    _check(spec, "ListOperationsResponse", gemini("GET", "/v1beta/batches?pageSize=2").json())
    fuzzed.advance(3600 * 25)
    for name in (created["name"], embedding["name"], other["name"]):
        operation = gemini("GET", f"/v1beta/{name}").json()
        _check(spec, "Operation", operation)
        assert operation["done"] is True
    _check(spec, "ListFilesResponse", gemini("GET", "/v1beta/files").json())
    _check(spec, "Empty", gemini("DELETE", f"/v1beta/{other['name']}").json())
    for response in (
        gemini("GET", f"/v1beta/{other['name']}"),
        gemini("GET", "/v1beta/batches?pageSize=-1"),
        gemini("POST", "/v1beta/models/gemini-2.5-flash:batchGenerateContent", content=b"{"),
        gemini("POST", f"/v1beta/{created['name']}:cancel"),
        httpx2.get(fuzzed.url + "/v1beta/batches", timeout=30),
    ):
        assert 400 <= response.status_code < 500, response.text
        _check(spec, "ErrorResponse", response.json())
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


@pytest.mark.parametrize("provider", ["anthropic", "openai", "gemini"])
def test_schemathesis_finds_no_contract_break(fuzzed: ServerProcess, provider: str) -> None:
    """Calls generated from a provider's served description, checked by schemathesis: no server
    error, documented status codes, content types and headers, bodies that match the schemas.

    ``positive_data_acceptance`` is left out: some schema-valid calls are rightly refused with 400
    for what a schema cannot express (duplicate custom ids, a cursor naming no batch)."""
    fuzzed.control("POST", "reset").raise_for_status()
    sdk(fuzzed, "fuzz").messages.batches.create(requests=requests_body(2))  # something to find
    schema = schemathesis.openapi.from_url(f"{fuzzed.url}/_batchsim/openapi.json?provider={provider}")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == sum(len(ops) for ops in _packaged_spec(provider)["paths"].values())
    name, value = KEY_HEADERS[provider].split(": ")
    for operation in operations:

        @settings(max_examples=8, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            case.call_and_validate(headers={name: value}, timeout=30, excluded_checks=[positive_data_acceptance])

        run()


@pytest.mark.parametrize("provider", ["anthropic", "openai", "gemini"])
def test_the_readme_schemathesis_command_passes(fuzzed: ServerProcess, provider: str) -> None:
    """The README's command for each provider, run from the checkout as documented (schemathesis
    reads the checkout's ``schemathesis.toml``, which names the deliberate exclusions and the seed):
    every phase passes, with no server error."""
    documented = README_COMMANDS[provider]
    assert documented in (ROOT / "README.md").read_text()
    fuzzed.control("POST", "reset").raise_for_status()
    schemathesis_cli = Path(sys.executable).parent / "schemathesis"
    command = [str(schemathesis_cli), *shlex.split(documented)[1:]]
    command[2] = command[2].replace("http://127.0.0.1:8000", fuzzed.url)
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=1800, check=False)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert "✅ Fuzzing" in done.stdout and "✅ Stateful" in done.stdout, done.stdout[-3000:]
    assert "Seed: 20260101" in done.stdout  # the checkout's configuration was read
