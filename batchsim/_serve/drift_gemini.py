"""Gemini's script for ``batchsim drift``: batch mode's workflow, the cheapest faithful way.

An inline batch of three requests (a plain answer, a forced function call, an answer in a JSON
schema) is created under ``v1beta`` (the REST guide's version), got while it runs and once it has
ended (its ``inlinedResponses``: the result shape), listed, refused a cancel once ended, deleted
and got again (404). Around it: a create with neither requests nor a file, an unknown id, no key,
a negative ``pageSize``. What is compared is what drift compares for every provider
(:mod:`.drift`): statuses, ``content-type``, shapes, and the value of enum fields (``state``,
``status``, ``code``, ``finishReason``, ``@type``...).

The upstream batch is never left behind: canceled if still running when drift stops, then deleted.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .drift import BATCH_ID, SIDES, DriftError, Observation, Run, describe
from .upstreams import GEMINI, Upstream

__all__ = ["GeminiRun", "probe_requests"]

VERSION = "v1beta"
UNKNOWN_BATCH = "0000000000000000000000000000000000zz"
ENDED = frozenset({"BATCH_STATE_SUCCEEDED", "BATCH_STATE_FAILED", "BATCH_STATE_CANCELLED", "BATCH_STATE_EXPIRED"})


def probe_requests() -> list[dict[str, Any]]:
    """The probe batch's inline requests: a success, a forced function call, a JSON answer."""
    user = [{"role": "user", "parts": [{"text": "Reply with the word OK."}]}]
    weather = {
        "name": "get_weather",
        "description": "The current weather in a city.",
        "parameters": {"type": "OBJECT", "properties": {"city": {"type": "STRING"}}, "required": ["city"]},
    }
    schema = {"type": "OBJECT", "properties": {"answer": {"type": "STRING"}}, "required": ["answer"]}
    return [
        {"request": {"contents": user, "generationConfig": {"maxOutputTokens": 32}}, "metadata": {"key": "drift-ok"}},
        {
            "request": {
                "contents": [{"role": "user", "parts": [{"text": "What is the weather in Paris?"}]}],
                "tools": [{"functionDeclarations": [weather]}],
                "toolConfig": {"functionCallingConfig": {"mode": "ANY"}},
            },
            "metadata": {"key": "drift-tool"},
        },
        {
            "request": {
                "contents": user,
                "generationConfig": {"responseMimeType": "application/json", "responseSchema": schema},
            },
            "metadata": {"key": "drift-json"},
        },
    ]


def _ended(operation: Any) -> bool:
    """Whether an operation says its batch has ended (by either field: the other may have drifted)."""
    if not isinstance(operation, dict):
        return False
    metadata = operation.get("metadata")
    state = metadata.get("state") if isinstance(metadata, dict) else None
    return operation.get("done") is True or state in ENDED


def _batch(batch_id: str) -> str:
    return f"/{VERSION}/batches/{batch_id}"


