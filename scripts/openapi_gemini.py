"""The OpenAPI description of Gemini's batch mode and Files API as batchsim serves them
(``batchsim/openapi-gemini.json``, written by ``extract_openapi.py``).

Google publishes no OpenAPI document of the Gemini API's batch mode, so the schemas here are
written from its API reference (ai.google.dev/api/batch-mode, /api/files,
/api/generate-content, /api/embeddings: ``Operation``, ``GenerateContentBatch``,
``EmbedContentBatch``, ``InputConfig``, ``InlinedRequest(s)``, ``InlinedResponse(s)``,
``BatchStats``, ``BatchState``, ``File``, ``Status``, ``GenerateContentResponse``...), with
the REST (camelCase) names the API answers with. Request bodies also take the protobuf
(snake_case) names, as Google's JSON parser does. Every route is described under ``/v1`` and
``/v1beta``.
"""

from __future__ import annotations

from typing import Any

REF = "#/components/schemas/"
JSON = "application/json"
VERSIONS = ("v1beta", "v1")
TYPES = "type.googleapis.com/google.ai.generativelanguage.v1main."
TIME = {"type": "string", "format": "date-time"}
NULLABLE_STRING = {"type": ["string", "null"]}
INT64 = {"type": "string", "pattern": "^-?[0-9]+$", "description": "An int64, as a string (proto3 JSON)."}
STATUS_NAMES = [
    "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
    "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED",
    "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
]  # fmt: skip
FINISH_REASONS = [
    "FINISH_REASON_UNSPECIFIED", "STOP", "MAX_TOKENS", "SAFETY", "RECITATION", "LANGUAGE", "OTHER", "BLOCKLIST",
    "PROHIBITED_CONTENT", "SPII", "MALFORMED_FUNCTION_CALL", "IMAGE_SAFETY", "UNEXPECTED_TOOL_CALL",
    "TOO_MANY_TOOL_CALLS",
]  # fmt: skip
# The batch fields the API knows (both spellings); any other is refused ("Unknown name").
BATCH_FIELDS = [
    "displayName", "display_name", "inputConfig", "input_config", "model", "name", "priority", "webhookConfig",
    "webhook_config", "output", "state", "batchStats", "batch_stats", "createTime", "create_time", "updateTime",
    "update_time", "endTime", "end_time",
]  # fmt: skip
# Paths OpenAI's API has too: there, a call is Gemini's only when it carries x-goog-api-key.
SHARED = ("/v1/batches", "/v1/batches/{batch_id}", "/v1/files", "/v1/files/{file_id}")


OPENAI_ENVELOPE = {
    "title": "OpenAI's error envelope",
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": {"type": ["string", "null"]},
                "code": {"type": ["string", "null"]},
            },
            "required": ["message", "type", "param", "code"],
        }
    },
    "required": ["error"],
}
"""What OpenAI's API answers a call on a path it shares that is not Gemini's (or Anthropic's)."""


def ref(name: str) -> dict[str, Any]:
    return {"$ref": REF + name}


