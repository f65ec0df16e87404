"""RFC 9457 problem+json for every error the API returns."""

from __future__ import annotations

import logging
from http import HTTPStatus

import nats.errors
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
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
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.headers = headers or {}
        self.errors = errors


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
