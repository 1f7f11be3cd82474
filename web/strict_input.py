"""Hostile input stops at the edge: every request body, query and path parameter is checked before a handler.

A JSON body must come as `application/json` (else 415: a cross-site form cannot post it), be nested at most
`MAX_JSON_DEPTH` deep (checked before any decoder recurses into it), name each key once, and hold values of
the declared types exactly (`"1"` is not a quantity, `1000.0` not a count). No text, in a body or a parameter,
may hold a control character: PostgreSQL's text and jsonb refuse NUL, so one stored in an event would stop
every reader of it. Each refusal is a problem+json answer naming what was wrong.
"""

import json
import re
import unicodedata
from collections.abc import Iterator
from typing import Any, Final

import msgspec
from litestar import Request
from litestar.enums import RequestEncodingType
from litestar.params import ParameterKwarg
from litestar.plugins.problem_details import ProblemDetailsException

from web.problems import problem

MAX_JSON_DEPTH: Final = 32
MAX_BODY_BYTES: Final = 1024 * 1024
JSON_MEDIA_TYPE: Final = "application/json"

# What the edge accepts as text, said in the documents too: no control characters, and for required text
# at least one character that is not a space.
_CONTROLS: Final = r"\u0000-\u001f\u007f-\u009f"
PLAIN_TEXT: Final = rf"^[^{_CONTROLS}]*$"
SOME_TEXT: Final = rf"^[^{_CONTROLS}]*[^\s{_CONTROLS}][^{_CONTROLS}]*$"
# A moment in RFC 3339 (an offset is optional: without one, UTC).
RFC3339: Final = r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})?$"

_STRING_LITERAL: Final = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET: Final = re.compile(rb"[\[\]{}]")
_FORBIDDEN_CATEGORIES: Final = frozenset({"Cc", "Cs"})
_NAMED_FIELD: Final = re.compile(r"Object (?:missing required|contains unknown) field `([^`]+)`")


class MalformedJson(ValueError):
    """Text that is not one plain JSON value we are willing to decode."""


def nesting_depth(raw: bytes | str) -> int:
    """How deeply arrays and objects nest in a JSON text, found without decoding (so without recursion)."""
    text = raw.encode() if isinstance(raw, str) else raw
    depth = deepest = 0
    for bracket in _BRACKET.finditer(_STRING_LITERAL.sub(b'""', text)):
        depth += 1 if bracket.group() in (b"[", b"{") else -1
        deepest = max(deepest, depth)
    return deepest


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise MalformedJson(f"the key {key!r} appears twice in one object")
        seen[key] = value
    return seen


def _no_constant(name: str) -> Any:
    raise MalformedJson(f"{name} is not a JSON number")


def decode_plain_json(raw: bytes | str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Decode one JSON value; raises MalformedJson if it is invalid, too deep or names a key twice."""
    if nesting_depth(raw) > max_depth:
        raise MalformedJson(f"JSON nested deeper than {max_depth} levels")
    try:
        return json.loads(raw, object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except MalformedJson:
        raise
    except (ValueError, RecursionError) as error:
        raise MalformedJson(f"not valid JSON: {error}") from None


def control_character(text: str) -> str | None:
    """The first control character (or lone surrogate) in `text`, if any."""
    return next((character for character in text if unicodedata.category(character) in _FORBIDDEN_CATEGORIES), None)


def strings_in(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every string in a decoded JSON value (keys included) with the path a client knows it by."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            yield child, str(key)
            yield from strings_in(item, child)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from strings_in(item, f"{path}[{index}]")


def _invalid(field: str, message: str, source: str) -> ProblemDetailsException:
    return problem(422, "validation", "Invalid request", f"{field}: {message}",
                   errors=[{"field": field, "message": message, "source": source}])


def _refuse_control_characters(fields: Iterator[tuple[str, str]], source: str) -> None:
    for field, text in fields:
        bad = control_character(text)
        if bad is not None:
            raise _invalid(field or "body", f"must not contain control characters (found U+{ord(bad):04X})",
                           source)


def _parameters(request: Request[Any, Any, Any]) -> Iterator[tuple[str, str, str]]:
    for name, value in request.query_params.multi_items():
        yield "query", name, name
        yield "query", name, str(value)
    for name, value in request.path_params.items():
        if isinstance(value, str):
            yield "path", name, value


def _body_type(request: Request[Any, Any, Any]) -> Any:
    """The type the handler declares for its JSON body, or None when it takes no JSON body."""
    field = request.route_handler.parsed_fn_signature.parameters.get("data")
    if field is None:
        return None
    kwarg = field.kwarg_definition
    media_type = getattr(kwarg, "media_type", RequestEncodingType.JSON)
    return field.annotation if media_type == RequestEncodingType.JSON else None


def _refuse_loose_query_values(request: Request[Any, Any, Any]) -> None:
    """A query parameter comes once, and `null` is not a value: the framework alone would take the last of
    several, and read `?aggregate_id=null` as no filter at all."""
    typed = _declared_query_types(request)
    for name, values in request.query_params.dict().items():
        if len(values) > 1:
            raise _invalid(name, "must be given at most once", "query")
        if values and values[0] == "null" and typed.get(name, str) is not str:
            raise _invalid(name, "must be a value; leave the parameter out for none", "query")


def _declared_query_types(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """The handler's query parameters by the name a client sends, each with its type less `None`."""
    dependencies = request.route_handler.resolve_dependencies()
    declared: dict[str, Any] = {}
    for name, field in request.route_handler.parsed_fn_signature.parameters.items():
        kwarg = field.kwarg_definition
        if name in dependencies or not isinstance(kwarg, ParameterKwarg) or kwarg.header or kwarg.cookie:
            continue
        inner = [inner.annotation for inner in field.inner_types if inner.annotation is not type(None)] \
            if field.is_optional else [field.annotation]
        declared[kwarg.query or name] = inner[0] if len(inner) == 1 else Any
    return declared


async def refuse_hostile_input(request: Request[Any, Any, Any]) -> None:
    """Litestar's before-request hook: raises a problem for any refused input, returns None otherwise."""
    for source, name, text in _parameters(request):
        bad = control_character(text)
        if bad is not None:
            raise _invalid(name, f"must not contain control characters (found U+{ord(bad):04X})", source)
    _refuse_loose_query_values(request)
    body_type = _body_type(request)
    if body_type is None:
        return
    raw = await request.body()
    if not raw:
        return  # an absent optional body; a required one is refused by the handler's own parsing
    media_type, _ = request.content_type
    if media_type.lower() != JSON_MEDIA_TYPE:
        raise problem(415, "unsupported-media-type", "Unsupported media type",
                      f"send the body as {JSON_MEDIA_TYPE} (got {media_type or 'no Content-Type'})")
    try:
        value = decode_plain_json(raw)
    except MalformedJson as error:
        raise problem(400, "malformed-json", "Malformed JSON body", str(error)) from None
    _refuse_control_characters(strings_in(value), "body")
    try:
        msgspec.convert(value, body_type, strict=True)
    except msgspec.ValidationError as error:
        raise _invalid(*_field_and_message(str(error)), "body") from None


def _field_and_message(error: str) -> tuple[str, str]:
    """msgspec's "Expected `int`, got `str` - at `$.items[0].quantity`" as the field and what is wrong with it."""
    message, _, where = error.partition(" - at `")
    path = where.rstrip("`").removeprefix("$").removeprefix(".")
    named = _NAMED_FIELD.match(message)
    if named:  # a missing or unknown field is named by the message, at the path of its object
        path = f"{path}.{named.group(1)}" if path else named.group(1)
    return path or "body", message
