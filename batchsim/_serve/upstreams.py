"""What ``batchsim record`` and ``batchsim drift`` know of each provider's API: where it is, where
its key comes from and how a call carries it, how its errors look, and which calls create, poll
and download a batch (with where each batch's results are).

One small description per provider (:data:`ANTHROPIC`, :data:`OPENAI`, :data:`GEMINI`), so that the
recording proxy, the cassette and its fitted scenario, and drift's machinery are written once.
Everything here reads what an upstream answered, which is never trusted: a value of the wrong
type is treated as absent, never as an error.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

import orjson

from .._engine.ids import IdFormat
from .._engine.scenario import Timing
from .._gemini.errors import error_body as gemini_error
from .._gemini.traits import GeminiSettings
from .._gemini.traits import canned_key as gemini_line
from .._openai.errors import error_body as openai_error
from .._openai.errors import status_error as openai_status
from .._openai.traits import canned_key as openai_line

__all__ = ["ANTHROPIC", "GEMINI", "OPENAI", "UPSTREAMS", "Facts", "Route", "Upstream", "is_id", "parse_time"]

_RANDOM = random.SystemRandom()
_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
Headers = list[tuple[bytes, bytes]]


def is_id(value: Any) -> bool:
    """Whether ``value`` may name a batch's folder or go into a URL: 1-128 letters, digits, ``_``
    or ``-`` (matched whole: ``$`` would also match before a final newline)."""
    return isinstance(value, str) and _ID.fullmatch(value) is not None


def parse_time(value: Any) -> float | None:
    """Epoch seconds of an RFC 3339 timestamp (any number of fraction digits) or of a number of
    Unix seconds; ``None`` for anything else."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value) if 0 <= value < 1e11 else None
    if not isinstance(value, str):
        return None
    text = re.sub(r"(\.\d{6})\d+", r"\1", value.replace("Z", "+00:00"))
    try:
        return datetime.fromisoformat(text).timestamp()
    except (ValueError, OverflowError, OSError):
        return None


