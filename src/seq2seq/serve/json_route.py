"""A FastAPI route class for an endpoint that takes one JSON body and returns a dict: the body is read, parsed
and validated, and the dict sent as JSON, without FastAPI's general parameter machinery (dependency solving,
content negotiation, response-model validation), which costs the event loop about as much per request as all
the rest of a translation request's handling. The route is still declared with FastAPI, so /openapi.json
documents its body, answers and security exactly as before."""

from __future__ import annotations

import inspect
import json
import typing
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response

Endpoint = Callable[[Any, Request], Awaitable[dict[str, Any]]]


def is_json(content_type: str | None) -> bool:
    """Whether a Content-Type header names JSON (`application/json` or `application/<anything>+json`)."""
    if not content_type:
        return False
    kind = content_type.split(";", 1)[0].strip().lower()
    return kind == "application/json" or (kind.startswith("application/") and kind.endswith("+json"))


def parse_body(model: type[BaseModel], raw: bytes, content_type: str | None) -> BaseModel:
    """`raw` as an instance of `model`; RequestValidationError (422, each error's `loc` starting with "body", as
    FastAPI's own) for an empty body, a body that is not JSON, or one the model refuses."""
    if not raw:
        raise RequestValidationError([{"type": "missing", "loc": ("body",), "msg": "Field required"}])
    if not is_json(content_type):
        raise RequestValidationError([{"type": "model_attributes_type", "loc": ("body",),
                                       "msg": "the body must be JSON (Content-Type: application/json)"}])
    try:
        data = json.loads(raw)  # the standard parser, as FastAPI's: NaN, Infinity, lone surrogates are the model's
    except json.JSONDecodeError as e:
        raise RequestValidationError([{"type": "json_invalid", "loc": ("body", e.pos), "msg": "JSON decode error",
                                       "ctx": {"error": e.msg}}]) from None
    except (ValueError, RecursionError):  # bytes that are no text in any UTF; nesting deeper than Python's stack
        raise RequestValidationError([{"type": "json_invalid", "loc": ("body",), "msg": "JSON decode error"}]) from None
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise RequestValidationError([{**err, "loc": ("body", *err["loc"])}
                                      for err in e.errors(include_url=False, include_input=False)]) from None


class JsonBodyRoute(APIRoute):
    """An APIRoute for `async def endpoint(body: Model, request: Request) -> dict`: the request's body validated
    as `Model` (the first parameter's annotation), the dict answered with 200 as JSON. Errors raised by the
    endpoint go to the app's exception handlers, as from any route."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """The request handler: parse, validate, call the endpoint, send its dict."""
        endpoint: Endpoint = self.endpoint
        first = next(iter(inspect.signature(endpoint).parameters))
        model = typing.get_type_hints(endpoint)[first]
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise TypeError(f"{endpoint.__name__}: the first parameter must be annotated with a pydantic model")

        async def handler(request: Request) -> Response:
            body = parse_body(model, await request.body(), request.headers.get("content-type"))
            return JSONResponse(await endpoint(body, request))

        return handler
