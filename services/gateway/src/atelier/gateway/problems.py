"""RFC 9457 problem+json for every error the API returns."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

import nats.errors
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from atelier.runtime.rpc import RpcError

MEDIA_TYPE = "application/problem+json"

log = logging.getLogger(__name__)


class Problem(Exception):
    def __init__(
        self,
        status: int,
        title: str,
        detail: str = "",
        *,
        headers: dict[str, str] | None = None,
        errors: list[dict] | None = None,
        extensions: dict[str, object] | None = None,
    ) -> None:
        """`extensions`: members of the problem object besides the standard ones (RFC 9457
        §3.2), e.g. which quota was used up."""
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.headers = headers or {}
        self.errors = errors
        self.extensions = extensions or {}


def problem_response(problem: Problem, instance: str) -> JSONResponse:
    body = {
        "type": "about:blank",
        "title": problem.title,
        "status": problem.status,
        "detail": problem.detail,
        "instance": instance,
    }
    if problem.errors:
        body["errors"] = problem.errors
    body |= {key: value for key, value in problem.extensions.items() if key not in body}
    return JSONResponse(
        body, status_code=problem.status, media_type=MEDIA_TYPE, headers=problem.headers
    )


def validation_problem(errors: list[dict]) -> Problem:
    readable = [
        {"loc": [str(part) for part in error["loc"]], "msg": error["msg"], "type": error["type"]}
        for error in errors
    ]
    first = readable[0]
    where = ".".join(part for part in first["loc"] if part != "body") or "request"
    return Problem(422, "Invalid request", f"{where}: {first['msg']}", errors=readable)


def install(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _request_invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return problem_response(validation_problem(list(exc.errors())), request.url.path)

    @app.exception_handler(ValidationError)
    async def _model_invalid(request: Request, exc: ValidationError) -> JSONResponse:
        return problem_response(validation_problem(exc.errors()), request.url.path)

    @app.exception_handler(RpcError)
    async def _rpc(request: Request, exc: RpcError) -> JSONResponse:
        return problem_response(Problem(exc.status, exc.title, exc.detail), request.url.path)

    @app.exception_handler(nats.errors.Error)
    async def _bus_unavailable(request: Request, exc: nats.errors.Error) -> JSONResponse:
        log.warning("event bus unavailable", extra={"error": repr(exc)})
        problem = Problem(503, "Service Unavailable", "the event log cannot be reached; retry")
        return problem_response(problem, request.url.path)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("request failed", extra={"path": request.url.path})
        problem = Problem(500, "Internal Server Error", "the request failed; see the logs")
        return problem_response(problem, request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        problem = Problem(exc.status_code, _title(exc.status_code), str(exc.detail or ""))
        return problem_response(problem, request.url.path)


def _title(status: int) -> str:
    return HTTPStatus(status).phrase


# The OpenAPI document's account of the errors above: one schema, and for each operation
# the statuses it can answer with it (`responses(...)` in the routers).

SCHEMA = "Problem"


class ProblemField(BaseModel):
    """One refused part of a request (422)."""

    loc: list[str] = Field(description="Where: `body`, `query`, `header` or `path`, then names")
    msg: str
    type: str


class ProblemDetails(BaseModel):
    """RFC 9457 problem details, sent as `application/problem+json` with every error."""

    type: str = Field(default="about:blank", description="Always `about:blank`")
    title: str = Field(description="The status's phrase, or a short summary")
    status: int = Field(description="The HTTP status code")
    detail: str = Field(description="What went wrong, for a person")
    instance: str = Field(description="The request's path")
    errors: list[ProblemField] = Field(
        default_factory=list, description="422 only: every refused part of the request"
    )
    quota: str | None = Field(default=None, description="429 only: the daily quota used up")
    used: float | None = Field(default=None, description="429 only: how much of it is used")
    limit: float | None = Field(default=None, description="429 only: the quota")
    resets_at: str | None = Field(default=None, description="429 only: when it resets (UTC)")


_MEANING = {
    400: "The cursor is not one this list gave",
    401: "No valid bearer token",
    403: "The token is valid, but not an administrator's",
    404: "No such resource of this user's (another user's ids are not found either)",
    409: "The resource's state or a concurrent change refuses it; reload and retry",
    413: "The body is too large (10 MB, 4096 x 4096 pixels)",
    415: "The body is not PNG, JPEG or WebP",
    416: "The byte range lies beyond the file",
    422: "The request is not valid; `errors` names each part at fault",
    429: "Too many jobs active or submitted this minute, or a daily quota of the user's tier "
    "is used up (then `quota`, `used`, `limit` and `resets_at` say which and until when), "
    "or, on the routes anyone may call, too many requests a minute from one address; "
    "retry after `Retry-After` seconds",
    500: "The request failed; see the gateway's logs",
    503: "The event log or the service that owns the data cannot be reached; retry",
}
_HEADERS = {
    401: {
        "WWW-Authenticate": {
            "description": "The authentication scheme: `Bearer`",
            "schema": {"type": "string"},
        }
    },
    429: {
        "Retry-After": {
            "description": "Seconds to wait before trying again",
            "schema": {"type": "integer"},
        }
    },
}


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI responses for `statuses`, each an `application/problem+json` Problem."""
    return {
        status: {
            "description": _MEANING[status],
            "content": {MEDIA_TYPE: {"schema": {"$ref": f"#/components/schemas/{SCHEMA}"}}},
        }
        | ({"headers": _HEADERS[status]} if status in _HEADERS else {})
        for status in statuses
    }
