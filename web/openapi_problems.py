"""The OpenAPI documents say every answer an operation can give, not just its success.

Which problem+json answers an operation can give follows from its shape, the same rules the server applies:
an authenticated operation can answer 401 and 403, one with a path parameter 404, one with a JSON body
400 (unreadable JSON), 413 and 415, every command 409 (a state that forbids it, or a write that kept
conflicting), any operation 422 (a bad parameter: even an undeclared one with a control character) and 503
(the database unreachable, with Retry-After). Request bodies also say that unknown fields are refused.
"""

from typing import Final

from litestar import Litestar
from litestar.openapi.spec import (
    OpenAPI,
    OpenAPIHeader,
    OpenAPIMediaType,
    OpenAPIResponse,
    Operation,
    Reference,
    Schema,
)
from litestar.openapi.spec.enums import OpenAPIType

PROBLEM_MEDIA_TYPE: Final = "application/problem+json"
PROBLEM_SCHEMA: Final = "Problem"
# Probes need no token. Liveness needs nothing else either; readiness answers its own 503 (what is not
# ready), not a problem.
PUBLIC_OPERATIONS: Final = frozenset({"/health/live", "/health/ready"})

DESCRIPTIONS: Final = {
    400: "The body is not plain JSON (malformed, nested too deep, or a key given twice)",
    401: "No valid bearer token: missing, expired, signed for another deployment, or not under the Bearer scheme",
    403: "The token's role may not do this",
    404: "Nothing by this id, or it belongs to another customer",
    409: "The current state forbids it, or the record kept changing under concurrent writes",
    413: "The body is larger than 1 MiB",
    415: "The body is not sent as application/json",
    422: "A field or parameter is invalid; `errors` names each one",
    503: "The database cannot be reached right now; retry after `Retry-After` seconds",
}


def _problem_schema() -> Schema:
    field_error = Schema(type=OpenAPIType.OBJECT, required=["field", "message"], properties={
        "field": Schema(type=OpenAPIType.STRING), "message": Schema(type=OpenAPIType.STRING),
        "source": Schema(one_of=[Schema(type=OpenAPIType.STRING), Schema(type=OpenAPIType.NULL)])})
    return Schema(type=OpenAPIType.OBJECT, title=PROBLEM_SCHEMA, required=["type", "title", "status"],
                  description="An error answer (RFC 9457); `errors` names each invalid field of a 422.", properties={
                      "type": Schema(type=OpenAPIType.STRING),
                      "title": Schema(type=OpenAPIType.STRING),
                      "status": Schema(type=OpenAPIType.INTEGER),
                      "detail": Schema(type=OpenAPIType.STRING),
                      "errors": Schema(type=OpenAPIType.ARRAY, items=field_error),
                      "existing_id": Schema(type=OpenAPIType.STRING),
                  })


def _statuses(path: str, operation: Operation, authenticated: bool) -> list[int]:
    statuses = [422]
    if path not in PUBLIC_OPERATIONS:
        statuses.append(503)
    if authenticated:
        statuses += [401, 403]
    if "{" in path:
        statuses.append(404)
    if operation.request_body is not None:
        statuses += [400, 413, 415]
    return statuses


def _problem_response(status: int) -> OpenAPIResponse:
    headers: dict[str, OpenAPIHeader | Reference] | None = None
    if status == 503:
        headers = {"Retry-After": OpenAPIHeader(schema=Schema(type=OpenAPIType.INTEGER),
                                                description="seconds to wait before retrying")}
    elif status == 401:
        headers = {"WWW-Authenticate": OpenAPIHeader(schema=Schema(type=OpenAPIType.STRING))}
    return OpenAPIResponse(description=DESCRIPTIONS[status], headers=headers, content={
        PROBLEM_MEDIA_TYPE: OpenAPIMediaType(schema=Reference(ref=f"#/components/schemas/{PROBLEM_SCHEMA}"))})


def _refuse_unknown_fields(openapi: OpenAPI, schema: Schema | Reference | None, seen: set[str]) -> None:
    if isinstance(schema, Reference):
        name = schema.ref.rsplit("/", 1)[-1]
        components = openapi.components.schemas or {}
        if name in seen or name not in components:
            return
        seen.add(name)
        schema = components[name]
    if not isinstance(schema, Schema):
        return
    if schema.properties is not None:
        schema.additional_properties = False
        for child in schema.properties.values():
            _refuse_unknown_fields(openapi, child, seen)
    children: list[Schema | Reference | None] = [schema.items, *(schema.one_of or ()), *(schema.any_of or ())]
    for nested in children:
        _refuse_unknown_fields(openapi, nested, seen)


def _not_nullable(schema: Schema) -> None:
    """A parameter is sent or left out, never null: drop the `null` the framework offers for optional ones."""
    if schema.one_of:
        kept = [choice for choice in schema.one_of
                if not (isinstance(choice, Schema) and choice.type == OpenAPIType.NULL)]
        if len(kept) == 1 and isinstance(kept[0], Schema) and kept[0].type is not None:
            schema.type, schema.one_of = kept[0].type, None
            schema.format = schema.format or kept[0].format
            schema.enum = schema.enum or kept[0].enum
        else:
            schema.one_of = kept


def document_problems(app: Litestar, *, commands: bool) -> None:
    """Add the problem answers to every operation of `app`'s OpenAPI document, refuse unknown body fields,
    and say that parameters are never null."""
    openapi = app.openapi_schema
    schemas = dict(openapi.components.schemas or {})
    schemas[PROBLEM_SCHEMA] = _problem_schema()
    openapi.components.schemas = schemas
    seen: set[str] = set()
    for path, item in (openapi.paths or {}).items():
        for method in ("get", "put", "post", "delete", "patch"):
            operation: Operation | None = getattr(item, method)
            if operation is None:
                continue
            if path in PUBLIC_OPERATIONS:
                operation.security = []  # said outright: leaving it out would mean the document's default
            statuses = _statuses(path, operation, authenticated=path not in PUBLIC_OPERATIONS)
            # What the handler declares itself (its `raises`) is answered as a problem like the rest.
            statuses += [int(code) for code in operation.responses or {} if code[:1] in ("4", "5")
                         and int(code) in DESCRIPTIONS]
            if commands and method != "get":
                statuses.append(409)
            responses = dict(operation.responses or {})
            for status in sorted(set(statuses)):
                # Replaces the framework's own error entries too: they describe a shape we never send.
                responses[str(status)] = _problem_response(status)
            operation.responses = responses
            for parameter in operation.parameters or ():
                if not isinstance(parameter, Reference) and isinstance(parameter.schema, Schema):
                    _not_nullable(parameter.schema)
            body = operation.request_body
            if body is not None and not isinstance(body, Reference):
                for media in body.content.values():
                    _refuse_unknown_fields(openapi, media.schema, seen)
