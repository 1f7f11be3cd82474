"""`logistics worker`: every saga runner and the payment-deadline scheduler, under one supervisor."""

import logging
import threading
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, cast

from eventsourcing.projection import EventSourcedProjectionRunner, ProjectionRunner

from adapters.bootstrap import bind_payment_gateway, locate_database, migrate, runner_env
from adapters.database import Database
from adapters.health import database_reachable
from adapters.metrics import install_platform_metrics
from adapters.postgres_deadlines import PostgresPaymentDeadlinesView
from adapters.runner_watch import watch
from adapters.settings import Settings
from adapters.supervisor import Loop, Supervisor, run_until_interrupted, select_tasks
from commands.deadlines import PaymentDeadlines, fire_overdue
from commands.payments import Payments
from commands.policies import SAGA_EDGES, SagaStep

log = logging.getLogger(__name__)

DEADLINE_CHECK_S = 1.0


def edge_name(upstream: type[Any], policy: type[SagaStep]) -> str:
    return f"{upstream.name.lower()}-to-{policy.name.lower()}"


def saga_loop(upstream: type[Any], policy: type[SagaStep], env: Mapping[str, str]) -> Loop:
    def loop(stop: threading.Event) -> None:
        with EventSourcedProjectionRunner(application_class=upstream, projection_class=policy, env=env) as runner:
            watch(runner, stop)

    return loop


def deadline_view_loop(env: Mapping[str, str]) -> Loop:
    def loop(stop: threading.Event) -> None:
        with ProjectionRunner(application_class=Payments, projection_class=PaymentDeadlines,
                              view_class=PostgresPaymentDeadlinesView, env=env) as runner:
            watch(runner, stop)

    return loop


def deadline_timer_loop(env: Mapping[str, str], timeout: timedelta) -> Loop:
    def loop(stop: threading.Event) -> None:
        from eventsourcing.persistence import InfrastructureFactory
        from eventsourcing.utils import Environment

        factory = InfrastructureFactory.construct(Environment(PaymentDeadlines.name, env))
        view = cast(PostgresPaymentDeadlinesView, factory.tracking_recorder(PostgresPaymentDeadlinesView))
        payments = Payments(env=env)
        try:
            while not stop.wait(DEADLINE_CHECK_S):
                fire_overdue(view, payments, timeout)
        finally:
            payments.close()
            factory.close()

    return loop


def worker_tasks(env: Mapping[str, str], payment_timeout: timedelta) -> dict[str, Loop]:
    tasks = {edge_name(upstream, policy): saga_loop(upstream, policy, env) for upstream, policy in SAGA_EDGES}
    tasks["payment-deadlines"] = deadline_view_loop(env)
    tasks["payment-timer"] = deadline_timer_loop(env, payment_timeout)
    return tasks


def worker_supervisor(database: Database, settings: Settings, only: list[str] | None = None) -> Supervisor:
    """The saga's runners and the deadline scheduler, not yet started."""
    bind_payment_gateway()
    tasks = worker_tasks(runner_env(database), timedelta(seconds=settings.payment_timeout_s))
    return Supervisor(select_tasks(tasks, only))


def run_worker(settings: Settings, only: list[str] | None = None, health_port: int | None = None) -> None:
    database = locate_database(settings)
    migrate(database)
    install_platform_metrics(database)
    run_until_interrupted("worker", worker_supervisor(database, settings, only), settings.host, health_port,
                          [database_reachable(database)])
