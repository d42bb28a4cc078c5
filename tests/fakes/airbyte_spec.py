"""What Airbyte's public API accepts and returns, checked against Airbyte's official models.

`airbyte-api` (the SDK generated from the API's OpenAPI spec) supplies JobCreateRequest,
the listings' query parameters, and the job, connection, source, destination and workspace
responses. The generated models are lenient where the spec is not (they accept `null` for
optional strings, ignore unknown keys), so two spec rules are checked on top: no field the
model does not define, and no `null` (no field of these schemas is nullable). The token
endpoint and problem documents have no model in the SDK; their shapes below are the spec's
(`applications/token`, `api-problems.yaml`).

The one known mismatch between the spec and the real server: the token request's wire name is
`grant-type` (the platform's own wire-format test asserts it), where the spec's `required`
list says `grant_type`; the real body is what is checked here.
"""

from __future__ import annotations

import re
from typing import Any

import pydantic
from airbyte_api import api, models

TOKEN_REQUEST_FIELDS = {"client_id", "client_secret", "grant-type"}
TOKEN_RESPONSE_FIELDS = {"access_token", "token_type", "expires_in"}
PROBLEM_FIELDS = {"type", "title", "status", "detail", "documentationUrl", "data"}
# path -> (its query, its page, one item)
LISTINGS: dict[str, tuple[type[pydantic.BaseModel], ...]] = {
    "/sources": (api.ListSourcesRequest, models.SourcesResponse, models.SourceResponse),
    "/destinations": (
        api.ListDestinationsRequest,
        models.DestinationsResponse,
        models.DestinationResponse,
    ),
}


def _aliases(model: type[pydantic.BaseModel]) -> set[str]:
    return {field.alias or name for name, field in model.model_fields.items()}


def _check_model(model: type[pydantic.BaseModel], body: Any, where: str) -> list[str]:
    if not isinstance(body, dict):
        return [f"{where}: body is not a JSON object"]
    problems = [f"{where}: unknown field {k!r}" for k in body if k not in _aliases(model)]
    problems += [f"{where}: {k} is null (not nullable)" for k, v in body.items() if v is None]
    try:
        model.model_validate(body)
    except pydantic.ValidationError as exc:
        problems += [f"{where}: {err['loc']}: {err['msg']}" for err in exc.errors()]
    return problems


def _check_job(body: Any, where: str) -> list[str]:
    problems = _check_model(models.JobResponse, body, where)
    if isinstance(body, dict):
        if body.get("status") in ("succeeded", "failed", "cancelled"):
            if "lastUpdatedAt" not in body:
                problems.append(f"{where}: a terminal job has no lastUpdatedAt")
        elif "lastUpdatedAt" in body:
            problems.append(f"{where}: lastUpdatedAt before the job ended")
    return problems


def _check_query(
    model: type[pydantic.BaseModel], query: dict[str, list[str]], where: str
) -> list[str]:
    allowed = _aliases(model)
    problems = [f"{where}: unknown query parameter {k!r}" for k in query if k not in allowed]
    lists = {
        field.alias or name
        for name, field in model.model_fields.items()
        if "List" in str(field.annotation) or "list" in str(field.annotation)
    }
    try:
        model.model_validate({k: v if k in lists else v[0] for k, v in query.items()})
    except pydantic.ValidationError as exc:
        problems += [f"{where}: {err['loc']}: {err['msg']}" for err in exc.errors()]
    return problems


def check_request(method: str, path: str, query: dict[str, list[str]], body: Any) -> list[str]:
    """Spec violations of one request the client sent (empty when it conforms)."""
    where = f"request {method} {path}"
    if method == "POST" and path == "/jobs":
        return _check_model(models.JobCreateRequest, body, where)
    if method == "POST" and path == "/applications/token":
        if not isinstance(body, dict) or set(body) != TOKEN_REQUEST_FIELDS:
            return [f"{where}: fields {sorted(body or {})} != {sorted(TOKEN_REQUEST_FIELDS)}"]
        return []
    if method == "GET" and path == "/jobs":
        return _check_query(api.ListJobsRequest, query, where)
    if method in ("GET", "DELETE") and path.startswith("/jobs/"):
        return [] if path.removeprefix("/jobs/").isdigit() else [f"{where}: bad job id"]
    if method == "GET" and path.startswith("/connections/"):
        return [] if path.count("/") == 2 else [f"{where}: bad connection id"]
    if method == "GET" and path == "/connections":
        return _check_query(api.ListConnectionsRequest, query, where)
    if method == "GET" and path in LISTINGS:
        return _check_query(LISTINGS[path][0], query, where)
    if method == "GET" and re.fullmatch(r"/(sources|destinations)/[^/]+", path):
        return []
    return [f"{where}: not an endpoint this client should call"]


def check_response(method: str, path: str, status: int, body: Any) -> list[str]:
    """Spec violations of one response the fake sent (empty when it conforms)."""
    where = f"response {status} to {method} {path}"
    if path == "/applications/token" and status == 500:
        # the server's ApiExceptionHandler: only an errorId (no problem document)
        ok = isinstance(body, dict) and set(body) == {"errorId"}
        return [] if ok else [f"{where}: not an errorId body"]
    if status >= 400:
        return check_problem(body, where)
    if method == "GET" and path.startswith("/connections/"):
        return _check_model(models.ConnectionResponse, body, where)
    if method == "GET" and path == "/connections":
        problems = _check_model(models.ConnectionsResponse, body, where)
        for i, item in enumerate(body.get("data", []) if isinstance(body, dict) else []):
            problems += _check_model(models.ConnectionResponse, item, f"{where} data[{i}]")
        return problems
    if method == "GET" and path in LISTINGS:
        listing, item = LISTINGS[path][1:]
        problems = _check_model(listing, body, where)
        for i, each in enumerate(body.get("data", []) if isinstance(body, dict) else []):
            problems += _check_model(item, each, f"{where} data[{i}]")
        return problems
    if method == "GET" and (kind := re.fullmatch(r"/(sources|destinations)/[^/]+", path)):
        return _check_model(LISTINGS["/" + kind.group(1)][2], body, where)
    if method == "GET" and path.startswith("/workspaces/"):
        return _check_model(models.WorkspaceResponse, body, where)
    if path == "/applications/token":
        if not isinstance(body, dict) or set(body) != TOKEN_RESPONSE_FIELDS:
            return [f"{where}: fields {sorted(body or {})} != {sorted(TOKEN_RESPONSE_FIELDS)}"]
        return []
    if method == "GET" and path == "/jobs":
        problems = _check_model(models.JobsResponse, body, where)
        for i, job in enumerate(body.get("data", []) if isinstance(body, dict) else []):
            problems += _check_job(job, f"{where} data[{i}]")
        return problems
    return _check_job(body, where)


def check_problem(body: Any, where: str) -> list[str]:
    """A problem document (RFC 9457 as Airbyte writes it): type and title required."""
    if not isinstance(body, dict):
        return [f"{where}: problem is not a JSON object"]
    problems = [f"{where}: unknown problem field {k!r}" for k in body if k not in PROBLEM_FIELDS]
    problems += [f"{where}: problem without {k}" for k in ("type", "title") if not body.get(k)]
    if "data" in body and not isinstance(body["data"], dict):
        problems.append(f"{where}: problem data is not an object")
    return problems
