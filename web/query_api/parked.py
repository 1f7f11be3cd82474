"""Parked events, for operators: what the followers set aside, and why (retry and skip are commands)."""

from datetime import datetime
from typing import Annotated, Literal

import msgspec
from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, QueryParameter

from domain.identity import Role
from queries.errors import NotFound
from queries.parked import UNRESOLVED, ParkedEvent, ParkedQueries, ParkedStatus
from web.auth import requires
from web.strict_input import PLAIN_TEXT

StatusName = Literal["parked", "held", "retry", "retried", "skipped"]


class ParkedEventView(msgspec.Struct, frozen=True):
    id: int
    follower: Annotated[str, msgspec.Meta(examples=["readmodels-from-orders"])]
    upstream: Annotated[str, msgspec.Meta(examples=["Orders"])]
    partition: int
    position: Annotated[int, msgspec.Meta(description="the event's notification id in its context's log")]
    aggregate_id: str
    version: int
    event_type: Annotated[str, msgspec.Meta(examples=["Order.Placed"])]
    status: Annotated[StatusName, msgspec.Meta(
        description="parked: waits for an operator; held: waits behind an earlier event of its aggregate; retry: "
                    "asked to be processed again; retried: processed; skipped: an operator chose never to")]
    error: str
    traceback: str
    attempts: int
    parked_at: datetime
    updated_at: datetime
    resolved_by: str | None
    reason: str | None


class ParkedEventList(msgspec.Struct, frozen=True):
    items: list[ParkedEventView]


def parked_view(row: ParkedEvent) -> ParkedEventView:
    return ParkedEventView(
        id=row.id, follower=row.follower, upstream=row.upstream, partition=row.partition,
        position=row.notification_id, aggregate_id=str(row.originator_id), version=row.originator_version,
        event_type=row.topic.rsplit(":", 1)[-1], status=row.status.value, error=row.error,
        traceback=row.traceback, attempts=row.attempts, parked_at=row.parked_at, updated_at=row.updated_at,
        resolved_by=row.resolved_by, reason=row.reason)


class ParkedQueriesController(Controller):
    path = "/api/ops/parked"
    tags = ["parked events"]
    guards = [requires(Role.ADMIN)]

    @get("/", operation_id="ListParkedEvents", sync_to_thread=True,
         summary="Events the followers parked or hold behind them, oldest first")
    def list_parked(
        self, parked_queries: NamedDependency[ParkedQueries],
        follower: Annotated[str | None, QueryParameter(max_length=100, pattern=PLAIN_TEXT,
                                                       description="e.g. readmodels-from-orders")] = None,
        status: Annotated[ParkedStatus | None, QueryParameter(
            description="only this status; by default the unresolved ones (parked, held and retry)")] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 200,
    ) -> ParkedEventList:
        statuses = (status,) if status else UNRESOLVED
        return ParkedEventList(items=[parked_view(row) for row in parked_queries.listed(follower, statuses, limit)])

    @get("/{parked_id:int}", operation_id="GetParkedEvent", sync_to_thread=True, raises=[NotFoundException],
         summary="One parked event, with its error and traceback")
    def get_parked(self, parked_id: FromPath[int], parked_queries: NamedDependency[ParkedQueries]) -> ParkedEventView:
        row = parked_queries.get(parked_id)
        if row is None:
            raise NotFound("parked event", str(parked_id))
        return parked_view(row)
