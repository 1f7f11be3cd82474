"""Schemathesis hooks for the fuzz run: what the schema cannot say, said here, each with its reason.

Loaded by `st run` through SCHEMATHESIS_HOOKS (see tests/fuzz/test_openapi_fuzz.py).
"""

from typing import Any

import schemathesis

PROBLEM_BASE = "https://logistics.example/problems/"
SEMANTIC_REFUSALS = frozenset({PROBLEM_BASE + "invalid-value", PROBLEM_BASE + "invalid-query"})


def _has_integral_float(value: Any) -> bool:
    if isinstance(value, float):
        return value.is_integer()
    if isinstance(value, dict):
        return any(_has_integral_float(item) for item in value.values())
    if isinstance(value, list):
        return any(_has_integral_float(item) for item in value)
    return False


@schemathesis.hook
def filter_body(context: schemathesis.HookContext, body: Any) -> bool:
    # JSON Schema counts 272186.0 as an integer; the API takes a count only as a JSON integer (272186), and
    # says so with a 422. The schema cannot tell the two apart, so such bodies are not generated as "valid";
    # tests/api/test_hostile_input.py checks the refusal.
    return not _has_integral_float(body)


@schemathesis.hook
def filter_failure(context: schemathesis.HookContext, failure: Any, case: Any, response: Any) -> bool:
    # A schema-valid request can still be refused for what no schema can state: an order naming a product
    # that does not exist or a card the payment gateway does not know (problem type `invalid-value`), a
    # cursor this API never gave out or a version beyond an aggregate's latest (`invalid-query`). Refusals
    # of the schema's own kind (type `validation`) stay failures: they would mean the schema lies.
    if getattr(failure, "code", None) == "ST202":
        try:
            problem = response.json()
        except ValueError:
            return True
        return not (isinstance(problem, dict) and problem.get("type") in SEMANTIC_REFUSALS)
    return True