def _count(value: Any) -> int:
    """A request count: an integer, or (Google's int64 JSON) a string of digits; else 0."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 12:
        return int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _member(value: Any, key: str) -> dict[str, Any]:
    """``value[key]`` when both are JSON objects, else an empty one."""
    inner = value.get(key) if isinstance(value, dict) else None
    return inner if isinstance(inner, dict) else {}


@dataclass(frozen=True)
class Route:
    """What a call is, for the recorder: its endpoint name (the provider's fault endpoint name) and
    what to do with its answer (``action``): ``create``, ``batch`` (the answer is one batch),
    ``list``, ``delete``, ``cancel`` (noted in the batch's timeline), ``results`` (the batch's
    results, by batch id), ``file`` (a file download: results if the file is a recorded batch's),
    ``upload`` (an upload session's start: its upload URL leads back through the proxy)."""

    endpoint: str | None = None
    action: str | None = None
    batch_id: str | None = None
    file_id: str | None = None


@dataclass(frozen=True)
class Facts:
    """One batch object, as the cassette and the fit read it. Times are epoch seconds: its
    create, when its requests could start (after validating or pending), when its last request
    finished (before finalizing), its end and its cancel."""

    batch_id: str
    ended: bool
    size: int
    created: float | None = None
    started: float | None = None
    finished: float | None = None
    ended_at: float | None = None
    cancel_at: float | None = None
    ending: str = ""
    """``completed``, ``canceled``, ``expired``, ``failed`` once ended."""
    counts: dict[str, int] = field(default_factory=dict)
    """``errored``, ``expired``, ``canceled`` as the batch object counts them (used when its
    results were not recorded)."""
    files: dict[str, str] = field(default_factory=dict)
    """The batch's results files: file id -> the name its download gets in the batch's folder."""


class Upstream:
    """One provider's API, as record and drift see it from the outside."""

    name = ""
    url = ""
    """The production API (``--upstream``'s default)."""
    key_env: tuple[str, ...] = ()
    """Where the key comes from, first found wins."""
    model = ""
    """The model of drift's probe requests."""
    request_id_header: str | None = None
    """The answer header naming the call (compared by drift, kept in ``calls.jsonl``)."""
    enum_fields: frozenset[str] = frozenset()
    """Fields whose value (a string or an integer), not only its type, is part of the contract."""
    results_files: tuple[str, ...] = ("results.jsonl",)
    """The names a batch's results get in its folder, in the order ``canned.jsonl`` takes them."""
    safe_query: frozenset[str] = frozenset()
    """Query parameters ``calls.jsonl`` keeps as sent (any other's value is ``REDACTED``)."""
    request_key = "custom_id"
    """What a request's results line is matched by (for comments)."""
    run_words = "ended after"
    """How the fitted scenario's comments name a batch's run (OpenAI's excludes validating and
    finalizing)."""
    results_url_field = False
    """Whether batch objects carry a ``results_url`` (rewritten to lead back through the proxy)."""
    upload_url_header: str | None = None
    """The answer header of an upload session's start naming where the bytes go (rewritten)."""
    params_check_reproduces_invalid = False
    """Whether the emulator's own params check reproduces ``invalid_request_error`` results (they
    are then left out of the fitted fractions)."""

    def auth(self, key: str) -> dict[str, str]:
        """The headers of a call made with ``key``."""
        raise NotImplementedError

    def headers(self) -> dict[str, str]:
        """The headers the SDK sends on every call (besides the key)."""
        return {"accept": "application/json"}

    def route(self, method: str, path: str) -> Route:
        raise NotImplementedError

    def batch_id(self, batch: Any) -> str | None:
        """The id of a batch object (as its folder is named), if it has one that is an id."""
        found = batch.get("id") if isinstance(batch, dict) else None
        return found if is_id(found) else None

    def facts(self, batch: Any) -> Facts | None:
        raise NotImplementedError

    def listed(self, page: Any) -> list[Any]:
        """The batch objects of a list answer."""
        data = page.get("data") if isinstance(page, dict) else None
        return data if isinstance(data, list) else []

    def point(self, batch: dict[str, Any]) -> dict[str, Any]:
        """What a timeline line keeps of one observation of a batch."""
        raise NotImplementedError

    def inline_results(self, batch: Any) -> list[bytes] | None:
        """Results lines carried in the batch object itself (none but Gemini's inline batches)."""
        return None

    def outcome(self, line: Any) -> tuple[str, str | None] | None:
        """``(outcome, error type)`` of a results line (the error type a scenario's
        ``error_types`` can name, or ``None``), or ``None`` if it is not one of this provider's."""
        raise NotImplementedError

    def raw_outcome(self, raw: bytes) -> tuple[str, str | None] | None:
        """:meth:`outcome` of one line of a results file as its bytes."""
        try:
            return self.outcome(orjson.loads(raw))
        except orjson.JSONDecodeError:
            return None

    def error(self, status: int, message: str) -> tuple[bytes, Headers]:
        """An answer of the proxy's own (unreachable upstream, a call it cannot forward), in the
        provider's error envelope."""
        raise NotImplementedError

    def section(self, ended: list[Facts], timing: Timing) -> tuple[dict[str, float], Timing]:
        """The provider's own scenario section fitted to the ended batches, and the timing to use
        with it (``timing`` as fitted from the batches' runs)."""
        return {}, timing

    def redact_query(self, query: bytes) -> str:
        """A call's query string as ``calls.jsonl`` keeps it: the API's own parameters as sent,
        the value of any other (a key given as ``?key=``, an upload id) replaced by ``REDACTED``."""
        kept = []
        for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
            kept.append((name, value if name in self.safe_query else "REDACTED"))
        return urlencode(kept)

    def redact_path(self, path: str) -> str:
        """A call's path as ``calls.jsonl`` keeps it (an upload session's id left out)."""
        return path


# -- Anthropic ----------------------------------------------------------------------------------


_ANTHROPIC_ROUTE = re.compile(r"/v1/messages/batches(?:/([^/]+)(?:/(results|cancel))?)?/?")
_ANTHROPIC_OTHER = {
    ("POST", "/v1/messages/count_tokens"): "count_tokens",
    ("GET", "/v1/models"): "models.list",
    ("POST", "/v1/files"): "anthropic.files.upload",
    ("GET", "/v1/files"): "anthropic.files.list",
}
_FILE_ROUTE = re.compile(r"/v1/files/([^/]+)(/content)?/?")
_MODEL_ROUTE = re.compile(r"/v1/models/([^/]+)/?")
_ANTHROPIC_IDS = IdFormat("req_", 22, lead="01")


class _Anthropic(Upstream):
    name = "anthropic"
    url = "https://api.anthropic.com"
    key_env = ("ANTHROPIC_API_KEY",)
    model = "claude-haiku-4-5"
    request_id_header = "request-id"
    enum_fields = frozenset({"type", "processing_status", "stop_reason", "role", "service_tier"})
    safe_query = frozenset({"limit", "before_id", "after_id", "beta"})
    params_check_reproduces_invalid = True
    results_url_field = True
    version = "2023-06-01"

    def auth(self, key: str) -> dict[str, str]:
        return {"x-api-key": key}

    def headers(self) -> dict[str, str]:
        return {"anthropic-version": self.version, "accept": "application/json"}

    def route(self, method: str, path: str) -> Route:
        match = _ANTHROPIC_ROUTE.fullmatch(path)
        if match is None:
            return self._around(method, path)
        batch_id, action = match.groups()
        if batch_id is None:
            name = {"POST": "create", "GET": "list"}.get(method)
            return Route(name, name)
        if action == "results":
            return Route("results", "results", batch_id) if method == "GET" else Route()
        if action == "cancel":
            return Route("cancel", "batch", batch_id) if method == "POST" else Route()
        name = {"GET": "retrieve", "DELETE": "delete"}.get(method)
        return Route(name, {"retrieve": "batch", "delete": "delete"}.get(name or ""), batch_id)

    def _around(self, method: str, path: str) -> Route:
        """Token counting, the model catalogue and the Files API (named, nothing recorded)."""
        name = _ANTHROPIC_OTHER.get((method, path.rstrip("/") or "/"))
        if name is not None:
            return Route(name)
        if method == "GET" and _MODEL_ROUTE.fullmatch(path):
            return Route("models.retrieve")
        match = _FILE_ROUTE.fullmatch(path)
        if match is not None:
            if match.group(2):
                return Route("anthropic.files.download" if method == "GET" else None)
            return Route({"GET": "anthropic.files.retrieve", "DELETE": "anthropic.files.delete"}.get(method))
        return Route()

    def facts(self, batch: Any) -> Facts | None:
        batch_id = self.batch_id(batch)
        if batch_id is None:
            return None
        given = batch.get("request_counts")
        counts = {k: _count(v) for k, v in given.items()} if isinstance(given, dict) else {}
        ended = batch.get("processing_status") == "ended"
        canceled_at = parse_time(batch.get("cancel_initiated_at"))
        ending = ""
        if ended:
            ending = "canceled" if canceled_at is not None else "expired" if counts.get("expired") else "completed"
        return Facts(
            batch_id,
            ended,
            sum(counts.values()),
            created=parse_time(batch.get("created_at")),
            ended_at=parse_time(batch.get("ended_at")),
            cancel_at=canceled_at,
            ending=ending,
            counts={k: counts.get(k, 0) for k in ("errored", "expired", "canceled")},
        )

    def point(self, batch: dict[str, Any]) -> dict[str, Any]:
        keys = ("processing_status", "request_counts", "created_at", "ended_at", "cancel_initiated_at", "expires_at")
        return {k: batch.get(k) for k in keys}

    def outcome(self, line: Any) -> tuple[str, str | None] | None:
        result = _member(line, "result")
        kind = result.get("type")
        if kind == "errored":
            error = _member(_member(result, "error"), "error").get("type")
            return "errored", error if isinstance(error, str) else None
        return (kind, None) if kind in ("succeeded", "expired", "canceled") else None

    def raw_outcome(self, raw: bytes) -> tuple[str, str | None] | None:
        """Most lines of a large results file are read without parsing them: only an errored
        line (its error type) is parsed."""
        if b'"errored"' in raw:
            found = super().raw_outcome(raw)
            if found is not None and found[0] == "errored":
                return found
        for kind in ("succeeded", "expired", "canceled"):
            if b'"type":"%b"' % kind.encode() in raw:
                return kind, None
        return None

    def error(self, status: int, message: str) -> tuple[bytes, Headers]:
        request_id = _ANTHROPIC_IDS.make(_RANDOM)
        kind = "api_error" if status >= 500 else "invalid_request_error"
        body = orjson.dumps({"type": "error", "error": {"type": kind, "message": message}, "request_id": request_id})
        return body, [(b"request-id", request_id.encode())]


# -- OpenAI -------------------------------------------------------------------------------------


_OPENAI_BATCH = re.compile(r"/v1/batches(?:/([^/]+)(/cancel)?)?/?")
_OPENAI_FILE = re.compile(r"/v1/files(?:/([^/]+)(/content)?)?/?")
_OPENAI_ENDED = {"completed": "completed", "failed": "failed", "expired": "expired", "cancelled": "canceled"}
_OPENAI_IDS = IdFormat("req_", 32, "0123456789abcdef")
# A results line's HTTP status as the error type a scenario names.
_TYPE_BY_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    503: "overloaded_error",
    504: "timeout_error",
}


class _OpenAI(Upstream):
    name = "openai"
    url = "https://api.openai.com"
    key_env = ("OPENAI_API_KEY",)
    model = "gpt-4o-mini"
    request_id_header = "x-request-id"
    enum_fields = frozenset(
        {"object", "status", "type", "code", "status_code", "finish_reason", "role", "purpose", "completion_window"}
    )
    results_files = ("output.jsonl", "errors.jsonl")
    run_words = "ran (in_progress to finalizing)"
    safe_query = frozenset({"limit", "after", "order", "purpose"})

    def auth(self, key: str) -> dict[str, str]:
        return {"authorization": f"Bearer {key}"}

    def route(self, method: str, path: str) -> Route:
        match = _OPENAI_BATCH.fullmatch(path)
        if match is not None:
            batch_id, cancel = match.groups()
            if batch_id is None:
                return {"POST": Route("batches.create", "create"), "GET": Route("batches.list", "list")}.get(
                    method, Route()
                )
            if cancel:
                return Route("batches.cancel", "batch", batch_id) if method == "POST" else Route()
            return Route("batches.retrieve", "batch", batch_id) if method == "GET" else Route()
        match = _OPENAI_FILE.fullmatch(path)
        if match is None:
            return Route()
        file_id, content = match.groups()
        if file_id is None:
            return {"POST": Route("files.create"), "GET": Route("files.list")}.get(method, Route())
        if content:
            return Route("files.content", "file", file_id=file_id) if method == "GET" else Route()
        return {"GET": Route("files.retrieve"), "DELETE": Route("files.delete")}.get(method, Route())

    def facts(self, batch: Any) -> Facts | None:
        batch_id = self.batch_id(batch)
        if batch_id is None or batch.get("object", "batch") != "batch":
            return None
        status = batch.get("status")
        ending = _OPENAI_ENDED.get(status, "") if isinstance(status, str) else ""
        counts = _member(batch, "request_counts")
        total, done, failed = (_count(counts.get(k)) for k in ("total", "completed", "failed"))
        rest = max(0, total - done - failed)
        files = {}
        for key, name in (("output_file_id", "output.jsonl"), ("error_file_id", "errors.jsonl")):
            if is_id(batch.get(key)):
                files[batch[key]] = name
        ended_at = None
        for name in ("completed_at", "failed_at", "expired_at", "cancelled_at"):
            ended_at = ended_at if ended_at is not None else parse_time(batch.get(name))
        return Facts(
            batch_id,
            bool(ending),
            total,
            created=parse_time(batch.get("created_at")),
            started=parse_time(batch.get("in_progress_at")),
            finished=parse_time(batch.get("finalizing_at")),
            ended_at=ended_at,
            cancel_at=parse_time(batch.get("cancelling_at")),
            ending=ending,
            counts={
                "errored": failed,
                "expired": rest if ending == "expired" else 0,
                "canceled": rest if ending == "canceled" else 0,
            },
            files=files,
        )

    def point(self, batch: dict[str, Any]) -> dict[str, Any]:
        keys = ("status", "request_counts", "created_at", "in_progress_at", "finalizing_at", "completed_at")
        more = ("failed_at", "expired_at", "cancelling_at", "cancelled_at", "expires_at")
        return {k: batch.get(k) for k in (*keys, *more)}

    def outcome(self, line: Any) -> tuple[str, str | None] | None:
        if not isinstance(line, Mapping):
            return None
        found = openai_line(line)
        if found is None:
            return None
        outcome = found[1]
        if outcome != "errored":
            return outcome, None
        status = _member(line, "response").get("status_code")
        kind = _TYPE_BY_STATUS.get(status) if isinstance(status, int) else None
        return outcome, kind or ("api_error" if isinstance(status, int) and status >= 500 else None)

    def error(self, status: int, message: str) -> tuple[bytes, Headers]:
        kind, code = openai_status(status)
        body = orjson.dumps(openai_error(message, kind, None, code))
        return body, [(b"x-request-id", _OPENAI_IDS.make(_RANDOM).encode())]

    def section(self, ended: list[Facts], timing: Timing) -> tuple[dict[str, float], Timing]:
        """``[openai]``: how long batches validated, finalized and took to cancel (medians); a
        batch's run is from ``in_progress_at`` to ``finalizing_at``."""
        spans: dict[str, list[float]] = {"validating": [], "finalizing": [], "cancelling": []}
        for facts in ended:
            if facts.created is not None and facts.started is not None:
                spans["validating"].append(facts.started - facts.created)
            if facts.ending == "completed" and facts.finished is not None and facts.ended_at is not None:
                spans["finalizing"].append(facts.ended_at - facts.finished)
            if facts.ending == "canceled" and facts.cancel_at is not None and facts.ended_at is not None:
                spans["cancelling"].append(facts.ended_at - facts.cancel_at)
        return {name: _median(seen) for name, seen in spans.items() if seen}, timing


# -- Gemini -------------------------------------------------------------------------------------


_GEMINI_CREATE = re.compile(r"/(v1|v1beta)/models/[^/]+:(batchGenerateContent|asyncBatchEmbedContent)")
_GEMINI_BATCH = re.compile(r"/(?:v1|v1beta)/batches(?:/([^/:]+)(:cancel)?)?/?")
_GEMINI_DOWNLOAD = re.compile(r"(?:/download)?/(?:v1|v1beta)/files/([^/:]+):download")
_GEMINI_FILE = re.compile(r"/(?:v1|v1beta)/files(?:/([^/:]+))?/?")
_GEMINI_UPLOAD = re.compile(r"/upload/(?:v1|v1beta)/files(/.*)?")
_GEMINI_ENDED = {
    "BATCH_STATE_SUCCEEDED": "completed",
    "BATCH_STATE_FAILED": "failed",
    "BATCH_STATE_CANCELLED": "canceled",
    "BATCH_STATE_EXPIRED": "expired",
    "JOB_STATE_SUCCEEDED": "completed",
    "JOB_STATE_FAILED": "failed",
    "JOB_STATE_CANCELLED": "canceled",
    "JOB_STATE_EXPIRED": "expired",
}
# A result's error code (google.rpc.Code, or the HTTP status) as the error type a scenario names.
_TYPE_BY_CODE = {
    3: "invalid_request_error",
    400: "invalid_request_error",
    16: "authentication_error",
    401: "authentication_error",
    7: "permission_error",
    403: "permission_error",
    5: "not_found_error",
    404: "not_found_error",
    8: "rate_limit_error",
    429: "rate_limit_error",
    13: "api_error",
    500: "api_error",
    14: "overloaded_error",
    503: "overloaded_error",
    4: "timeout_error",
    504: "timeout_error",
}


class _Gemini(Upstream):
    name = "gemini"
    url = "https://generativelanguage.googleapis.com"
    key_env = ("GOOGLE_API_KEY", "GEMINI_API_KEY")  # google-genai: GOOGLE_API_KEY wins when both are set
    model = "gemini-2.5-flash"
    request_id_header = None
    enum_fields = frozenset({"state", "status", "code", "finishReason", "role", "@type", "done", "source"})
    safe_query = frozenset({"pageSize", "pageToken", "alt", "upload_protocol"})
    request_key = "key"
    upload_url_header = "x-goog-upload-url"

    def auth(self, key: str) -> dict[str, str]:
        return {"x-goog-api-key": key}

    def route(self, method: str, path: str) -> Route:
        if _GEMINI_CREATE.fullmatch(path):
            return Route("gemini.batches.create", "create") if method == "POST" else Route()
        match = _GEMINI_BATCH.fullmatch(path)
        if match is not None:
            batch_id, cancel = match.groups()
            if batch_id is None:
                return Route("gemini.batches.list", "list") if method == "GET" else Route()
            if cancel:
                return Route("gemini.batches.cancel", "cancel", batch_id) if method == "POST" else Route()
            routes = {"GET": ("gemini.batches.get", "batch"), "DELETE": ("gemini.batches.delete", "delete")}
            name, action = routes.get(method, (None, None))
            return Route(name, action, batch_id)
        match = _GEMINI_DOWNLOAD.fullmatch(path)
        if match is not None:
            return Route("gemini.files.download", "file", file_id=match.group(1)) if method == "GET" else Route()
        match = _GEMINI_UPLOAD.fullmatch(path)
        if match is not None:
            return Route("gemini.files.upload", "upload" if match.group(1) is None else None)
        match = _GEMINI_FILE.fullmatch(path)
        if match is not None:
            if match.group(1) is None:
                return Route("gemini.files.list" if method == "GET" else None)
            return Route({"GET": "gemini.files.get", "DELETE": "gemini.files.delete"}.get(method))
        return Route()

    def redact_path(self, path: str) -> str:
        match = _GEMINI_UPLOAD.fullmatch(path)
        if match is not None and match.group(1):  # a session's URL: its id lets anyone upload
            return path[: path.index("/files") + len("/files")] + "/REDACTED"
        return path

    def batch_id(self, batch: Any) -> str | None:
        name = batch.get("name") if isinstance(batch, dict) else None
        if isinstance(name, str) and name.startswith("batches/") and is_id(name[8:]):
            return name[8:]
        return None

    def listed(self, page: Any) -> list[Any]:
        found = page.get("operations") if isinstance(page, dict) else None
        return found if isinstance(found, list) else []

    def facts(self, batch: Any) -> Facts | None:
        batch_id = self.batch_id(batch)
        if batch_id is None:
            return None
        meta = _member(batch, "metadata")
        state = meta.get("state")
        ending = _GEMINI_ENDED.get(state, "") if isinstance(state, str) else ""
        stats = _member(meta, "batchStats")
        size = _count(stats.get("requestCount"))
        failed = _count(stats.get("failedRequestCount"))
        done = _count(stats.get("successfulRequestCount"))
        files = {}
        output = _member(meta, "output") or _member(batch, "response")
        responses = output.get("responsesFile")
        if isinstance(responses, str) and responses.startswith("files/") and is_id(responses[6:]):
            files[responses[6:]] = "results.jsonl"
        rest = max(0, size - done - failed)
        return Facts(
            batch_id,
            bool(ending),
            size,
            created=parse_time(meta.get("createTime")),
            ended_at=parse_time(meta.get("endTime")),
            ending=ending,
            counts={
                "errored": failed if ending == "completed" else 0,
                "expired": size if ending == "expired" else 0,
                "canceled": rest if ending == "canceled" else 0,
            },
            files=files,
        )

    def point(self, batch: dict[str, Any]) -> dict[str, Any]:
        meta = _member(batch, "metadata")
        found = {k: meta.get(k) for k in ("state", "batchStats", "createTime", "updateTime", "endTime")}
        found["done"] = batch.get("done")
        return found

    def inline_results(self, batch: Any) -> list[bytes] | None:
        """An ended inline batch's ``inlinedResponses`` as responses lines (``{"key", "response"}``
        or ``{"key", "error"}``): a request's key is its ``metadata.key``, or its position."""
        output = _member(_member(batch, "metadata"), "output") or _member(batch, "response")
        responses = _member(output, "inlinedResponses").get("inlinedResponses")
        if not isinstance(responses, list):
            return None
        lines = []
        for i, item in enumerate(responses):
            if not isinstance(item, dict):
                continue
            key = _member(item, "metadata").get("key")
            line = {"key": key if isinstance(key, str) else str(i)}
            for name in ("response", "error"):
                if name in item:
                    line[name] = item[name]
            if gemini_line(line) is not None:
                lines.append(orjson.dumps(line) + b"\n")
        return lines

    def outcome(self, line: Any) -> tuple[str, str | None] | None:
        if not isinstance(line, Mapping):
            return None
        found = gemini_line(line)
        if found is None:
            return None
        if found[1] != "errored":
            return found[1], None
        code = _member(line, "error").get("code")
        return "errored", _TYPE_BY_CODE.get(code) if isinstance(code, int) and not isinstance(code, bool) else None

    def error(self, status: int, message: str) -> tuple[bytes, Headers]:
        return gemini_error(status, message), []

    def section(self, ended: list[Facts], timing: Timing) -> tuple[dict[str, float], Timing]:
        """``[gemini]``: how long a batch is pending. An operation does not say when its batch
        started running, so the fitted start delay is split: up to the default pending time is
        pending, the rest the start delay (each batch still ends when it did)."""
        if not ended:
            return {}, timing
        pending = min(GeminiSettings().pending, timing.start_delay)
        start_delay = round(timing.start_delay - pending, 6)
        return {"pending": round(pending, 6)}, replace(timing, start_delay=start_delay)


def _median(values: list[float]) -> float:
    ordered = sorted(max(0.0, v) for v in values)
    return round(ordered[len(ordered) // 2], 6)


ANTHROPIC: Upstream = _Anthropic()
OPENAI: Upstream = _OpenAI()
GEMINI: Upstream = _Gemini()
UPSTREAMS: dict[str, Upstream] = {u.name: u for u in (ANTHROPIC, OPENAI, GEMINI)}
