"""What operators watch over the deliveries: the orders in transit that will miss their promise."""

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import QueryParameter

from domain.identity import Role
from queries.late_deliveries import LateDeliveries
from queries.pagination import MAX_LIMIT
from web.auth import requires


class LateDelivery(msgspec.Struct, frozen=True):
    order_id: UUID
    customer_id: str | None
    courier_id: str | None
    address: str | None
    placed_at: str | None
    promised_by: Annotated[datetime, msgspec.Meta(description="confirmation time + the 45 minutes promised")]
    eta: Annotated[datetime | None, msgspec.Meta(description="the newest estimated arrival; null if none")]
    expected_at: Annotated[datetime, msgspec.Meta(description="the ETA, or now when that is later")]
    late_by_s: Annotated[float, msgspec.Meta(description="expected_at - promised_by, in seconds")]
    position: Annotated[dict[str, Any] | None, msgspec.Meta(description="the courier's newest `{lat, lng, at}`")]


class LateDeliveryList(msgspec.Struct, frozen=True):
    items: list[LateDelivery]


class OpsQueriesController(Controller):
    path = "/api/ops"
    tags = ["ops"]
    guards = [requires(Role.ADMIN)]

    @get("/late-deliveries", operation_id="ListLateDeliveries", sync_to_thread=True,
         summary="Orders in transit whose expected arrival is past their promised delivery time, most late first")
    def late_deliveries(
        self,
        late_deliveries: NamedDependency[LateDeliveries],
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT, description=f"at most this many, 1 to {MAX_LIMIT}")
                         ] = 50,
    ) -> LateDeliveryList:
        return LateDeliveryList(items=[LateDelivery(**vars(late)) for late in late_deliveries.list(limit=limit)])
