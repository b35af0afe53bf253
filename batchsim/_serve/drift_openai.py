"""OpenAI's script for ``batchsim drift``: the Files + Batch API's workflow, the cheapest faithful way.

A 3-line input file (a plain chat completion, a forced tool call, a JSON-schema answer) is
uploaded; a batch of it is created, polled to its end, and its output and error files
downloaded. Around it: the file's object, the synchronous refusals of a create (a
``completion_window`` other than ``24h``, an unknown endpoint), an unknown id, no key, a bad
``limit``, the wrong-state cancel of an ended batch (409), and a second batch whose input has bad
lines (it fails validation, which costs nothing: its ``errors.data`` codes are compared). At the
end the uploaded input files are deleted (then 404). What is compared is what drift compares for
every provider (:mod:`.drift`): statuses, ``x-request-id``, shapes, and the value of enum fields
(``status``, ``object``, ``code``, ``status_code``, ``finish_reason``...).

OpenAI's batches cannot be deleted: the upstream's are canceled if still running when drift stops,
and the files drift uploaded, and the output and error files of its batches, are deleted.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import orjson

from .drift import BATCH_ID, SIDES, DriftError, Observation, Run, describe, multipart
from .upstreams import OPENAI, Upstream

__all__ = ["OpenAIRun", "bad_lines", "probe_lines"]

PREFIX = "/v1/batches"
ENDPOINT = "/v1/chat/completions"
UNKNOWN_BATCH = "batch_0123456789abcdef0123456789abcdef"
UNKNOWN_FILE = "file-0123456789abcdefABCDEFGH"
ENDED = frozenset({"completed", "failed", "expired", "cancelled"})


def _line(custom_id: str, body: dict[str, Any], url: str = ENDPOINT) -> dict[str, Any]:
    return {"custom_id": custom_id, "method": "POST", "url": url, "body": body}


def probe_lines(model: str) -> bytes:
    """The probe batch's input file: a success, a forced tool call, an answer in a JSON schema."""
    user = [{"role": "user", "content": "Reply with the word OK."}]
    tool = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The current weather in a city.",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "string"}},
        "required": ["answer"],
        "additionalProperties": False,
    }
    lines = [
        _line("drift-ok", {"model": model, "max_completion_tokens": 32, "messages": user}),
        _line(
            "drift-tool",
            {
                "model": model,
                "max_completion_tokens": 128,
                "tools": [tool],
                "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
                "messages": [{"role": "user", "content": "What is the weather in Paris?"}],
            },
        ),
        _line(
            "drift-json",
            {
                "model": model,
                "max_completion_tokens": 64,
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "answer", "schema": schema, "strict": True},
                },
                "messages": user,
            },
        ),
    ]
    return b"".join(orjson.dumps(line) + b"\n" for line in lines)


def bad_lines(model: str) -> bytes:
    """An input file the batch's validation refuses: a line whose ``url`` is not the batch's
    endpoint, a line that is not JSON, a line without ``custom_id`` (the first line is JSON: an
    upload whose first line is not is refused at once)."""
    body = {"model": model, "messages": [{"role": "user", "content": "Reply with the word OK."}]}
    url = orjson.dumps(_line("drift-url", body, "/v1/embeddings"))
    missing = orjson.dumps({"method": "POST", "url": ENDPOINT, "body": body})
    return url + b'\n{"custom_id": "drift-not-json", \n' + missing + b"\n"


def _ended(batch: Any) -> bool:
    return isinstance(batch, dict) and batch.get("status") in ENDED


def _batch(batch_id: str) -> str:
    return f"{PREFIX}/{batch_id}"


def _file_id(batch: Any, member: str) -> str | None:
    """An output or error file id of a batch object, when there is one drift can put in a URL."""
    found = batch.get(member) if isinstance(batch, dict) else None
    return found if isinstance(found, str) and BATCH_ID.fullmatch(found) else None


def _sides() -> dict[str, str | None]:
    return {"upstream": None, "local": None}


