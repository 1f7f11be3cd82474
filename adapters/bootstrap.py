"""The composition root: builds the platform's object graph from settings, and takes it down again."""

import logging
import random
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, Final

import psycopg
from eventsourcing.persistence import InfrastructureFactory, Mapper
from eventsourcing.utils import Environment

from adapters.database import READ_SCHEMA, Database, create_schemas, migration_lock
from adapters.dispatch_index import fill_dispatch_index
from adapters.embedded_database import start_embedded_postgres
from adapters.follower_leases import ensure_partitions
from adapters.followers import follower_partitions
from adapters.idempotency_store import PostgresIdempotencyStore
from adapters.messaging import MessageBroker
from adapters.metrics import install_platform_metrics
from adapters.parked_events import ParkedEvents, create_parked_tables
from adapters.payment_gateway import SimulatedPaymentGateway
from adapters.positions import StatusReader
from adapters.postgres_deadlines import PostgresPaymentDeadlinesView
from adapters.read_database import ReadPool, read_only_pool
from adapters.read_generations import create_registry
from adapters.settings import Settings
from adapters.tokens import TokenIssuer
from commands.base import ContextApplication
from commands.deadlines import PaymentDeadlines
from commands.inventory import Inventory
from commands.ordering import PlaceOrderHandler
from commands.orders import Orders
from commands.payments import Payments
from commands.policies import InventoryPolicies, OrderPolicies, PaymentPolicies, SagaStep, ShippingPolicies
from commands.shipping import Shipping
from projections.models import ALL_MODELS
from projections.projection import ReadModelsProjection

log = logging.getLogger(__name__)

CONTEXT_APPLICATIONS: tuple[type[ContextApplication], ...] = (Orders, Inventory, Payments, Shipping)
SAGA_POLICIES: tuple[type[ContextApplication], ...] = (
    OrderPolicies, InventoryPolicies, PaymentPolicies, ShippingPolicies,
)


@dataclass
class WriteSide:
    orders: Orders
    inventory: Inventory
    payments: Payments
    shipping: Shipping
    place_order: PlaceOrderHandler
    steps: dict[type[SagaStep], SagaStep] = field(default_factory=dict)
    """In the all-in-one run, the same applications as the saga's steps (one pool per context)."""


@dataclass
class Platform:
    settings: Settings
    database: Database
    write: WriteSide
    idempotency: PostgresIdempotencyStore
    tokens: TokenIssuer
    broker: MessageBroker
    status: StatusReader
    parked: ParkedEvents


def locate_database(settings: Settings) -> Database:
    """The configured PostgreSQL, or a private embedded one when none is configured."""
    database = (Database.from_url(settings.database_url) if settings.database_url
                else start_embedded_postgres(settings.data_dir))
    return replace(database, typed_events=settings.typed_events)


MIGRATE_ATTEMPTS: Final = 8


def migrate(database: Database) -> None:
    """Create schemas and every table; idempotent, safe to run concurrently, and the only place that runs DDL.

    A process starting beside running ones migrates under their writes: `CREATE INDEX IF NOT EXISTS` takes a
    share lock on its table even when the index exists, several tables per transaction, while a writer holds one
    of them and waits for another (the events table's exclusive lock). PostgreSQL then ends one of the two; when
    it is the migration, it is tried again, so that a restarted process comes up instead of exiting.
    """
    for attempt in range(1, MIGRATE_ATTEMPTS + 1):
        try:
            _migrate(database)
            return
        except Exception as error:
            if attempt == MIGRATE_ATTEMPTS or not _deadlocked(error):
                raise
            log.warning("migration deadlocked with running writers (attempt %d of %d); trying again",
                        attempt, MIGRATE_ATTEMPTS)
            time.sleep(random.uniform(0.1, 0.5) * attempt)


def _deadlocked(error: BaseException | None) -> bool:
    # The library wraps psycopg's error in its own OperationalError; the cause says what happened.
    while error is not None:
        if isinstance(error, psycopg.errors.DeadlockDetected):
            return True
        error = error.__cause__
    return False


def _migrate(database: Database) -> None:
    create_schemas(database)
    env = database.eventsourcing_env(pool_size=1, max_overflow=0, create_table=True)
    with database.connect() as connection, migration_lock(connection):
        # The policies' process recorders add each context's tracking table beside its events table.
        for application_class in (*CONTEXT_APPLICATIONS, *SAGA_POLICIES):
            application_class(env=env).close()
        # A store written before the dispatch index existed gets its rows from its shipping log, once.
        read = _fill_dispatch_index(env, rebuild=False)
        if read:
            log.info("dispatch index filled from the %d events of the shipping log", read)
        deadlines = InfrastructureFactory.construct(Environment(PaymentDeadlines.name, {**env, **PROJECTION_SCHEMAS}))
        deadlines.tracking_recorder(PostgresPaymentDeadlinesView)
        deadlines.close()
    create_registry(database, ALL_MODELS.values())
    ensure_partitions(database, follower_partitions())
    create_parked_tables(database)


def rebuild_dispatch_index(database: Database) -> int:
    """Refill the dispatch index from the shipping log (shipping writes wait meanwhile); the events read."""
    return _fill_dispatch_index(database.eventsourcing_env(pool_size=1, max_overflow=0), rebuild=True) or 0


def _fill_dispatch_index(env: Mapping[str, str], *, rebuild: bool) -> int | None:
    shipping = Shipping(env=env)
    try:
        return fill_dispatch_index(shipping.recorder, shipping.mapper.to_domain_event, rebuild=rebuild)
    finally:
        shipping.close()


