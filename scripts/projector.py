"""`logistics projector`: each context's read models and the outbox relay, partitioned followers, supervised.

Any number of projectors share the read models' partitions (and the relay's one) through leases.
"""

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any, Final, cast

from eventsourcing.persistence import InfrastructureFactory, Tracking
from eventsourcing.utils import Environment

from adapters.database import Database
from adapters.follower_host import FollowerHost
from adapters.follower_leases import Fence
from adapters.follower_runner import FollowerRunner
from adapters.followers import RELAY_FOLLOWER, read_models_follower
from adapters.health import broker_reachable, database_reachable
from adapters.messaging import MessageBroker
from adapters.metrics import install_platform_metrics
from adapters.outbox_relay import OutboxRelay
from adapters.parked_events import NO_PARKING, ParkingChanges
from adapters.partitioned_log import PartitionedLog
from adapters.platform_status import StatusReader
from adapters.postgres_read_models import OUTBOX_CHANNEL, PostgresReadModelsView, read_models_view
from adapters.read_generations import live_generations
from adapters.settings import Settings
from adapters.supervisor import Loop, RestartRequested, Service, Supervisor, select_names
from commands.context_application import ContextApplication
from composition.broker import open_broker
from composition.contexts import CONTEXT_APPLICATIONS, runner_env, upstream_mapper
from composition.database import locate_database
from composition.migration import migrate
from projections.models import ALL_MODELS
from projections.partitions import PARTITIONS
from projections.projection import ReadModelsProjection
from scripts.foreground import run_until_interrupted

log = logging.getLogger(__name__)

GENERATION_CHECK_S: Final = 2.0


class ReadModelsFollower:
    """Every live read model of one context's log, in one view: batches go to the view, fenced."""

    def __init__(self, upstream: str, view: PostgresReadModelsView) -> None:
        self.upstream = upstream
        self.follower = read_models_follower(upstream)
        self.view = view

    def tracked(self, partitions: Sequence[int]) -> dict[int, int]:
        return self.view.partition_positions(self.upstream, partitions)

    def handle(self, batch: Sequence[tuple[Any, Tracking]], fence: Fence, advance: Sequence[Tracking],
               parking: ParkingChanges = NO_PARKING) -> None:
        self.view.project_batch(batch, fence, advance, parking)


def read_models_loop(host: FollowerHost, upstream: type[ContextApplication], env: Mapping[str, str],
                     factory: InfrastructureFactory[Any]) -> Loop:
    """Project one context's events into every live read model that follows it."""
    models = [model for model in ALL_MODELS.values() if upstream.name in model.upstreams]
    log_ = PartitionedLog(host.pool, upstream.name)
    mapper = upstream_mapper(upstream, env)

    def loop(stop: threading.Event) -> None:
        pairs = live_generations(host.database, models)
        view = cast(PostgresReadModelsView, factory.tracking_recorder(read_models_view(pairs, publishing=True)))
        checked = time.monotonic()

        def swapped() -> None:
            nonlocal checked
            if time.monotonic() - checked >= GENERATION_CHECK_S:
                checked = time.monotonic()
                if live_generations(host.database, models) != pairs:
                    raise RestartRequested("a read model was swapped to a new generation")

        runner = FollowerRunner(ReadModelsFollower(upstream.name, view), log_, mapper, host.leases,
                                host.wakeups.wakeup(f"{upstream.name.lower()}_events"))
        runner.run(stop, every_poll=swapped)

    return loop


def relay_loop(host: FollowerHost, broker: MessageBroker, retention: timedelta) -> Loop:
    def loop(stop: threading.Event) -> None:
        relay = OutboxRelay(host.database, broker, retention=retention, wakeup=host.wakeups.wakeup(OUTBOX_CHANNEL),
                            holding=lambda: bool(host.leases.held(RELAY_FOLLOWER)))
        relay.run(stop)

    return loop


def projector_followers(only: list[str] | None = None) -> tuple[list[str], dict[str, int], set[str]]:
    """The projector's loop names, their followers' partitions, and the channels they need."""
    names = select_names([*(read_models_follower(upstream.name) for upstream in CONTEXT_APPLICATIONS),
                          RELAY_FOLLOWER], only)
    partitions = {name: 1 if name == RELAY_FOLLOWER else PARTITIONS for name in names}
    channels = {f"{upstream.name.lower()}_events" for upstream in CONTEXT_APPLICATIONS} | {OUTBOX_CHANNEL}
    return names, partitions, channels


def projector_supervisor(database: Database, broker: MessageBroker, settings: Settings,
                         only: list[str] | None = None, host: FollowerHost | None = None) -> Supervisor:
    """The projector's loops, not yet started; `host`: shared with the worker in the all-in-one run."""
    env = runner_env(database)
    names, partitions, channels = projector_followers(only)
    services: list[Service] = []
    if host is None:
        host = FollowerHost(database, partitions, channels)
        services.append(host)
    # One pool for every context's view: each runner holds a connection only while it writes a batch.
    factory = InfrastructureFactory.construct(Environment(ReadModelsProjection.name, env))
    tasks: dict[str, Loop] = {}
    for upstream in CONTEXT_APPLICATIONS:
        if read_models_follower(upstream.name) in names:
            tasks[read_models_follower(upstream.name)] = read_models_loop(host, upstream, env, factory)
    if RELAY_FOLLOWER in names:
        tasks[RELAY_FOLLOWER] = relay_loop(host, broker, timedelta(hours=settings.outbox_retention_h))
    return Supervisor(tasks, services=services, closing=[factory.close])


def run_projector(settings: Settings, only: list[str] | None = None, health_port: int | None = None) -> None:
    database = locate_database(settings)
    migrate(database)
    status = StatusReader(database)
    install_platform_metrics(status)
    broker = open_broker(settings)
    try:
        run_until_interrupted("projector", projector_supervisor(database, broker, settings, only), settings.host,
                              health_port, [database_reachable(status), broker_reachable(broker)])
    finally:
        broker.close()
        status.close()
