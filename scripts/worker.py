"""`logistics worker`: the saga's steps and the payment deadlines, each a partitioned follower, supervised,
with their companions (the dispatch sweeper, and the position path's checkpointer, courier watch and retention).

Any number of workers, on any machines, share the followers' partitions through leases (see
`adapters.follower_leases`); each process keeps its connections bounded whatever it holds.
"""

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any, Final
from uuid import UUID

from eventsourcing.persistence import Mapper

from adapters.database import Database
from adapters.follower_host import FollowerHost
from adapters.follower_leases import Fence
from adapters.follower_runner import FollowerRunner
from adapters.followers import DEADLINES_FOLLOWER, edge_name
from adapters.health import database_reachable
from adapters.metrics import install_platform_metrics
from adapters.parked_events import NO_PARKING, ParkingChanges
from adapters.partitioned_log import PartitionedLog
from adapters.payment_gateway import SimulatedPaymentGateway
from adapters.platform_status import StatusReader
from adapters.postgres_deadlines import PostgresPaymentDeadlinesView
from adapters.settings import Settings
from adapters.supervisor import Loop, Service, Supervisor, select_names
from commands.courier_tracking import reassign_silent_couriers, record_due_checkpoints
from commands.deadlines import PaymentDeadlines, fire_overdue
from commands.orders import Orders
from commands.payments import Payments
from commands.ports import PositionStore
from commands.saga_steps import SAGA_EDGES, OrdersSagaStep, PaymentsSagaStep, SagaStep, ShippingSagaStep
from commands.shipping import Shipping
from composition.contexts import OBSERVERS, runner_env, upstream_mapper
from composition.database import locate_database
from composition.migration import migrate
from composition.write_side import open_position_store
from projections.partitions import PARTITIONS, partition_of, tracking_name
from scripts.foreground import run_until_interrupted

log = logging.getLogger(__name__)

DEADLINE_CHECK_S: Final = 1.0
TIMER: Final = "payment-timer"
# Connections per saga step's application: one per runner thread that uses it at a time. Orders follows three
# logs and payments also serves the deadline timer, so those two may use a second one.
SHARED_STEPS: Final = frozenset({OrdersSagaStep, PaymentsSagaStep})


class SagaEdge:
    """One saga step following one upstream log: the batches go to the step, which records them fenced."""

    def __init__(self, step: SagaStep, upstream: str) -> None:
        self.step = step
        self.upstream = upstream
        self.follower = edge_name(upstream, step.name)

    def tracked(self, partitions: list[int] | Any) -> dict[int, int]:
        recorder = self.step.recorder
        legacy = recorder.max_tracking_id(self.upstream) or 0
        return {partition: recorder.max_tracking_id(tracking_name(self.upstream, partition)) or legacy
                for partition in partitions}

    def handle(self, batch: Any, fence: Fence, advance: Any, parking: ParkingChanges = NO_PARKING) -> None:
        self.step.process_batch(batch, upstream=self.upstream, fence=fence, advance=advance, parking=parking,
                                tracked=not parking.retried)


class DeadlineFollower:
    """The payment deadlines view following the payments log."""

    follower = DEADLINES_FOLLOWER
    upstream = Payments.name

    def __init__(self, view: PostgresPaymentDeadlinesView) -> None:
        self.view = view
        self.projection = PaymentDeadlines(view=view)

    def tracked(self, partitions: list[int] | Any) -> dict[int, int]:
        legacy = self.view.max_tracking_id(self.upstream) or 0
        return {partition: self.view.max_tracking_id(tracking_name(self.upstream, partition)) or legacy
                for partition in partitions}

    def handle(self, batch: Any, fence: Fence, advance: Any, parking: ParkingChanges = NO_PARKING) -> None:
        self.projection.process_batch(batch, fence, advance, parking, tracked=not parking.retried)


def follow(host: FollowerHost, handler: SagaEdge | DeadlineFollower, mapper: Mapper[Any],
           topics: Sequence[str]) -> Loop:
    log_ = PartitionedLog(host.pool, handler.upstream, topics)

    def loop(stop: threading.Event) -> None:
        wakeup = host.wakeups.wakeup(f"{handler.upstream.lower()}_events")
        FollowerRunner(handler, log_, mapper, host.leases, wakeup).run(stop)

    return loop


def deadline_timer(host: FollowerHost, view: PostgresPaymentDeadlinesView, payments: Payments,
                   timeout: timedelta) -> Loop:
    def mine(payment_id: UUID) -> bool:
        # Only the payments of partitions this process follows: no two workers fire one deadline twice.
        return partition_of(payment_id) in host.leases.held(DEADLINES_FOLLOWER)

    def loop(stop: threading.Event) -> None:
        while not stop.wait(DEADLINE_CHECK_S):
            if host.leases.held(DEADLINES_FOLLOWER):
                fire_overdue(view, payments, timeout, mine)

    return loop


# The dispatch sweeper: a companion of the orders-to-shipping follower, in the one process holding its partition 0.

DISPATCH_SWEEP_S: Final = 1.0
DISPATCH_SWEEPER: Final = "dispatch-sweeper"


def dispatch_sweeper(host: FollowerHost, shipping: Shipping, follower: str) -> Loop:
    """About every second, give shipments left waiting beside a free courier that courier
    (`Shipping.dispatch_waiting`: decisions of different partitions can each miss the other). Two processes
    sweeping at once while the lease changes hands waste a little work and nothing else: the aggregates refuse
    a second assignment."""

    def loop(stop: threading.Event) -> None:
        while not stop.wait(DISPATCH_SWEEP_S):
            if 0 in host.leases.held(follower):
                shipping.dispatch_waiting()

    return loop


