"""Write ``batchsim/openapi.json``: the Message Batches part of Anthropic's OpenAPI description.

Keeps the six ``/v1/messages/batches`` routes (the ``?beta=true`` copies are the same routes on
the wire), the schemas they reference (transitively), and nothing else; the emulator serves the
result at ``/_batchsim/openapi.json`` so OpenAPI tools (schemathesis, code generators) can drive it.

    python scripts/extract_openapi.py [SOURCE] [DEST]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SOURCE = Path("/work/shared/reference/anthropic-openapi.json")
DEST = ROOT / "batchsim" / "openapi.json"
PREFIX = "/v1/messages/batches"
REF = "#/components/schemas/"


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


def extract(spec: dict[str, Any]) -> dict[str, Any]:
    paths = {p: ops for p, ops in spec["paths"].items() if p.startswith(PREFIX) and "?" not in p}
    schemas = spec["components"]["schemas"]
    wanted: set[str] = set()
    _refs(paths, wanted)
    todo = list(wanted)
    while todo:
        found: set[str] = set()
        _refs(schemas[todo.pop()], found)
        for name in found - wanted:
            wanted.add(name)
            todo.append(name)
    chosen = {name: schemas[name] for name in sorted(wanted)}
    _add_request_too_large(chosen)
    for ops in paths.values():
        for op in ops.values():
            if isinstance(op, dict) and "4XX" in op.get("responses", {}):
                op["responses"]["5XX"] = {
                    "description": "Server-side error (api_error, overloaded_error, timeout_error...), "
                    "same envelope. batchsim sends these only when a scenario injects a fault.",
                    "content": op["responses"]["4XX"]["content"],
                }
    return {
        "openapi": spec["openapi"],
        "info": {
            "title": "Message Batches API (served by batchsim)",
            "version": spec.get("info", {}).get("version", "1"),
            "description": "The Message Batches routes of Anthropic's API, as batchsim emulates them. "
            "Extracted from Anthropic's OpenAPI description by scripts/extract_openapi.py, "
            "plus the request_too_large error (413) and the error envelope for 5XX answers.",
        },
        "paths": paths,
        "components": {"schemas": chosen},
    }


def main(argv: list[str]) -> int:
    source = Path(argv[1]) if len(argv) > 1 else SOURCE
    dest = Path(argv[2]) if len(argv) > 2 else DEST
    spec = extract(json.loads(source.read_text(encoding="utf-8")))
    dest.write_text(json.dumps(spec, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    print(f"{dest}: {len(spec['paths'])} paths, {len(spec['components']['schemas'])} schemas")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
