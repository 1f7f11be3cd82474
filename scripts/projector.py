"""`logistics projector`: the read models' runners (one per context) and the outbox relay, supervised."""

import logging
import threading
import time
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, cast

from eventsourcing.persistence import InfrastructureFactory
from eventsourcing.utils import Environment

from adapters.batch_projection import project_in_batches
from adapters.bootstrap import CONTEXT_APPLICATIONS, locate_database, migrate, open_broker, runner_env
from adapters.database import Database
from adapters.health import broker_reachable, database_reachable
from adapters.messaging import MessageBroker
from adapters.metrics import install_platform_metrics
from adapters.outbox_relay import OutboxRelay
from adapters.postgres_read_models import PostgresReadModelsView, read_models_view
from adapters.read_generations import live_generations
from adapters.settings import Settings
from adapters.supervisor import Loop, RestartRequested, Supervisor, run_until_interrupted, select_tasks
from projections.models import ALL_MODELS
from projections.projection import ReadModelsProjection

log = logging.getLogger(__name__)

GENERATION_CHECK_S = 2.0


def read_models_loop(upstream: type[Any], database: Database, env: Mapping[str, str]) -> Loop:
    """Project one context's events into every live read model that follows it."""
    models = [model for model in ALL_MODELS.values() if upstream.name in model.upstreams]

    def loop(stop: threading.Event) -> None:
        pairs = live_generations(database, models)
        factory = InfrastructureFactory.construct(Environment(ReadModelsProjection.name, env))
        app = upstream(env=env)
        try:
            view = cast(PostgresReadModelsView, factory.tracking_recorder(read_models_view(pairs, publishing=True)))
            checked = time.monotonic()

            def swapped() -> None:
                nonlocal checked
                if time.monotonic() - checked >= GENERATION_CHECK_S:
                    checked = time.monotonic()
                    if live_generations(database, models) != pairs:
                        raise RestartRequested("a read model was swapped to a new generation")

            project_in_batches(database, app, view, stop, every_poll=swapped)
        finally:
            app.close()
            factory.close()

    return loop


def relay_loop(database: Database, broker: MessageBroker, retention: timedelta) -> tuple[Loop, OutboxRelay]:
    relay = OutboxRelay(database, broker, retention=retention)
    return relay.run, relay


def projector_tasks(database: Database, broker: MessageBroker, retention: timedelta) -> dict[str, Loop]:
    env = runner_env(database)
    tasks = {f"readmodels-from-{upstream.name.lower()}": read_models_loop(upstream, database, env)
             for upstream in CONTEXT_APPLICATIONS}
    tasks["relay"], _ = relay_loop(database, broker, retention)
    return tasks


def projector_supervisor(database: Database, broker: MessageBroker, settings: Settings,
                         only: list[str] | None = None) -> Supervisor:
    tasks = projector_tasks(database, broker, timedelta(hours=settings.outbox_retention_h))
    return Supervisor(select_tasks(tasks, only))


def run_projector(settings: Settings, only: list[str] | None = None, health_port: int | None = None) -> None:
    database = locate_database(settings)
    migrate(database)
    install_platform_metrics(database)
    broker = open_broker(settings)
    try:
        run_until_interrupted("projector", projector_supervisor(database, broker, settings, only), settings.host,
                              health_port, [database_reachable(database), broker_reachable(broker)])
    finally:
        broker.close()
