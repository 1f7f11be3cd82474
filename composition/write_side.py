"""The write side's object graph: the four contexts' applications, the order handler, idempotency, tokens,
the broker, the position path and the status reader, opened together and closed in reverse."""

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Final

from eventsourcing.postgres import PostgresApplicationRecorder

from adapters.courier_positions import PostgresPositionStore
from adapters.database import Database
from adapters.idempotency_store import PostgresIdempotencyStore
from adapters.messaging import MessageBroker
from adapters.metrics import install_platform_metrics
from adapters.parked_events import ParkedEvents
from adapters.payment_gateway import SimulatedPaymentGateway
from adapters.platform_status import StatusReader
from adapters.position_publisher import BrokerPositionPublisher
from adapters.settings import Settings
from adapters.tokens import TokenIssuer
from commands.courier_tracking import CourierTracking
from commands.inventory import Inventory
from commands.order_placement import PlaceOrderHandler
from commands.orders import Orders
from commands.payments import Payments
from commands.saga_steps import InventorySagaStep, OrdersSagaStep, PaymentsSagaStep, SagaStep, ShippingSagaStep
from commands.shipping import Shipping
from composition.broker import open_broker
from composition.contexts import OBSERVERS, runner_env
from composition.database import locate_database
from composition.migration import migrate


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
    tracking: CourierTracking
    """Couriers' position reports, stored beside the event store and announced on the broker."""


# A request waits at most this long per attempt for a connection: while the database is down, a command fails
# (503) after the library's ten attempts instead of holding its client for minutes.
API_CHECKOUT_TIMEOUT_S: Final = 1


ALL_IN_ONE_POOL: Final = (1, 1)
"""Pool size and overflow of each context's one application in `logistics run` (the API and the saga share it)."""


def build_write_side(database: Database, settings: Settings, stack: ExitStack, *,
                     all_in_one: bool = False) -> WriteSide:
    """The four contexts' applications. `all_in_one`: built as the saga's steps, which the worker then uses too,
    so that the one process holds one pool per context."""
    pool_size, overflow = ALL_IN_ONE_POOL if all_in_one else (settings.db_pool_size, settings.db_max_overflow)
    env = {**runner_env(database, pool_size=pool_size, max_overflow=overflow),
           "POSTGRES_CONNECT_TIMEOUT": str(API_CHECKOUT_TIMEOUT_S)}
    # One gateway for the process: the order handler's card checks and the payment step's authorizations.
    gateway = SimulatedPaymentGateway()
    if all_in_one:
        orders: Orders = OrdersSagaStep(env=env, observers=OBSERVERS)
        inventory: Inventory = InventorySagaStep(env=env, observers=OBSERVERS)
        payments: Payments = PaymentsSagaStep(env=env, gateway=gateway, observers=OBSERVERS)
        shipping: Shipping = ShippingSagaStep(env=env, observers=OBSERVERS)
    else:
        orders, inventory = Orders(env=env, observers=OBSERVERS), Inventory(env=env, observers=OBSERVERS)
        payments = Payments(env=env, gateway=gateway, observers=OBSERVERS)
        shipping = Shipping(env=env, observers=OBSERVERS)
    for application in (orders, inventory, payments, shipping):
        stack.callback(application.close)
    steps: dict[type[SagaStep], SagaStep] = {}
    for application in (orders, inventory, payments, shipping):
        if isinstance(application, SagaStep):
            steps[type(application)] = application
    return WriteSide(orders=orders, inventory=inventory, payments=payments, shipping=shipping,
                     place_order=PlaceOrderHandler(orders, catalog=inventory, payment_gateway=gateway), steps=steps)


def open_position_store(shipping: Shipping) -> PostgresPositionStore:
    """The position store on the Shipping application's own pool (no connections of its own)."""
    recorder = shipping.recorder
    if not isinstance(recorder, PostgresApplicationRecorder):
        raise TypeError(f"the position store needs PostgreSQL, not {type(recorder).__name__}")
    return PostgresPositionStore(recorder.datastore)


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
        positions = open_position_store(write.shipping)
        stack.callback(positions.close)
        yield Platform(
            settings=settings,
            database=database,
            write=write,
            idempotency=idempotency,
            tokens=TokenIssuer(settings.secret),
            broker=broker,
            status=status,
            parked=ParkedEvents(idempotency.connection),
            tracking=CourierTracking(positions, BrokerPositionPublisher(broker), write.shipping.get_shipment,
                                     max_speed_kmh=settings.max_courier_speed_kmh),
        )