@dataclass
class GeminiRun(Run):
    """The Gemini script (see the module's docstring)."""

    strays: list[str] = field(default_factory=list)
    """Upstream batches a refusal probe created all the same (deleted at the end)."""

    api: ClassVar[Upstream] = GEMINI
    unknown_id: ClassVar[str] = UNKNOWN_BATCH

    def create_path(self) -> str:
        return f"/{VERSION}/models/{self.model}:batchGenerateContent"

    def steps(self) -> None:
        body = {
            "batch": {
                "displayName": "batchsim-drift",
                "inputConfig": {"requests": {"requests": probe_requests()}},
            }
        }
        seen = {side: self.target(side).call("POST", self.create_path(), body=body) for side in SIDES}
        self.compare("create (inline)", seen["upstream"], seen["local"])
        self.kept("batch", seen, self.ids, member="name", prefix="batches/")
        self.refusal_steps()
        self.running_step()
        upstream_end = self.upstream.wait(_batch(self._id("upstream")), _ended, self.max_wait)
        if upstream_end.status != 200:
            raise DriftError(f"the upstream batch {self.ids['upstream']} cannot be got: {describe(upstream_end)}")
        if not _ended(upstream_end.json()):
            self.notes.append(f"the upstream batch did not end within {self.max_wait:g} s: both were cancelled")
            self.both("cancel", "POST", lambda b: f"{_batch(b)}:cancel")
            self.upstream.wait(_batch(self._id("upstream")), _ended, max(self.max_wait, 600.0))
        local_end = self.local.wait(_batch(self._id("local")), _ended, 3600.0)
        upstream_end = self.upstream.call("GET", _batch(self._id("upstream")))
        self.compare("get (ended)", upstream_end, local_end)
        self.both("list", "GET", f"/{VERSION}/batches?pageSize=1")
        self.both("cancel after the end (wrong state)", "POST", lambda b: f"{_batch(b)}:cancel", retries=0)
        up, local = self.both("delete", "DELETE", _batch)
        self.deleted = {"upstream": up.status == 200, "local": local.status == 200}
        self.both("get after delete", "GET", _batch)

    def refusal_steps(self) -> None:
        """A create with neither requests nor a file, an unknown id, no key, a bad ``pageSize``."""
        empty = {"batch": {"displayName": "batchsim-drift", "inputConfig": {}}}
        seen = {side: self.target(side).call("POST", self.create_path(), body=empty, retries=0) for side in SIDES}
        self.compare("create with neither requests nor a file (bad input)", seen["upstream"], seen["local"])
        self._stray(seen["upstream"])
        self.both("get an unknown id", "GET", _batch(UNKNOWN_BATCH))
        self.both("cancel an unknown id", "POST", f"{_batch(UNKNOWN_BATCH)}:cancel", retries=0)
        self.both("get without a key", "GET", _batch, key=False)
        self.both("list with pageSize=-1 (bad input)", "GET", f"/{VERSION}/batches?pageSize=-1", retries=0)

    def _stray(self, seen: Observation) -> None:
        made = seen.json()
        name = made.get("name") if isinstance(made, dict) else None
        if seen.status == 200 and isinstance(name, str) and BATCH_ID.fullmatch(name.removeprefix("batches/")):
            self.strays.append(name.removeprefix("batches/"))

    def running_step(self) -> None:
        """A get while both batches run, compared only when both show the same state (how long a
        batch is pending is the upstream's business, not the shape of its answers)."""
        up, local = self.both("get (running)", "GET", _batch, compare=False)
        states = [_state(seen.json()) for seen in (up, local)]
        if _ended(up.json()) or _ended(local.json()) or states[0] != states[1]:
            shown = " and ".join(f"{side} {state!r}" for side, state in zip(SIDES, states, strict=True))
            self.notes.append(f"'get (running)' was not compared: the batches were at {shown}")
            return
        self.compare("get (running)", up, local)

    def clean_up(self) -> None:
        """Never leave an upstream batch behind: cancel it if it runs, wait for its end, delete it."""
        first = [] if self.deleted["upstream"] else [self.ids["upstream"]]
        for batch_id in (*first, *self.strays):
            if batch_id is None:
                continue
            seen = self.upstream.call("GET", _batch(batch_id))
            if seen.status == 200 and not _ended(seen.json()):
                self.upstream.call("POST", f"{_batch(batch_id)}:cancel")
                seen = self.upstream.wait(_batch(batch_id), _ended, max(self.max_wait, 600.0))
            if seen.status == 404:
                continue
            if self.upstream.call("DELETE", _batch(batch_id)).status != 200:
                message = f"the upstream batch batches/{batch_id} could not be deleted; delete it later"
                print(f"batchsim drift: {message}", file=sys.stderr)


def _state(operation: Any) -> Any:
    metadata = operation.get("metadata") if isinstance(operation, dict) else None
    return metadata.get("state") if isinstance(metadata, dict) else None
