"""Whether the gRPC face can serve: the database, asked every few seconds, told to the standard health service.

The same answer gates the calls (see `Admission`): while the database is unreachable a call is refused with
UNAVAILABLE at once, instead of waiting out the connection pools' timeouts and the event store's retries.
"""

import asyncio
import logging
from collections.abc import Sequence
from typing import Final

from grpc_health.v1 import health_pb2
from grpc_health.v1.health import aio as health_aio

from adapters.health import Check

log = logging.getLogger(__name__)

CHECK_INTERVAL_S: Final = 2.0


class DatabaseWatch:
    """Keeps `reachable` and the health service's statuses (overall and per service) current."""

    def __init__(self, check: Check, health: health_aio.HealthServicer, services: Sequence[str],
                 interval_s: float = CHECK_INTERVAL_S) -> None:
        self._check = check
        self._health = health
        self._services = ("", *services)  # "" is the server as a whole
        self._interval_s = interval_s
        self.reachable = True

    def is_reachable(self) -> bool:
        return self.reachable

    async def check_now(self) -> None:
        try:
            problem = await asyncio.to_thread(self._check)
        except Exception as error:  # a check that fails in itself says nothing good about the database
            problem = f"the database check failed: {error}"
        if (problem is None) != self.reachable:
            if problem is None:
                log.info("gRPC: the database is reachable again; serving")
            else:
                log.warning("gRPC: %s; not serving until it is back", problem)
        self.reachable = problem is None
        status = health_pb2.HealthCheckResponse.SERVING if self.reachable \
            else health_pb2.HealthCheckResponse.NOT_SERVING
        for service in self._services:
            await self._health.set(service, status)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            await self.check_now()
