"""The four contexts and the saga's steps as the runners build them: their classes, settings and observers."""

from collections.abc import Mapping
from typing import Any, Final

from eventsourcing.persistence import Mapper

from adapters.database import READ_SCHEMA, Database
from adapters.metrics import count_recorded_events
from commands.context_application import ContextApplication, EventsRecorded
from commands.deadlines import PaymentDeadlines
from commands.inventory import Inventory
from commands.orders import Orders
from commands.payments import Payments
from commands.saga_steps import InventorySagaStep, OrdersSagaStep, PaymentsSagaStep, ShippingSagaStep
from commands.shipping import Shipping
from projections.projection import ReadModelsProjection

CONTEXT_APPLICATIONS: tuple[type[ContextApplication], ...] = (Orders, Inventory, Payments, Shipping)
SAGA_STEPS: tuple[type[ContextApplication], ...] = (
    OrdersSagaStep, InventorySagaStep, PaymentsSagaStep, ShippingSagaStep,
)

OBSERVERS: Final[tuple[EventsRecorded, ...]] = (count_recorded_events,)
"""Told of every event any application of this process records."""

# The payment deadlines live beside the payments they watch; the read models in their own schema.
PROJECTION_SCHEMAS: Final = {
    f"{PaymentDeadlines.name.upper()}_POSTGRES_SCHEMA": "payments",
    f"{ReadModelsProjection.name.upper()}_POSTGRES_SCHEMA": READ_SCHEMA,
}


def runner_env(database: Database, pool_size: int = 1, max_overflow: int = 1) -> dict[str, str]:
    """Settings for the saga's and the projections' runners: small pools, as each holds several."""
    return {**database.eventsourcing_env(pool_size=pool_size, max_overflow=max_overflow), **PROJECTION_SCHEMAS}


def upstream_mapper(application_class: type[ContextApplication], env: Mapping[str, str]) -> Mapper[Any]:
    """The mapper `application_class` decodes its events with, without its database pool (nothing is read
    through it: the runners read the log themselves)."""
    return application_class(env={**env, "PERSISTENCE_MODULE": "eventsourcing.popo"}).mapper