# The payment deadlines live beside the payments they watch; the read models in their own schema.
PROJECTION_SCHEMAS = {
    f"{PaymentDeadlines.name.upper()}_POSTGRES_SCHEMA": "payments",
    f"{ReadModelsProjection.name.upper()}_POSTGRES_SCHEMA": READ_SCHEMA,
}


def upstream_mapper(application_class: type[ContextApplication], env: Mapping[str, str]) -> Mapper[Any]:
    """The mapper `application_class` decodes its events with, without its database pool (nothing is read
    through it: the runners read the log themselves)."""
    return application_class(env={**env, "PERSISTENCE_MODULE": "eventsourcing.popo"}).mapper


def bind_payment_gateway() -> None:
    """Runners build the payment policy from its class alone: give the class its gateway."""
    PaymentPolicies.gateway_class = SimulatedPaymentGateway


def runner_env(database: Database, pool_size: int = 1, max_overflow: int = 1) -> dict[str, str]:
    """Settings for the saga's and the projections' runners: small pools, as each holds several."""
    return {**database.eventsourcing_env(pool_size=pool_size, max_overflow=max_overflow), **PROJECTION_SCHEMAS}


def open_broker(settings: Settings) -> MessageBroker:
    if settings.amqp_url:
        from adapters.rabbitmq import RabbitMQBroker

        broker = RabbitMQBroker(settings.amqp_url, exchange=settings.amqp_exchange)
        broker.declare_topology()
        return broker
    from adapters.inprocess_broker import InProcessBroker

    return InProcessBroker()


# A request waits at most this long per attempt for a connection: while the database is down, a command fails
# (503) after the library's ten attempts instead of holding its client for minutes.
API_CHECKOUT_TIMEOUT_S = 1


ALL_IN_ONE_POOL: Final = (1, 1)
"""Pool size and overflow of each context's one application in `logistics run` (the API and the saga share it)."""


def build_write_side(database: Database, settings: Settings, stack: ExitStack, *,
                     all_in_one: bool = False) -> WriteSide:
    """The four contexts' applications. `all_in_one`: built as the saga's steps, which the worker then uses too,
    so that the one process holds one pool per context."""
    pool_size, overflow = ALL_IN_ONE_POOL if all_in_one else (settings.db_pool_size, settings.db_max_overflow)
    env = {**runner_env(database, pool_size=pool_size, max_overflow=overflow),
           "POSTGRES_CONNECT_TIMEOUT": str(API_CHECKOUT_TIMEOUT_S)}
    gateway = SimulatedPaymentGateway()
    if all_in_one:
        orders: Orders = OrderPolicies(env=env)
        inventory: Inventory = InventoryPolicies(env=env)
        payments: Payments = PaymentPolicies(env=env, gateway=gateway)
        shipping: Shipping = ShippingPolicies(env=env)
    else:
        orders, inventory = Orders(env=env), Inventory(env=env)
        payments, shipping = Payments(env=env, gateway=gateway), Shipping(env=env)
    for application in (orders, inventory, payments, shipping):
        stack.callback(application.close)
    steps: dict[type[SagaStep], SagaStep] = {}
    for application in (orders, inventory, payments, shipping):
        if isinstance(application, SagaStep):
            steps[type(application)] = application
    return WriteSide(orders=orders, inventory=inventory, payments=payments, shipping=shipping,
                     place_order=PlaceOrderHandler(orders, catalog=inventory, payment_gateway=gateway), steps=steps)


@contextmanager
def open_platform(settings: Settings, database: Database | None = None, *,
                  all_in_one: bool = False) -> Iterator[Platform]:
    with ExitStack() as stack:
        database = database or locate_database(settings)
        migrate(database)
        status = StatusReader(database)
        stack.callback(status.close)
        install_platform_metrics(status)
        write = build_write_side(database, settings, stack, all_in_one=all_in_one)
        idempotency = PostgresIdempotencyStore(database)
        stack.callback(idempotency.close)
        broker = open_broker(settings)
        stack.callback(broker.close)
        yield Platform(
            settings=settings,
            database=database,
            write=write,
            idempotency=idempotency,
            tokens=TokenIssuer(settings.secret),
            broker=broker,
            status=status,
            parked=ParkedEvents(idempotency.connection),
        )


@dataclass
class ReadSide:
    """What the query API needs: read-only connections and the broker its push is fed from."""

    settings: Settings
    database: Database
    pool: ReadPool
    broker: MessageBroker
    status: StatusReader


@contextmanager
def open_read_side(settings: Settings, database: Database | None = None, broker: MessageBroker | None = None,
                   status: StatusReader | None = None, pool_size: int | None = None) -> Iterator[ReadSide]:
    """The query side; `broker` and `status` are given when it shares a process with the writers (an
    in-process broker, one status connection), `pool_size` to bound its read-only pool."""
    with ExitStack() as stack:
        # No migrate here: the query side never writes, so it can point at a read replica.
        database = database or locate_database(settings)
        if status is None:
            status = StatusReader(database)
            stack.callback(status.close)
        install_platform_metrics(status)
        size = pool_size or max(2, settings.db_pool_size + settings.db_max_overflow)
        pool = read_only_pool(database, max_size=size)
        stack.callback(pool.close)
        if broker is None:
            broker = open_broker(settings)
            stack.callback(broker.close)
        yield ReadSide(settings=settings, database=database, pool=pool, broker=broker, status=status)
