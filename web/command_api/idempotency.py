"""Idempotency-Key handling: a retried POST gets the first answer, a reused key with another body a 422."""

import hashlib
from collections.abc import Callable
from typing import Final, Protocol, runtime_checkable
from uuid import NAMESPACE_URL, UUID, uuid5

from litestar import Response

from adapters.idempotency_store import IdempotencyClaim, StoredResponse
from domain.errors import InvalidValue
from web.problems import IdempotencyKeyReused, IdempotentRequestInProgress


@runtime_checkable
class IdempotencyStore(Protocol):
    """Where an API keeps each Idempotency-Key's claim and answer (`adapters.idempotency_store`)."""

    def claim(self, scope: str, key: str, request_hash: str) -> IdempotencyClaim: ...

    def complete(self, scope: str, key: str, response: StoredResponse) -> None: ...

    def abandon(self, scope: str, key: str) -> None: ...




IDEMPOTENCY_KEY_HEADER: Final = "Idempotency-Key"
REPLAYED_HEADER: Final = "Idempotent-Replayed"
MAX_KEY_LENGTH: Final = 255


def request_fingerprint(canonical_body: bytes) -> str:
    return hashlib.sha256(canonical_body).hexdigest()


def key_bound_id(scope: str, key: str) -> UUID:
    """The id a keyed request creates: the same key can only ever create the same aggregate."""
    return uuid5(NAMESPACE_URL, f"/logistics/idempotency/{scope}/{key}")


def run_once(
    store: IdempotencyStore,
    scope: str,
    key: str,
    canonical_body: bytes,
    execute: Callable[[UUID], Response[bytes]],
) -> Response[bytes]:
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise InvalidValue(IDEMPOTENCY_KEY_HEADER, f"must be 1 to {MAX_KEY_LENGTH} printable characters")
    fingerprint = request_fingerprint(canonical_body)
    claim = store.claim(scope, key, fingerprint)
    if not claim.claimed:
        if claim.request_hash != fingerprint:
            raise IdempotencyKeyReused(f"{IDEMPOTENCY_KEY_HEADER} {key!r} was first used with a different request")
        if claim.response is None:
            raise IdempotentRequestInProgress(f"the first request with {IDEMPOTENCY_KEY_HEADER} {key!r} is running")
        stored = claim.response
        return Response(content=stored.body, status_code=stored.status_code,
                        headers={**stored.headers, REPLAYED_HEADER: "true"}, media_type="application/json")
    try:
        response = execute(key_bound_id(scope, key))
    except BaseException:
        # A refused or failed request leaves the key free: the client may correct the request and retry.
        store.abandon(scope, key)
        raise
    store.complete(scope, key, StoredResponse(status_code=response.status_code or 200, body=bytes(response.content),
                                              headers=dict(response.headers)))
    return response
