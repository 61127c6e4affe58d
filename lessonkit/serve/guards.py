"""What wraps the routes: the middlewares (metrics, CORS, limits) and an OpenAPI schema that tells the truth.

Order, outermost first: ``MetricsMiddleware`` (so it counts every answer, a 503 or 413 included),
``CORSMiddleware`` only when ``cors_origins`` is set (so refusals carry CORS headers a browser page
can read), then ``LimitsMiddleware`` (secrets, body size, open streams), then the routes.

The schema (``/openapi.json``) is corrected once, when first asked for, to describe what the server
answers: every error is ``{"detail": "..."}`` (FastAPI would document a 422 as a list of
validation errors); with tokens, every route that depends on ``current_user`` carries the bearer
security scheme and a 401; stream routes may answer 503, routes with a body 413, thread routes 404.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from .events import EXTRAS
from .identity import THREAD_CHARS, current_user
from .limits import STREAM_PATH, LimitsMiddleware
from .metrics import MetricsMiddleware
from .settings import ServeSettings

try:  # FastAPI >= 0.165 resolves included routers lazily: app.routes holds them unexpanded
    from fastapi.routing import iter_route_contexts
except ImportError:  # pragma: no cover - older FastAPI lists every route in app.routes
    iter_route_contexts = None  # type: ignore[assignment]

ERROR_SCHEMA = {"title": "ErrorBody", "type": "object", "required": ["detail"],
                "properties": {"detail": {"type": "string", "description": "what happened and what to do (redacted)"}}}
ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}
SCHEME = "bearer"
THREAD_ID_PATTERN = r"^[A-Za-z0-9._~-]+$"
LAST_EVENT_ID_PATTERN = r"^[ \t]*[0-9]*[ \t]*$"  # empty: from the first event
EXTRA_ERRORS = {
    400: "the body is not valid JSON",
    401: "no bearer token, or one this server does not know (WWW-Authenticate: Bearer)",
    403: "the server has no tokens file and the caller is on another machine",
    404: "no such thread (or run) for this caller",
    413: "the request body is over the server's limit",
    503: "the server's open-stream limit is reached (Retry-After says when to try again)",
}


def install_guards(app: FastAPI, settings: ServeSettings) -> None:
    """Add the middlewares in the order above, and the schema correction."""
    app.add_middleware(LimitsMiddleware, settings=settings)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins), allow_credentials=False,
                           allow_methods=["GET", "POST", "PUT", "DELETE", "OPTIONS"],
                           allow_headers=["Authorization", "Content-Type", "Last-Event-ID"],
                           expose_headers=["X-Lessonkit-Run-Id", "Retry-After", "WWW-Authenticate"], max_age=600)
    app.add_middleware(MetricsMiddleware)
    app.openapi = _corrected(app, app.openapi, settings)  # type: ignore[method-assign]


def _uses(dependant: Any, call: Callable[..., Any]) -> bool:
    return dependant.call is call or any(_uses(d, call) for d in dependant.dependencies)


def flat_routes(routes: Sequence[Any]) -> list[Any]:
    """Every route, the ones inside included routers too (FastAPI 0.165 keeps those behind ``_IncludedRouter``)."""
    if iter_route_contexts is None:
        return list(routes)
    return list(iter_route_contexts(routes))


def authenticated_paths(app: FastAPI) -> set[tuple[str, str]]:
    """(path, method) of every route whose caller comes from ``current_user``: the ones a token guards."""
    out = set()
    for route in flat_routes(app.routes):
        dependant = getattr(route, "dependant", None)
        if dependant is not None and route.methods and _uses(dependant, current_user):
            out |= {(route.path_format, m.lower()) for m in route.methods}
    return out


def _operations(schema: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            if method in ("get", "post", "put", "delete", "patch"):
                yield path, method, operation


def thread_id_schema(settings: ServeSettings) -> dict[str, Any]:
    """What ``identity.check_public_thread_id`` accepts, as JSON Schema."""
    return {"type": "string", "minLength": 1, "maxLength": settings.max_thread_id_length, "pattern": THREAD_ID_PATTERN,
            "description": f"the conversation's id: 1 to {settings.max_thread_id_length} of {THREAD_CHARS}"}


def run_body_schema(base: dict[str, Any], settings: ServeSettings) -> dict[str, Any]:
    """RunBody with the rules ``run_inputs.run_request`` applies: exactly one of a non-blank ``message``
    (at most ``max_message_chars``) and ``resume``; ``stream_mode`` names from ``events.EXTRAS``."""
    names = ["events", *EXTRAS]
    props = base.setdefault("properties", {})
    props["message"] = {**props.get("message", {}), "anyOf": [
        {"type": "string", "minLength": 1, "maxLength": settings.max_message_chars, "pattern": r"\S"}, {"type": "null"}]}
    props["stream_mode"] = {**props.get("stream_mode", {}), "anyOf": [
        {"type": "string", "enum": names}, {"type": "array", "items": {"type": "string", "enum": names}}, {"type": "null"}]}
    base["oneOf"] = [
        {"required": ["message"], "properties": {"message": {"type": "string"}}, "not": {"required": ["resume"]}},
        {"required": ["resume"], "properties": {"message": {"type": "null"}}},
    ]
    return base


def correct_schema(schema: dict[str, Any], secured: set[tuple[str, str]], settings: ServeSettings) -> dict[str, Any]:
    """``schema`` (FastAPI's) with the errors, statuses and security this server really has; changed in place."""
    components = schema.setdefault("components", {})
    components.setdefault("schemas", {})["ErrorBody"] = ERROR_SCHEMA
    if "RunBody" in components["schemas"]:
        run_body_schema(components["schemas"]["RunBody"], settings)
    if settings.tokens is not None:
        components.setdefault("securitySchemes", {})[SCHEME] = {
            "type": "http", "scheme": "bearer", "description": "a token from the server's tokens file (--tokens)"}
    for path, method, operation in _operations(schema):
        responses = operation.setdefault("responses", {})
        for parameter in operation.get("parameters", []):
            if parameter.get("in") == "path" and parameter.get("name") == "thread_id":
                parameter["schema"] = thread_id_schema(settings)
            elif parameter.get("in") == "header" and parameter.get("name", "").lower() == "last-event-id":
                parameter["schema"] = {"type": "string", "pattern": LAST_EVENT_ID_PATTERN, "description": "the id of the last event the client has"}
        wanted = set()
        if settings.tokens is not None and (path, method) in secured:
            operation["security"] = [{SCHEME: []}]
            wanted.add(401)
        elif settings.tokens is None and (path, method) in secured:
            wanted.add(403)
        if "{thread_id}" in path:
            wanted |= {404, 422}
        if "requestBody" in operation:
            wanted |= {400, 413, 422}
        if STREAM_PATH.search(path):
            wanted.add(503)
        for status in wanted:
            responses.setdefault(str(status), {"description": EXTRA_ERRORS.get(status, "invalid request")})
        for status, response in responses.items():
            if status.isdigit() and int(status) >= 400:
                response["content"] = {"application/json": {"schema": ERROR_REF}}
    used = str(schema.get("paths", {}))
    for name in ("HTTPValidationError", "ValidationError"):
        if f"#/components/schemas/{name}" not in used:
            components["schemas"].pop(name, None)
    return schema


def _corrected(app: FastAPI, original: Callable[[], dict[str, Any]], settings: ServeSettings) -> Callable[[], dict[str, Any]]:
    done: list[int] = []  # id of the schema already corrected (FastAPI rebuilds it when routes change)

    def openapi() -> dict[str, Any]:
        schema = original()
        if done != [id(schema)]:
            correct_schema(schema, authenticated_paths(app), settings)
            done[:] = [id(schema)]
        return schema

    return openapi
