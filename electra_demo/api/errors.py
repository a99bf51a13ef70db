"""Every ``/v1`` error in OpenAI's shape: ``{"error": {"message", "type", "param", "code"}}``.

Routes and the edge middleware raise :class:`ApiError`; FastAPI's own errors (a body that does
not parse or does not fit the schema, an unknown route, a wrong method) and anything unexpected
are turned into the same shape by the handlers registered in :func:`install_handlers`. No
traceback and no user text beyond a short, plain model name ever reaches a response.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

log = logging.getLogger(__name__)

SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:@+-]{0,199}$")

# status -> (OpenAI's error type, our code)
KINDS: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "invalid_request"),
    401: ("invalid_request_error", "invalid_api_key"),
    404: ("invalid_request_error", "not_found"),
    405: ("invalid_request_error", "method_not_allowed"),
    413: ("invalid_request_error", "request_too_large"),
    415: ("invalid_request_error", "unsupported_media_type"),
    429: ("rate_limit_error", "rate_limit_exceeded"),
    500: ("server_error", "internal_error"),
    503: ("server_error", "overloaded"),
}


INPUT_HINTS: dict[str, dict[str, str]] = {  # route -> field -> the shapes it takes
    "/v1/embeddings": {
        "input": "a text, a list of 1 to 64 texts, a list of token ids (whole numbers from 0), "
        "or a list of 1 to 64 such lists"
    },
    "/v1/classify": {
        "input": "a text, or a list of 1 to 64 items, each a text or a two-item list [text, text_pair]"
    },
    "/v1/detect": {"input": "a text or a list of 1 to 64 texts"},
    "/v1/tag": {"input": "a text or a list of 1 to 64 texts"},
    "/v1/answer": {"input": "a {question, context} object or a list of 1 to 64 of them"},
}


class ApiError(Exception):
    """An error answered to the client as is: status, message, and the field at fault."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        retry_after: int | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code or KINDS.get(status, KINDS[400])[1]
        self.retry_after = retry_after

    def body(self) -> dict[str, Any]:
        kind = KINDS.get(self.status, KINDS[500] if self.status >= 500 else KINDS[400])[0]
        return {"error": {"message": self.message, "type": kind, "param": self.param, "code": self.code}}

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}

    def response(self) -> Response:
        return JSONBody(self.body(), status_code=self.status, headers=self.headers())


class JSONBody(Response):
    """JSON through orjson (NumPy arrays included), as compact as the client will parse."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)


def describe(value: object) -> str:
    """A user's value named without echoing arbitrary text back."""
    if isinstance(value, str):
        return repr(value) if SAFE_NAME.match(value) else f"a text of {len(value)} characters"
    if isinstance(value, (bool, int, float)) or value is None:
        return repr(value)
    return f"a value of type {type(value).__name__}"


TYPE_ERRORS = {"string_type", "list_type", "int_type", "int_parsing", "float_type", "bool_type", "model_type"}


def _is_union_tag(part: object) -> bool:
    """pydantic names a union's members in error locations ("list[constrained-str]", "QAInput")."""
    return isinstance(part, str) and (
        "[" in part or "-" in part or part[:1].isupper() or part in ("str", "int", "float", "bool")
    )


def param_path(loc: Sequence[Any]) -> str | None:
    """pydantic's location (``("body", "input", "list[str]", 3)``) as a field path (``input[3]``)."""
    out = ""
    for part in loc:
        if part == "body" or _is_union_tag(part):
            continue
        out += f"[{part}]" if isinstance(part, int) else ("." if out else "") + str(part)
    return out or None


def validation_error(errors: Sequence[Mapping[str, Any]], hints: Mapping[str, str] | None = None) -> ApiError:
    """One clear 400 from pydantic's errors, naming the field. A field that takes several
    shapes (``input``) fails once per shape: say which shapes it takes (``hints``) and the most
    specific failure (a limit rather than a type mismatch)."""
    if not errors:
        return ApiError(400, "The request body is not valid.")
    first = errors[0]
    param = param_path(first.get("loc", ()))
    kind = first.get("type", "")
    if kind == "json_invalid":
        return ApiError(400, "The request body is not valid JSON.", code="invalid_json")
    if kind == "missing" and param is None:
        return ApiError(400, "The request has no body: send a JSON object.", code="missing_body")
    if kind == "missing":
        return ApiError(400, f"The field '{param}' is required.", param=param, code="missing_field")
    if kind == "extra_forbidden":
        return ApiError(
            400, f"Unknown field '{param}'; see /v1/docs for the fields.", param=param, code="unknown_field"
        )
    union = any(_is_union_tag(part) for part in first.get("loc", ()))
    field = str(first.get("loc", ("", ""))[1]) if len(first.get("loc", ())) > 1 else ""
    if union and hints and field in hints:
        specific = [
            e for e in errors if e.get("type") not in TYPE_ERRORS and e.get("loc", ())[1:2] == (field,)
        ]
        chosen = specific[0] if specific else first
        at = param_path(chosen.get("loc", ()))
        detail = f" ({at}: {_message(chosen)})" if specific else ""
        return ApiError(400, f"Invalid '{field}': expected {hints[field]}{detail}.", param=field)
    where = f"Invalid '{param}': " if param else "Invalid request body: "
    return ApiError(400, where + _message(first) + ".", param=param)


def _message(error: Mapping[str, Any]) -> str:
    text = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
    return text[0].lower() + text[1:] if text else text


def install_handlers(app: FastAPI) -> None:
    """Route every error FastAPI can raise through :class:`ApiError`'s shape."""

    @app.exception_handler(ApiError)
    async def api_error(request: Request, error: ApiError) -> Response:
        return error.response()

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> Response:
        return validation_error(error.errors(), INPUT_HINTS.get(request.url.path)).response()

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        if error.status_code == 404:
            message = f"No route {request.method} {request.url.path}; see /v1/docs for the API."
        elif error.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}; see /v1/docs."
        else:
            message = str(error.detail)
        api = ApiError(error.status_code, message)
        response = api.response()
        for name, value in (error.headers or {}).items():
            response.headers[name] = value
        return response

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> Response:
        log.exception("unexpected error in %s %s", request.method, request.url.path)
        return ApiError(
            500, "Something went wrong on the server; the error was logged. Please try again."
        ).response()
