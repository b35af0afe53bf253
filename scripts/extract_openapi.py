"""Write the OpenAPI descriptions batchsim serves at ``/_batchsim/openapi.json``, one per provider:

* ``batchsim/openapi.json`` (the default, ``?provider=anthropic``): Anthropic's Message Batches
  routes, ``/v1/messages/count_tokens``, ``/v1/models[/{model_id}]`` and the Files API, extracted
  from Anthropic's own OpenAPI description;
* ``batchsim/openapi-openai.json`` (``?provider=openai``): OpenAI's ``/v1/files`` and
  ``/v1/batches`` routes, extracted from OpenAI's own description;
* ``batchsim/openapi-gemini.json`` (``?provider=gemini``): Gemini's batch mode and Files API under
  ``/v1`` and ``/v1beta``, written from Google's API reference (``openapi_gemini.py``: Google
  publishes no OpenAPI document of it).

Each keeps the routes batchsim serves, the schemas they reference (transitively) and nothing
else, and corrects the source where the wire differs from it (each correction is listed in the
document's ``info.description``). Anthropic and OpenAI share ``/v1/files`` (and OpenAI and Gemini
``/v1/files`` and ``/v1/batches``): the emulator tells the calls apart by their headers, which is
why each provider has a document of its own, each requiring the header that makes a call its own.

    python scripts/extract_openapi.py [ANTHROPIC_SOURCE [OPENAI_SOURCE]]
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

from openapi_gemini import OPENAI_ENVELOPE, gemini_description

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = Path("/work/shared/reference")
ANTHROPIC_SOURCE = REFERENCE / "anthropic-openapi.json"
OPENAI_SOURCE = REFERENCE / "openai-openapi-batches-files.json"
PACKAGE = ROOT / "batchsim"
DESTINATIONS = {
    "anthropic": PACKAGE / "openapi.json",
    "openai": PACKAGE / "openapi-openai.json",
    "gemini": PACKAGE / "openapi-gemini.json",
}
REF = "#/components/schemas/"
JSON = "application/json"

# Anthropic: the source's path -> the path batchsim serves. The Files API is described in the
# source only as its ``?beta=true`` routes; batchsim serves them with and without it.
ANTHROPIC_PATHS = {
    "/v1/messages/batches": "/v1/messages/batches",
    "/v1/messages/batches/{message_batch_id}": "/v1/messages/batches/{message_batch_id}",
    "/v1/messages/batches/{message_batch_id}/cancel": "/v1/messages/batches/{message_batch_id}/cancel",
    "/v1/messages/batches/{message_batch_id}/results": "/v1/messages/batches/{message_batch_id}/results",
    "/v1/messages/count_tokens": "/v1/messages/count_tokens",
    "/v1/models": "/v1/models",
    "/v1/models/{model_id}": "/v1/models/{model_id}",
    "/v1/files?beta=true": "/v1/files",
    "/v1/files/{file_id}?beta=true": "/v1/files/{file_id}",
    "/v1/files/{file_id}/content?beta=true": "/v1/files/{file_id}/content",
}
SHARED_WITH_OPENAI = ("/v1/files",)
FIVE_XX = (
    "Server-side error (api_error, overloaded_error, timeout_error...), same envelope. batchsim sends "
    "these only when a scenario injects a fault."
)


def _refs(node: Any, found: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(REF):
            found.add(ref[len(REF) :])
        for value in node.values():
            _refs(value, found)
    elif isinstance(node, list):
        for value in node:
            _refs(value, found)


def _closure(paths: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    """The schemas ``paths`` reference, transitively, in name order."""
    wanted: set[str] = set()
    _refs(paths, wanted)
    todo = list(wanted)
    while todo:
        found: set[str] = set()
        _refs(schemas[todo.pop()], found)
        for name in found - wanted:
            wanted.add(name)
            todo.append(name)
    return {name: copy.deepcopy(schemas[name]) for name in sorted(wanted)}


def _rename_refs(node: Any, renames: dict[str, str]) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(REF) and ref[len(REF) :] in renames:
            return {**node, "$ref": REF + renames[ref[len(REF) :]]}
        return {key: _rename_refs(value, renames) for key, value in node.items()}
    if isinstance(node, list):
        return [_rename_refs(value, renames) for value in node]
    return node


def _add_request_too_large(schemas: dict[str, Any]) -> None:
    """The errors page lists ``request_too_large`` (HTTP 413); the source description does not."""
    schemas["RequestTooLargeError"] = {
        "properties": {
            "message": {"default": "Request too large", "title": "Message", "type": "string"},
            "type": {
                "const": "request_too_large",
                "default": "request_too_large",
                "title": "Type",
                "type": "string",
            },
        },
        "required": ["message", "type"],
        "title": "RequestTooLargeError",
        "type": "object",
    }
    error = schemas["ErrorResponse"]["properties"]["error"]
    error["oneOf"].append({"$ref": REF + "RequestTooLargeError"})
    error["discriminator"]["mapping"]["request_too_large"] = REF + "RequestTooLargeError"


def _error_responses(op: dict[str, Any], schema: str) -> None:
    """``4XX`` and ``5XX`` answers in the provider's envelope (JSON whatever the success's type)."""
    content = {JSON: {"schema": {"$ref": REF + schema}}}
    responses = op["responses"]
    responses["4XX"] = {"description": "Client error, in the provider's error envelope.", "content": content}
    responses["5XX"] = {"description": FIVE_XX, "content": content}


def extract_anthropic(spec: dict[str, Any]) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for source, served in ANTHROPIC_PATHS.items():
        ops = copy.deepcopy(spec["paths"][source])
        for op in ops.values():
            if not isinstance(op, dict) or "responses" not in op:
                continue
            _error_responses(op, "ErrorResponse")
            if served.startswith(SHARED_WITH_OPENAI):
                op["responses"]["401"] = {
                    "description": (
                        "No key (this envelope); or no anthropic-version header, which makes the call OpenAI's: "
                        "it refuses a call without a bearer token in its own envelope."
                    ),
                    "content": {JSON: {"schema": {"anyOf": [{"$ref": REF + "ErrorResponse"}, OPENAI_ENVELOPE]}}},
                }
                for parameter in op.get("parameters", []):
                    if parameter.get("name") == "anthropic-version":
                        parameter["required"] = True
                        parameter["description"] = (
                            "The version of the Claude API you want to use. batchsim: on /v1/files, which "
                            "OpenAI's API has too, a call is Anthropic's when it carries this header (every "
                            "Anthropic SDK sends it); without it, the call is OpenAI's."
                        )
        paths[served] = ops
    # The Files routes' errors are Anthropic's one envelope (the source names a copy of it,
    # BetaErrorResponse, whose members are BetaInvalidRequestError...).
    schemas = spec["components"]["schemas"]
    paths = _rename_refs(paths, {"BetaErrorResponse": "ErrorResponse"})
    chosen = _closure(paths, schemas)
    _add_request_too_large(chosen)
    return {
        "openapi": spec["openapi"],
        "info": {
            "title": "Anthropic's API as batchsim serves it",
            "version": spec.get("info", {}).get("version", "1"),
            "description": (
                "The routes of Anthropic's API that batchsim emulates: Message Batches, token counting, "
                "the models and the Files API. Extracted from Anthropic's OpenAPI description by "
                "scripts/extract_openapi.py, with these changes: the Files API (described there as its "
                "?beta=true routes) at /v1/files, where batchsim serves it with or without ?beta=true; "
                "anthropic-version required on /v1/files (OpenAI's API has that path too; see "
                "?provider=openai); the request_too_large error (413); the error envelope for every 4XX "
                "and 5XX answer, as JSON. The other providers' descriptions: "
                "/_batchsim/openapi.json?provider=openai and ?provider=gemini."
            ),
        },
        "paths": paths,
        "components": {"schemas": chosen},
    }


def _nullable(schema: dict[str, Any], names: list[str]) -> None:
    """Properties the source types without ``null`` that the API sends as ``null`` (its own
    examples do)."""
    for name in names:
        prop = schema["properties"][name]
        schema["properties"][name] = {"anyOf": [prop, {"type": "null"}]}


def _openai_fixes(schemas: dict[str, Any]) -> None:
    _nullable(
        schemas["Batch"],
        [
            "errors", "output_file_id", "error_file_id", "in_progress_at", "expires_at", "finalizing_at",
            "completed_at", "failed_at", "expired_at", "cancelling_at", "cancelled_at", "model",
        ],
    )  # fmt: skip
    _nullable(schemas["OpenAIFile"], ["expires_at", "status_details"])
    # A file uploaded with purpose evals (an upload purpose) says so.
    schemas["OpenAIFile"]["properties"]["purpose"]["enum"].append("evals")
    # batchsim takes null for an absent output_expires_after, as it does metadata.
    _nullable(schemas["CreateBatchRequest"], ["output_expires_after"])
    _nullable(schemas["ListBatchesResponse"], ["first_id", "last_id"])
    _nullable(schemas["ListFilesResponse"], ["first_id", "last_id"])
    schemas["Error"] = {
        "type": "object",
        "properties": {
            "code": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            "message": {"type": "string"},
            "param": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            "type": {"type": "string"},
        },
        "required": ["type", "message", "param", "code"],
    }
    schemas["ErrorResponse"] = {
        "type": "object",
        "properties": {"error": {"$ref": REF + "Error"}},
        "required": ["error"],
    }
    # The upload form as the SDKs send it: expires_after in bracket notation, one field each.
    form = schemas["CreateFileRequest"]
    expires = form["properties"].pop("expires_after")
    form["properties"]["expires_after[anchor]"] = {"type": "string", "enum": ["created_at"]}
    form["properties"]["expires_after[seconds]"] = {"type": "integer", "minimum": 3600, "maximum": 2592000}
    form["description"] = (
        "The SDKs send expires_after in bracket notation, expires_after[anchor] and expires_after[seconds]; "
        f"both or neither. {expires.get('description', '')}"
    ).strip()
    del schemas["FileExpirationAfter"]


# Query parameters batchsim takes empty as absent (their default); an empty limit is refused.
EMPTY_IS_ABSENT = ("after", "order", "purpose")


def _strip(node: Any) -> Any:
    """The source without its SDK examples (``x-oaiMeta``)."""
    if isinstance(node, dict):
        return {key: _strip(value) for key, value in node.items() if key != "x-oaiMeta"}
    if isinstance(node, list):
        return [_strip(value) for value in node]
    return node


def extract_openai(spec: dict[str, Any]) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for source, ops in spec["paths"].items():
        ops = _strip(copy.deepcopy(ops))
        for op in ops.values():
            _error_responses(op, "ErrorResponse")
            for parameter in op.get("parameters", []):
                if parameter.get("in") == "query" and parameter.get("name") in EMPTY_IS_ABSENT:
                    parameter["allowEmptyValue"] = True
            if op["operationId"] == "downloadFile":  # the bytes themselves, as the API sends them
                op["responses"]["200"]["content"] = {
                    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
                }
        paths["/v1" + source] = ops
    schemas = _strip(copy.deepcopy(spec["components"]["schemas"]))
    _openai_fixes(schemas)
    return {
        "openapi": spec["openapi"],
        "info": {
            "title": "OpenAI's Files and Batch API as batchsim serves it",
            "version": spec.get("info", {}).get("version", "1"),
            "description": (
                "The routes of OpenAI's API that batchsim emulates: /v1/files and /v1/batches. Extracted from "
                "OpenAI's OpenAPI description by scripts/extract_openapi.py, with these changes: the paths "
                "under /v1 (the source's server URL); the error envelope (Error, ErrorResponse, from the "
                "same description) for every 4XX and 5XX answer; null allowed where the API sends it (the "
                "source's own examples do) and for an absent output_expires_after; evals among a file's "
                "purposes (an upload purpose, which the file then shows); the upload form's expires_after in "
                "the bracket notation the SDKs send; a download's bytes as application/octet-stream; an empty after, "
                "order or purpose taken as absent (allowEmptyValue), as batchsim does. Every call needs "
                "'Authorization: Bearer <key>' and no anthropic-version header: on /v1/files, which "
                "Anthropic's API has too, a call carrying anthropic-version is Anthropic's, and on "
                "/v1/files and /v1/batches one carrying x-goog-api-key is Gemini's."
            ),
        },
        "paths": paths,
        "components": {
            "schemas": _closure(paths, schemas),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }


def write(path: Path, spec: dict[str, Any]) -> None:
    path.write_text(json.dumps(spec, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    print(f"{path}: {len(spec['paths'])} paths, {len(spec['components']['schemas'])} schemas")


def main(argv: list[str]) -> int:
    anthropic = Path(argv[1]) if len(argv) > 1 else ANTHROPIC_SOURCE
    openai = Path(argv[2]) if len(argv) > 2 else OPENAI_SOURCE
    write(DESTINATIONS["anthropic"], extract_anthropic(json.loads(anthropic.read_text(encoding="utf-8"))))
    write(DESTINATIONS["openai"], extract_openai(json.loads(openai.read_text(encoding="utf-8"))))
    write(DESTINATIONS["gemini"], gemini_description())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