def obj(properties: dict[str, Any], required: list[str] | None = None, **more: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    schema.update(more)
    return schema


def array(items: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {"type": "array", "items": items, **more}


def _either(camel: str, snake: str) -> dict[str, Any]:
    """One of two spellings of a required field."""
    return {"anyOf": [{"required": [camel]}, {"required": [snake]}]}


def _schemas() -> dict[str, Any]:
    status = obj(
        {
            "code": {
                "type": "integer",
                "description": "A google.rpc.Code (the HTTP status under [gemini] error_codes = 'http').",
            },
            "message": {"type": "string"},
            "details": array({"type": "object"}),
        },
        description="google.rpc.Status: an operation's or a request's error.",
    )
    part = obj(
        {
            "text": {"type": "string"},
            "inlineData": obj({"mimeType": {"type": "string"}, "data": {"type": "string"}}),
            "functionCall": obj({"id": {"type": "string"}, "name": {"type": "string"}, "args": {"type": "object"}}),
            "functionResponse": {"type": "object"},
            "fileData": obj({"mimeType": {"type": "string"}, "fileUri": {"type": "string"}}),
            "executableCode": {"type": "object"},
            "codeExecutionResult": {"type": "object"},
            "thought": {"type": "boolean"},
            "thoughtSignature": {"type": "string"},
        },
        description="A part of a Content: text, data or a function call (one of them).",
    )
    content = obj(
        {"parts": array(ref("Part")), "role": {"type": "string"}},
        description="A message turn: its parts and who produced it ('user' or 'model').",
    )
    generate_request = obj(
        {
            "model": {"type": "string"},
            "contents": array(ref("Content")),
            "tools": array({"type": "object"}),
            "toolConfig": {"type": "object"},
            "safetySettings": array({"type": "object"}),
            "systemInstruction": ref("Content"),
            "generationConfig": {"type": "object"},
            "cachedContent": {"type": "string"},
        },
        ["contents"],
        description=(
            "A models.generateContent request. batchsim checks it while the batch runs, as the API does: "
            "one without contents ends with INVALID_ARGUMENT in the results; the create takes it."
        ),
    )
    embed_request = obj(
        {
            "model": {"type": "string"},
            "content": ref("Content"),
            "taskType": {"type": "string"},
            "title": {"type": "string"},
            "outputDimensionality": {"type": "integer"},
        },
        ["content"],
        description="A models.embedContent request (checked while the batch runs, as the API does).",
    )

    def inlined(request: str) -> dict[str, Any]:
        return obj(
            {"request": ref(request), "metadata": {"type": "object"}},
            ["request"],
            additionalProperties=False,
            description="One request of the batch; metadata.key is its key (else its position).",
        )

    def input_config(requests: str) -> dict[str, Any]:
        file_name = {"type": "string", "pattern": "^files/.+", "description": "An uploaded file of JSONL lines."}
        return {
            "type": "object",
            "description": "The batch's requests: inline, or the lines of an uploaded file (exactly one).",
            "properties": {
                "fileName": file_name,
                "file_name": file_name,
                "requests": obj({"requests": array(ref(requests), minItems=1)}, ["requests"]),
            },
            "oneOf": [{"required": ["requests"]}, {"anyOf": [{"required": ["fileName"]}, {"required": ["file_name"]}]}],
        }

    def batch_input(config: str, description: str) -> dict[str, Any]:
        properties: dict[str, Any] = {name: {} for name in BATCH_FIELDS}
        properties.update(
            {
                "displayName": {"type": "string"},
                "display_name": {"type": "string"},
                "inputConfig": ref(config),
                "input_config": ref(config),
            }
        )
        return {
            "type": "object",
            "description": description,
            "properties": properties,
            "additionalProperties": False,
            **_either("inputConfig", "input_config"),
        }

    def batch_output(response: str, kind: str) -> dict[str, Any]:
        return obj(
            {
                "@type": {"type": "string", "const": TYPES + kind + "Output"},
                "responsesFile": {"type": "string", "pattern": "^files/"},
                "inlinedResponses": obj(
                    {
                        "inlinedResponses": array(
                            obj(
                                {"metadata": {"type": "object"}, "response": ref(response), "error": ref("Status")},
                                description="One request's result: its response or its error, and its metadata.",
                            )
                        )
                    }
                ),
            },
            description=f"The results of an ended {kind}: a responses file or the inline responses.",
        )

    def batch(kind: str) -> dict[str, Any]:
        output = "GenerateContentBatchOutput" if kind == "GenerateContentBatch" else "EmbedContentBatchOutput"
        return obj(
            {
                "@type": {"type": "string", "const": TYPES + kind},
                "model": {"type": "string", "pattern": "^models/"},
                "name": {"type": "string", "pattern": "^batches/"},
                "displayName": {"type": "string"},
                "inputConfig": obj({"fileName": {"type": "string"}}),
                "output": ref(output),
                "createTime": TIME,
                "updateTime": TIME,
                "endTime": TIME,
                "batchStats": ref("BatchStats"),
                "state": ref("BatchState"),
                "priority": INT64,
            },
            ["@type", "model", "name", "createTime", "updateTime", "state"],
            description=f"An operation's metadata: the {kind} resource.",
        )

    file_ = obj(
        {
            "name": {"type": "string", "pattern": "^files/"},
            "displayName": {"type": "string"},
            "mimeType": {"type": "string"},
            "sizeBytes": INT64,
            "createTime": TIME,
            "updateTime": TIME,
            "expirationTime": TIME,
            "sha256Hash": {"type": "string"},
            "uri": {"type": "string"},
            "downloadUri": {"type": "string"},
            "state": {"type": "string", "enum": ["STATE_UNSPECIFIED", "PROCESSING", "ACTIVE", "FAILED"]},
            "source": {"type": "string", "enum": ["SOURCE_UNSPECIFIED", "UPLOADED", "GENERATED", "REGISTERED"]},
            "error": ref("Status"),
        },
        ["name"],
        description="A file: uploaded, or a file-input batch's responses file (GENERATED, with a downloadUri).",
    )
    return {
        "Status": status,
        "ErrorResponse": obj(
            {
                "error": obj(
                    {
                        "code": {"type": "integer", "description": "The HTTP status."},
                        "message": {"type": "string"},
                        "status": {"type": "string", "enum": STATUS_NAMES},
                        "details": array({"type": "object"}),
                    },
                    ["code", "message", "status"],
                )
            },
            ["error"],
            description="Google's error envelope.",
        ),
        "Empty": {"type": "object", "additionalProperties": False, "description": "An empty JSON object."},
        "Part": part,
        "Content": content,
        "GenerateContentRequest": generate_request,
        "EmbedContentRequest": embed_request,
        "InlinedRequest": inlined("GenerateContentRequest"),
        "InlinedEmbedContentRequest": inlined("EmbedContentRequest"),
        "InputConfig": input_config("InlinedRequest"),
        "InputEmbedContentConfig": input_config("InlinedEmbedContentRequest"),
        "GenerateContentBatchInput": batch_input("InputConfig", "The batch a batchGenerateContent call creates."),
        "EmbedContentBatchInput": batch_input(
            "InputEmbedContentConfig", "The batch an asyncBatchEmbedContent call creates."
        ),
        "BatchGenerateContentRequest": obj(
            {"batch": ref("GenerateContentBatchInput")}, ["batch"], additionalProperties=False
        ),
        "AsyncBatchEmbedContentRequest": obj(
            {"batch": ref("EmbedContentBatchInput")}, ["batch"], additionalProperties=False
        ),
        "GenerateContentResponse": obj(
            {
                "candidates": array(ref("Candidate")),
                "promptFeedback": {"type": "object"},
                "usageMetadata": ref("UsageMetadata"),
                "modelVersion": {"type": "string"},
                "responseId": {"type": "string"},
            },
            description="A models.generateContent response.",
        ),
        "Candidate": obj(
            {
                "content": ref("Content"),
                "finishReason": {"type": "string", "enum": FINISH_REASONS},
                "safetyRatings": array(
                    obj(
                        {
                            "category": {"type": "string"},
                            "probability": {"type": "string"},
                            "blocked": {"type": "boolean"},
                        }
                    )
                ),
                "citationMetadata": {"type": "object"},
                "tokenCount": {"type": "integer"},
                "avgLogprobs": {"type": "number"},
                "index": {"type": "integer"},
            }
        ),
        "UsageMetadata": obj(
            {
                "promptTokenCount": {"type": "integer"},
                "cachedContentTokenCount": {"type": "integer"},
                "candidatesTokenCount": {"type": "integer"},
                "toolUsePromptTokenCount": {"type": "integer"},
                "thoughtsTokenCount": {"type": "integer"},
                "totalTokenCount": {"type": "integer"},
                "promptTokensDetails": array(ref("ModalityTokenCount")),
                "cacheTokensDetails": array(ref("ModalityTokenCount")),
                "candidatesTokensDetails": array(ref("ModalityTokenCount")),
            }
        ),
        "ModalityTokenCount": obj({"modality": {"type": "string"}, "tokenCount": {"type": "integer"}}),
        "EmbedContentResponse": obj(
            {"embedding": obj({"values": array({"type": "number"})}, ["values"])},
            ["embedding"],
            description="A models.embedContent response.",
        ),
        "BatchStats": obj(
            {
                "requestCount": INT64,
                "successfulRequestCount": INT64,
                "failedRequestCount": INT64,
                "pendingRequestCount": INT64,
            },
            description="Counts as int64 strings; zero counts are left out (proto3 JSON).",
        ),
        "BatchState": {
            "type": "string",
            "enum": [
                "BATCH_STATE_UNSPECIFIED",
                "BATCH_STATE_PENDING",
                "BATCH_STATE_RUNNING",
                "BATCH_STATE_SUCCEEDED",
                "BATCH_STATE_FAILED",
                "BATCH_STATE_CANCELLED",
                "BATCH_STATE_EXPIRED",
            ],
        },
        "GenerateContentBatch": batch("GenerateContentBatch"),
        "EmbedContentBatch": batch("EmbedContentBatch"),
        "GenerateContentBatchOutput": batch_output("GenerateContentResponse", "GenerateContentBatch"),
        "EmbedContentBatchOutput": batch_output("EmbedContentResponse", "EmbedContentBatch"),
        "Operation": obj(
            {
                "name": {"type": "string", "pattern": "^batches/"},
                "metadata": {"oneOf": [ref("GenerateContentBatch"), ref("EmbedContentBatch")]},
                "done": {"type": "boolean"},
                "response": {"oneOf": [ref("GenerateContentBatchOutput"), ref("EmbedContentBatchOutput")]},
                "error": ref("Status"),
            },
            ["name", "metadata"],
            description=(
                "A batch, as a long-running operation: done once it has ended, then either response (its "
                "results) or error (a failed, cancelled or expired batch)."
            ),
        ),
        "ListOperationsResponse": obj(
            {"operations": array(ref("Operation")), "nextPageToken": {"type": "string"}},
            description="A page of batches (no operations member when there are none).",
        ),
        "File": file_,
        "ListFilesResponse": obj(
            {"files": array(ref("File")), "nextPageToken": {"type": "string"}},
            description="A page of files (no files member when there are none).",
        ),
        "CreateFileRequest": obj(
            {"file": {"anyOf": [ref("FileMetadata"), {"type": "null"}]}},
            description="What a resumable upload's start may say of the file (all optional; null is absent).",
        ),
        "FileMetadata": obj(
            {name: NULLABLE_STRING for name in ("name", "displayName", "display_name", "mimeType", "mime_type")}
        ),
        "CreateFileResponse": obj({"file": ref("File")}, ["file"]),
    }


def _errors() -> dict[str, Any]:
    content = {JSON: {"schema": ref("ErrorResponse")}}
    return {
        "4XX": {"description": "Client error, in Google's error envelope.", "content": content},
        "5XX": {
            "description": "Server error, same envelope; batchsim sends these only when a scenario injects a fault.",
            "content": content,
        },
    }


def _json(schema: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": ref(schema)}}}


def _path_parameter(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string", "pattern": "^[^/:]+$"},
    }


def _page(size: str) -> list[dict[str, Any]]:
    """An empty value is the parameter's default."""
    return [
        {
            "name": "pageSize",
            "in": "query",
            "schema": {"type": "integer", "minimum": 0},
            "allowEmptyValue": True,
            "description": size,
        },
        {
            "name": "pageToken",
            "in": "query",
            "schema": {"type": "string"},
            "allowEmptyValue": True,
            "description": "A nextPageToken.",
        },
    ]


def _operations(v: str) -> dict[str, dict[str, Any]]:
    batch_id = _path_parameter("batch_id", "The batch's id (its name without batches/).")
    file_id = _path_parameter("file_id", "The file's id (its name without files/).")
    model = _path_parameter("model", "The model's id, e.g. gemini-2.5-flash (without models/).")

    def op(op_id: str, summary: str, responses: dict[str, Any], **more: Any) -> dict[str, Any]:
        return {"operationId": f"{v}.{op_id}", "summary": summary, **more, "responses": {**responses, **_errors()}}

    download = op(
        "files.download",
        "A generated file's bytes (a file-input batch's responses file: JSONL); uploaded files cannot be downloaded.",
        {"200": {"description": "The file's lines.", "content": {"application/jsonl": {"schema": {"type": "string"}}}}},
        parameters=[file_id, {"name": "alt", "in": "query", "schema": {"type": "string", "enum": ["media"]}}],
    )
    return {
        f"/{v}/models/{{model}}:batchGenerateContent": {
            "post": op(
                "models.batchGenerateContent",
                "Create a batch of generateContent requests, inline or from an uploaded file.",
                {"200": _json("Operation", "The new batch (BATCH_STATE_PENDING).")},
                parameters=[model],
                requestBody={"required": True, "content": {JSON: {"schema": ref("BatchGenerateContentRequest")}}},
            )
        },
        f"/{v}/models/{{model}}:asyncBatchEmbedContent": {
            "post": op(
                "models.asyncBatchEmbedContent",
                "Create a batch of embedContent requests, inline or from an uploaded file.",
                {"200": _json("Operation", "The new batch (BATCH_STATE_PENDING).")},
                parameters=[model],
                requestBody={"required": True, "content": {JSON: {"schema": ref("AsyncBatchEmbedContentRequest")}}},
            )
        },
        f"/{v}/batches": {
            "get": op(
                "batches.list",
                "The key's batches, newest first.",
                {"200": _json("ListOperationsResponse", "A page of batches.")},
                parameters=_page("Batches a page (default 50, at most 1000)."),
            )
        },
        f"/{v}/batches/{{batch_id}}": {
            "get": op("batches.get", "A batch.", {"200": _json("Operation", "The batch.")}, parameters=[batch_id]),
            "delete": op(
                "batches.delete",
                "Delete a batch, in any state (its results go with it).",
                {"200": _json("Empty", "Deleted.")},
                parameters=[batch_id],
            ),
        },
        f"/{v}/batches/{{batch_id}}:cancel": {
            "post": op(
                "batches.cancel",
                "Cancel a pending or running batch (FAILED_PRECONDITION once it has ended).",
                {"200": _json("Empty", "The cancel is under way.")},
                parameters=[batch_id],
            )
        },
        f"/upload/{v}/files": {
            "post": op(
                "files.upload",
                "Start a resumable upload: answers the URL that takes the file's bytes (x-goog-upload-url).",
                {
                    "200": {
                        "description": "The session: its URL in x-goog-upload-url (no body).",
                        "headers": {
                            "x-goog-upload-url": {"required": True, "schema": {"type": "string"}},
                            "x-goog-upload-status": {
                                "required": True,
                                "schema": {"type": "string", "enum": ["active"]},
                            },
                        },
                    }
                },
                parameters=[
                    {
                        "name": "x-goog-upload-protocol",
                        "in": "header",
                        "required": True,
                        "schema": {"type": "string", "enum": ["resumable"]},
                    },
                    {
                        "name": "x-goog-upload-command",
                        "in": "header",
                        "required": True,
                        "schema": {"type": "string", "enum": ["start"]},
                    },
                    {
                        "name": "x-goog-upload-header-content-length",
                        "in": "header",
                        "schema": {"type": "string", "pattern": "^[0-9]{1,10}$"},
                        "description": "The file's size in bytes (at most 2 GB).",
                    },
                    {"name": "x-goog-upload-header-content-type", "in": "header", "schema": {"type": "string"}},
                ],
                requestBody={"content": {JSON: {"schema": ref("CreateFileRequest")}}},
            )
        },
        f"/upload/{v}/files/sessions/{{upload_id}}": {
            "post": op(
                "files.upload.session",
                "Send bytes to an upload session (the x-goog-upload-url a start answered; no key needed).",
                {
                    "200": {
                        "description": "upload: the session stays active (no body); finalize: the file.",
                        "headers": {"x-goog-upload-status": {"required": True, "schema": {"type": "string"}}},
                        "content": {JSON: {"schema": ref("CreateFileResponse")}},
                    }
                },
                parameters=[
                    _path_parameter("upload_id", "The session's id."),
                    {"name": "upload_protocol", "in": "query", "schema": {"type": "string", "enum": ["resumable"]}},
                    {
                        "name": "x-goog-upload-command",
                        "in": "header",
                        "required": True,
                        "schema": {
                            "type": "string",
                            "enum": ["upload", "upload, finalize", "finalize", "query", "cancel"],
                        },
                    },
                    {
                        "name": "x-goog-upload-offset",
                        "in": "header",
                        "schema": {"type": "string", "pattern": "^[0-9]{1,10}$"},
                        "description": "How many bytes the session received so far (for upload).",
                    },
                ],
                requestBody={
                    "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
                },
                security=[],
            )
        },
        f"/{v}/files": {
            "get": op(
                "files.list",
                "The key's files, newest first (uploaded ones and responses files).",
                {"200": _json("ListFilesResponse", "A page of files.")},
                parameters=_page("Files a page (default 10, at most 100)."),
            )
        },
        f"/{v}/files/{{file_id}}": {
            "get": op("files.get", "A file.", {"200": _json("File", "The file.")}, parameters=[file_id]),
            "delete": op("files.delete", "Delete a file.", {"200": _json("Empty", "Deleted.")}, parameters=[file_id]),
        },
        f"/{v}/files/{{file_id}}:download": {"get": download},
        f"/download/{v}/files/{{file_id}}:download": {
            "get": {
                **download,
                "operationId": f"{v}.files.download.guide",
                "summary": "The same, at the REST guide's URL.",
            }
        },
    }


def gemini_description() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for v in VERSIONS:
        for path, ops in _operations(v).items():
            if path in SHARED:  # only the header makes the call Gemini's there
                for op in ops.values():
                    op["security"] = [{"apiKeyHeader": []}]
                    op["responses"]["401"] = {
                        "description": (
                            "No x-goog-api-key header: the call is OpenAI's, which refuses it without a bearer "
                            "token in its own envelope (or a fault injected with status 401, in this one)."
                        ),
                        "content": {JSON: {"schema": {"anyOf": [ref("ErrorResponse"), OPENAI_ENVELOPE]}}},
                    }
            paths[path] = ops
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Gemini batch mode as batchsim serves it",
            "version": "v1beta",
            "description": (
                "The routes of the Gemini Developer API that batchsim emulates: batch mode "
                "(models.batchGenerateContent, models.asyncBatchEmbedContent, batches.get/list/cancel/delete) "
                "and the Files API (resumable uploads, get, list, delete, downloads), each under /v1 and /v1beta. "
                "Google publishes no OpenAPI document of these: the schemas are written from its API reference "
                "(ai.google.dev/api/batch-mode, /api/files, /api/generate-content, /api/embeddings) by "
                "scripts/openapi_gemini.py. The key comes in x-goog-api-key or ?key=; on /v1/batches, "
                "/v1/batches/{id}, /v1/files and /v1/files/{id}, which OpenAI's API has too, only the header "
                "makes a call Gemini's."
            ),
        },
        "paths": paths,
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {
                "apiKeyHeader": {"type": "apiKey", "in": "header", "name": "x-goog-api-key"},
                "apiKeyQuery": {"type": "apiKey", "in": "query", "name": "key"},
            },
        },
        "security": [{"apiKeyHeader": []}, {"apiKeyQuery": []}],
    }