# The position path's loops: companions of the same follower, in the same one process, on the same application.

CHECKPOINT_SWEEP_S: Final = 5.0
COURIER_WATCH_S: Final = 5.0
TRACK_RETENTION_SWEEP_S: Final = 600.0
CHECKPOINTER: Final = "checkpointer"
COURIER_WATCH: Final = "courier-watch"
TRACK_RETENTION: Final = "track-retention"


def on_partition_0(host: FollowerHost, follower: str, every_s: float, work: Callable[[], object]) -> Loop:
    """`work` every `every_s` while this process holds partition 0 of `follower` (one process at a time)."""

    def loop(stop: threading.Event) -> None:
        while not stop.wait(every_s):
            if 0 in host.leases.held(follower):
                work()

    return loop


def position_loops(host: FollowerHost, shipping: Shipping, store: PositionStore, follower: str,
                   settings: Settings) -> dict[str, Loop]:
    """The route's checkpoints (at most one per courier per `checkpoint_interval_s`), the shipments of couriers
    silent for `courier_silence_s` handed to others, and the tracks older than `track_retention_h` forgotten."""
    return {
        CHECKPOINTER: on_partition_0(host, follower, CHECKPOINT_SWEEP_S, lambda: record_due_checkpoints(
            store, shipping, settings.checkpoint_interval_s)),
        COURIER_WATCH: on_partition_0(host, follower, COURIER_WATCH_S, lambda: reassign_silent_couriers(
            store, shipping, settings.courier_silence_s)),
        TRACK_RETENTION: on_partition_0(host, follower, TRACK_RETENTION_SWEEP_S,
                                        lambda: store.forget_tracks_older_than(settings.track_retention_h)),
    }


def _sized(env: Mapping[str, str], step: type[SagaStep]) -> dict[str, str]:
    return {**env, "POSTGRES_POOL_SIZE": "1", "POSTGRES_MAX_OVERFLOW": "1" if step in SHARED_STEPS else "0"}


def worker_followers(only: list[str] | None = None) -> tuple[list[str], dict[str, int], set[str]]:
    """The worker's loop names, the followers among them with their partitions, and the channels they need."""
    names = select_names([*(edge_name(upstream.name, policy.name) for upstream, policy in SAGA_EDGES),
                          DEADLINES_FOLLOWER, TIMER], only)
    partitions = {name: PARTITIONS for name in names if name != TIMER}
    channels = {f"{upstream.name.lower()}_events" for upstream, _ in SAGA_EDGES} | {"payments_events"}
    return names, partitions, channels


def worker_supervisor(database: Database, settings: Settings, only: list[str] | None = None,
                      steps: Mapping[type[SagaStep], SagaStep] | None = None,
                      host: FollowerHost | None = None) -> Supervisor:
    """The worker's loops, not yet started. `steps`: applications to use instead of building them, and `host`:
    the followers' shared connections and leases (the all-in-one run shares both)."""
    env = runner_env(database)
    wanted, partitions, channels = worker_followers(only)
    built: dict[type[SagaStep], SagaStep] = dict(steps or {})
    closing = []

    def step_of(policy: type[SagaStep]) -> SagaStep:
        if policy not in built:
            extra: dict[str, Any] = {"gateway": SimulatedPaymentGateway()} if policy is PaymentsSagaStep else {}
            built[policy] = policy(env=_sized(env, policy), observers=OBSERVERS, **extra)
            closing.append(built[policy].close)
        return built[policy]

    services: list[Service] = []
    if host is None:
        host = FollowerHost(database, partitions, channels)
        services.append(host)
    tasks: dict[str, Loop] = {}
    for upstream, policy in SAGA_EDGES:
        name = edge_name(upstream.name, policy.name)
        if name in wanted:
            tasks[name] = follow(host, SagaEdge(step_of(policy), upstream.name), upstream_mapper(upstream, env),
                                 policy.topics)
    shipping_edge = edge_name(Orders.name, ShippingSagaStep.name)
    if shipping_edge in wanted:
        # On the Shipping step's own application (and pool): the sweeper costs no connection of its own.
        shipping = step_of(ShippingSagaStep)
        assert isinstance(shipping, Shipping)
        tasks[DISPATCH_SWEEPER] = dispatch_sweeper(host, shipping, shipping_edge)
        positions = open_position_store(shipping)
        closing.append(positions.close)
        tasks.update(position_loops(host, shipping, positions, shipping_edge, settings))
    if DEADLINES_FOLLOWER in wanted or TIMER in wanted:
        # The deadlines live beside the payments, so the view shares the payments step's connections.
        payments = step_of(PaymentsSagaStep)
        assert isinstance(payments, Payments)
        view = PostgresPaymentDeadlinesView(payments.recorder.datastore,  # type: ignore[attr-defined]
                                            tracking_table_name=f"{PaymentDeadlines.name}_tracking")
        if DEADLINES_FOLLOWER in wanted:
            tasks[DEADLINES_FOLLOWER] = follow(host, DeadlineFollower(view), upstream_mapper(Payments, env),
                                               PaymentDeadlines.topics)
        if TIMER in wanted:
            tasks[TIMER] = deadline_timer(host, view, payments, timedelta(seconds=settings.payment_timeout_s))
    return Supervisor(tasks, services=services, closing=closing)


def run_worker(settings: Settings, only: list[str] | None = None, health_port: int | None = None) -> None:
    database = locate_database(settings)
    migrate(database)
    status = StatusReader(database)
    install_platform_metrics(status)
    try:
        run_until_interrupted("worker", worker_supervisor(database, settings, only), settings.host, health_port,
                              [database_reachable(status)])
    finally:
        status.close()