@dataclass
class OpenAIRun(Run):
    """The OpenAI script (see the module's docstring)."""

    inputs: dict[str, str | None] = field(default_factory=_sides)
    """The probe's input file on each side."""
    bad_inputs: dict[str, str | None] = field(default_factory=_sides)
    bad: dict[str, str | None] = field(default_factory=_sides)
    """The batch whose input has bad lines, on each side."""
    outputs: list[str] = field(default_factory=list)
    """The upstream's output and error files of drift's batches (deleted at the end)."""
    strays: list[str] = field(default_factory=list)
    """Upstream batches a refusal probe created all the same (canceled at the end)."""
    inputs_deleted: bool = False

    api: ClassVar[Upstream] = OPENAI
    unknown_id: ClassVar[str] = UNKNOWN_BATCH

    def upload(self, step: str, data: bytes, into: dict[str, str | None]) -> None:
        content, media = multipart([("purpose", "batch"), ("file", ("drift.jsonl", data, "application/jsonl"))])
        seen = self.both(step, "POST", "/v1/files", content=content, content_type=media)
        self.kept("file", dict(zip(SIDES, seen, strict=True)), into, action="file upload")

    def create(self, step: str, files: dict[str, str | None], into: dict[str, str | None]) -> None:
        def body(side: str) -> dict[str, Any]:
            return {
                "input_file_id": files[side] or UNKNOWN_FILE,
                "endpoint": ENDPOINT,
                "completion_window": "24h",
                "metadata": {"source": "batchsim-drift"},
            }

        seen = {side: self.target(side).call("POST", PREFIX, body=body(side)) for side in SIDES}
        self.compare(step, seen["upstream"], seen["local"])
        self.kept("batch", seen, into)

    def steps(self) -> None:
        self.upload("files upload", probe_lines(self.model), self.inputs)
        self.each("files retrieve", "GET", lambda side: f"/v1/files/{self.inputs[side]}")
        self.create("create", self.inputs, self.ids)
        self.refusal_steps()
        self.running_step()
        upstream_end, local_end = self.finish(self.ids, "batch")
        self.keep_outputs(upstream_end)
        self.compare("retrieve (ended)", upstream_end, local_end)
        self.files_steps({"upstream": upstream_end.json(), "local": local_end.json()})
        self.both("cancel after the end (wrong state)", "POST", lambda b: f"{_batch(b)}/cancel", retries=0)
        self.both("list", "GET", f"{PREFIX}?limit=1")
        self.upload("files upload (an input with bad lines)", bad_lines(self.model), self.bad_inputs)
        self.create("create (an input with bad lines)", self.bad_inputs, self.bad)
        upstream_failed, local_failed = self.finish(self.bad, "batch with bad lines")
        self.keep_outputs(upstream_failed)
        self.compare("retrieve (failed validation)", upstream_failed, local_failed)
        deleted = self.each("files delete", "DELETE", lambda side: f"/v1/files/{self.inputs[side]}")
        self.inputs_deleted = deleted[0].status == 200
        self.each("files retrieve after delete", "GET", lambda side: f"/v1/files/{self.inputs[side]}")

    def refusal_steps(self) -> None:
        """What a create refuses at once, unknown ids, no key, a bad ``limit``."""
        for step, change in (
            ("create with completion_window 48h (bad input)", {"completion_window": "48h"}),
            ("create with an unknown endpoint (bad input)", {"endpoint": "/v1/unknown"}),
        ):

            def body(side: str, change: dict[str, str] = change) -> dict[str, Any]:
                found = {"input_file_id": self.inputs[side], "endpoint": ENDPOINT, "completion_window": "24h"}
                return {**found, **change}

            seen = {side: self.target(side).call("POST", PREFIX, body=body(side), retries=0) for side in SIDES}
            self.compare(step, seen["upstream"], seen["local"])
            made = seen["upstream"].json()
            if seen["upstream"].status == 200 and isinstance(made, dict) and BATCH_ID.fullmatch(str(made.get("id"))):
                self.strays.append(str(made["id"]))
        self.both("retrieve an unknown id", "GET", _batch(UNKNOWN_BATCH))
        self.both("retrieve without a key", "GET", _batch, key=False)
        self.both("list with limit=0 (bad input)", "GET", f"{PREFIX}?limit=0", retries=0)
        self.both("files retrieve an unknown id", "GET", f"/v1/files/{UNKNOWN_FILE}")

    def running_step(self) -> None:
        """A retrieve while both batches run, compared only when both show the same status (how
        long a batch validates is the upstream's business, not the shape of its answers)."""
        up, local = self.both("retrieve (running)", "GET", _batch, compare=False)
        statuses = [seen.json().get("status") if isinstance(seen.json(), dict) else None for seen in (up, local)]
        if _ended(up.json()) or _ended(local.json()) or statuses[0] != statuses[1]:
            shown = " and ".join(f"{side} {status!r}" for side, status in zip(SIDES, statuses, strict=True))
            self.notes.append(f"'retrieve (running)' was not compared: the batches were at {shown}")
            return
        self.compare("retrieve (running)", up, local)

    def finish(self, ids: dict[str, str | None], what: str) -> tuple[Observation, Observation]:
        """Wait for both batches of ``ids`` to end (the upstream's canceled, and both, past
        ``--max-wait``); their last retrieves."""
        path = _batch(ids["upstream"] or UNKNOWN_BATCH)
        upstream_end = self.upstream.wait(path, _ended, self.max_wait)
        if upstream_end.status != 200:
            raise DriftError(f"the upstream {what} {ids['upstream']} cannot be retrieved: {describe(upstream_end)}")
        if not _ended(upstream_end.json()):
            self.notes.append(f"the upstream {what} did not end within {self.max_wait:g} s: both were canceled")
            self.each("cancel", "POST", lambda side: f"{_batch(ids[side] or UNKNOWN_BATCH)}/cancel")
            self.upstream.wait(path, _ended, max(self.max_wait, 600.0))
        local_end = self.local.wait(_batch(ids["local"] or UNKNOWN_BATCH), _ended, 3600.0)
        return self.upstream.call("GET", path), local_end

    def files_steps(self, ended: dict[str, Any]) -> None:
        """The output file's object and content, the error file's content (if a side has one)."""

        def path(member: str, suffix: str = "") -> Callable[[str], str]:
            return lambda side: f"/v1/files/{_file_id(ended[side], member) or UNKNOWN_FILE}{suffix}"

        self.each("download the output file", "GET", path("output_file_id", "/content"), lines=True)
        if any(_file_id(ended[side], "error_file_id") for side in SIDES):
            self.each("download the error file", "GET", path("error_file_id", "/content"), lines=True)
        self.each("retrieve the output file", "GET", path("output_file_id"))

    def keep_outputs(self, seen: Observation) -> None:
        """Note the output and error files of an upstream batch (deleted at the end)."""
        for member in ("output_file_id", "error_file_id"):
            found = _file_id(seen.json(), member)
            if found is not None and found not in self.outputs:
                self.outputs.append(found)

    def clean_up(self) -> None:
        """Cancel the upstream's batches still running; delete the files drift uploaded and the
        output and error files of its batches."""
        for batch_id in (self.ids["upstream"], self.bad["upstream"], *self.strays):
            if batch_id is None:
                continue
            seen = self.upstream.call("GET", _batch(batch_id))
            if seen.status == 200 and not _ended(seen.json()):
                self.upstream.call("POST", f"{_batch(batch_id)}/cancel")
                self.keep_outputs(self.upstream.wait(_batch(batch_id), _ended, max(self.max_wait, 600.0)))
        files = [] if self.inputs_deleted else [self.inputs["upstream"]]
        for file_id in (*files, self.bad_inputs["upstream"], *self.outputs):
            if file_id is not None and self.upstream.call("DELETE", f"/v1/files/{file_id}").status not in (200, 404):
                print(
                    f"batchsim drift: the upstream file {file_id} could not be deleted; delete it later",
                    file=sys.stderr,
                )
