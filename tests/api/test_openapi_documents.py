"""Both OpenAPI documents are valid, and say every answer: each error as problem+json, bodies strict."""

from typing import Any

import pytest
from openapi_spec_validator import validate

from composition.read_side import open_read_side
from composition.write_side import Platform
from web.command_api.app import create_command_api
from web.docs import PlatformSchema
from web.query_api.app import create_query_api

METHODS = ("get", "post", "patch", "delete", "put")


@pytest.fixture
def documents(platform: Platform) -> dict[str, dict[str, Any]]:
    with open_read_side(platform.settings, platform.database, platform.broker) as read:
        commands, queries = create_command_api(platform), create_query_api(read)
        merged = PlatformSchema()  # what `logistics run`'s docs pages show
        merged.attach(commands, queries)
        return {"commands": commands.openapi_schema.to_schema(), "queries": queries.openapi_schema.to_schema(),
                "platform": merged()}


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, item[method]) for path, item in document["paths"].items()
            for method in METHODS if method in item]


@pytest.mark.parametrize("name", ["commands", "queries", "platform"])
def test_the_document_passes_the_openapi_validator(documents: dict[str, dict[str, Any]], name: str) -> None:
    validate(documents[name])


@pytest.mark.parametrize("name", ["commands", "queries"])
def test_the_bearer_scheme_is_plain_http_bearer(documents: dict[str, dict[str, Any]], name: str) -> None:
    scheme = documents[name]["components"]["securitySchemes"]["BearerToken"]
    assert {key: scheme[key] for key in ("type", "scheme", "bearerFormat")} == \
        {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    assert "in" not in scheme
    assert "name" not in scheme
    assert "cookie-based" not in scheme["description"]


@pytest.mark.parametrize("name", ["commands", "queries"])
def test_every_error_answer_is_documented_as_a_problem(documents: dict[str, dict[str, Any]], name: str) -> None:
    for path, method, operation in operations(documents[name]):
        responses = operation["responses"]
        public = operation.get("security") == []
        expected = {"422"} | (set() if public else {"401", "403", "503"})
        if "{" in path:
            expected.add("404")
        if "requestBody" in operation:
            expected |= {"400", "413", "415"}
        if name == "commands" and method != "get":
            expected.add("409")
        assert expected <= set(responses), (method, path, sorted(responses))
        for status, response in responses.items():
            if status.startswith(("4", "5")) and path != "/health/ready":
                assert list(response["content"]) == ["application/problem+json"], (method, path, status)


def test_request_bodies_refuse_unknown_fields(documents: dict[str, dict[str, Any]]) -> None:
    schemas = documents["commands"]["components"]["schemas"]
    for name in ("CreateProduct", "PlaceOrder", "OrderItem", "Delivery", "PaymentMethod", "CourierLocation"):
        assert schemas[name]["additionalProperties"] is False, name


def test_optional_parameters_are_never_null(documents: dict[str, dict[str, Any]]) -> None:
    for _, _, operation in operations(documents["queries"]):
        for parameter in operation.get("parameters", []):
            assert '"null"' not in str(parameter["schema"]).replace("'", '"'), parameter
