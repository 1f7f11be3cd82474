"""Running a worker or projector process in the foreground: its supervised loops, its health port, and a
clean stop on Ctrl-C or SIGTERM."""

import logging
from collections.abc import Callable

from adapters.health_server import serve_health, supervised_loops_healthy
from adapters.supervisor import Supervisor

log = logging.getLogger(__name__)


def run_until_interrupted(process: str, supervisor: Supervisor, host: str, health_port: int | None,
                          checks: list[Callable[[], str | None]]) -> None:
    """Start the loops (and a health port if asked for), and stop them all on Ctrl-C or SIGTERM."""
    supervisor.start()
    health = serve_health(host, health_port, [*checks, supervised_loops_healthy(supervisor)]) if health_port else None
    log.info("%s running %s", process, ", ".join(supervisor.tasks))
    try:
        supervisor.wait()
    except KeyboardInterrupt:
        log.info("%s stopping", process)
    finally:
        supervisor.stop()
        if health:
            health.shutdown()
