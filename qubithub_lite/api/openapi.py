"""The OpenAPI 3.1 document, generated from the route table and the pydantic models."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import models_json_schema

from ..schemas.common import ErrorResponse
from .routing import RouteSpec

REF = "#/components/schemas/{model}"
_STATUS_TEXT = {400: "Bad request", 401: "Not authenticated", 403: "Forbidden", 404: "Not found",
                409: "Conflict", 413: "Too large", 429: "Rate limited"}


def _model_schema(model: Any, mode: str, defs: dict[str, Any]) -> dict[str, Any]:
    if isinstance(model, type) and issubclass(model, BaseModel):
        _, top = models_json_schema([(model, mode)], ref_template=REF)
        defs.update(top.get("$defs", {}))
        return {"$ref": REF.format(model=model.__name__)}
    schema = TypeAdapter(model).json_schema(ref_template=REF, mode=mode)
    defs.update(schema.pop("$defs", {}))
    return schema


def _query_params(model: type[BaseModel], defs: dict[str, Any]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template=REF)
    defs.update(schema.get("$defs", {}))
    required = set(schema.get("required", []))
    params = []
    for name, prop in schema.get("properties", {}).items():
        param = {"name": name, "in": "query", "required": name in required, "schema": prop}
        if prop.get("type") == "array" or any(p.get("type") == "array" for p in prop.get("anyOf", [])):
            param.update(style="form", explode=True)
        if "description" in prop:
            param["description"] = prop["description"]
        params.append(param)
    return params


def _multipart_schema(fields: dict[str, str]) -> dict[str, Any]:
    """File fields: ``files`` is repeated (one part per file), any other is one file."""
    props: dict[str, Any] = {}
    for name, description in fields.items():
        binary = {"type": "string", "format": "binary"}
        if name == "files":
            props[name] = {"type": "array", "items": binary, "minItems": 1, "description": description}
        else:
            props[name] = {**binary, "description": description}
    return {
        "schema": {"type": "object", "properties": props, "required": list(fields)},
        "encoding": {name: {"contentType": "application/octet-stream"} for name in fields},
    }


def openapi_path(path: str) -> str:
    """The router's path with any ``{name:regex}`` written as the template ``{name}``."""
    return re.sub(r"{(\w+):[^}]*}", r"{\1}", path)


def _operation(spec: RouteSpec, defs: dict[str, Any]) -> dict[str, Any]:
    op: dict[str, Any] = {"operationId": spec.name, "summary": spec.summary or spec.name, "tags": list(spec.tags)}
    params = [
        {"name": n, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1, "maxLength": 400}}
        for n in re.findall(r"{(\w+)(?::[^}]*)?}", spec.path)
    ]
    if spec.query is not None:
        params += _query_params(spec.query, defs)
    if params:
        op["parameters"] = params
    content: dict[str, Any] = {}
    if spec.body is not None:
        content["application/json"] = {"schema": _model_schema(spec.body, "validation", defs)}
    if spec.multipart:
        content["multipart/form-data"] = _multipart_schema(spec.multipart)
    if content:
        op["requestBody"] = {"required": True, "content": content}
    responses: dict[str, Any] = {}
    if spec.websocket:
        responses["101"] = {"description": "WebSocket upgrade; JSON messages follow"}
    elif spec.status == 204:
        responses["204"] = {"description": "No content"}
    elif spec.raw_response:
        responses[str(spec.status)] = {"description": "File content", "content": {spec.raw_response: {"schema": {"type": "string", "format": "binary"}}}}
    else:
        content = {"application/json": {"schema": _model_schema(spec.response, "serialization", defs)}} if spec.response is not None else {}
        responses[str(spec.status)] = {"description": "Success", **({"content": content} if content else {})}
    error_ref = {"content": {"application/json": {"schema": {"$ref": REF.format(model="ErrorResponse")}}}}
    codes = set(spec.errors)
    if spec.body is not None or spec.query is not None or spec.multipart:
        codes.add(400)
    if spec.auth == "user":
        codes.add(401)
    if spec.scope:
        codes.add(403)
    if "{" in spec.path:
        codes.add(404)
    if spec.action:
        codes.add(429)
    for code in sorted(codes):
        responses[str(code)] = {"description": _STATUS_TEXT.get(code, "Error"), **error_ref}
    op["responses"] = responses
    security: list[dict[str, list[str]]] = [{"bearer": []}, {"apiKey": []}]
    if spec.auth == "user":
        op["security"] = security
    else:
        op["security"] = security + [{}]
    if spec.scope:
        op["x-required-scope"] = spec.scope
    return op


def build_openapi(specs: list[RouteSpec], version: str) -> dict[str, Any]:
    defs: dict[str, Any] = {}
    _model_schema(ErrorResponse, "serialization", defs)
    paths: dict[str, Any] = {}
    for spec in specs:
        paths.setdefault(openapi_path(spec.path), {})[spec.method.lower()] = _operation(spec, defs)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "QubitHub Lite API",
            "version": version,
            "description": "Every path is served both at the root and under /api. Errors are {\"detail\": \"...\"}. "
            "List endpoints take page (>= 1) and limit (1-100, default 20).",
        },
        "servers": [{"url": "/"}, {"url": "/api"}],
        "paths": paths,
        "components": {
            "schemas": defs,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT or qh_ API key"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
        },
    }
