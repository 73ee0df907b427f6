"""drf-spectacular post-processing: the error responses of API.md's conventions, on every
operation, so the schema tells integrators (and schemathesis) what each endpoint may answer."""

from __future__ import annotations

from typing import Any

FIELD_ERRORS = {
    "type": "object",
    "description": "400: messages per field (`non_field_errors` for the whole object).",
    "additionalProperties": {"type": "array", "items": {"type": "string"}},
}
DETAIL = {
    "type": "object",
    "properties": {"detail": {"type": "string"}},
    "required": ["detail"],
    "additionalProperties": True,
}
ERRORS = {
    "400": ("Invalid input", "FieldErrors"),
    "401": ("Not authenticated", "Detail"),
    "403": ("The role may not do this", "Detail"),
    "404": ("Not found, or outside the caller's scope", "Detail"),
    "409": ("The object's state forbids it", "Detail"),
}


def add_error_responses(result: dict[str, Any], **_: Any) -> dict[str, Any]:
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas["FieldErrors"] = FIELD_ERRORS
    schemas["Detail"] = DETAIL
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            responses = operation.setdefault("responses", {})
            codes = ["400", "401", "403", "404"]
            if method in {"post", "put", "patch", "delete"}:
                codes.append("409")
            if operation.get("security") == [] or operation.get("security") == [{}]:
                codes.remove("401")
            for code in codes:
                description, schema = ERRORS[code]
                responses.setdefault(
                    code,
                    {
                        "description": description,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": f"#/components/schemas/{schema}"}
                            }
                        },
                    },
                )
    return result
