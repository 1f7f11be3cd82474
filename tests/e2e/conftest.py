"""Fixtures the end-to-end tests share: a consumer of the platform's exchange."""

from collections.abc import Iterator

import pytest

from tests.e2e.broker_checks import Collector
from tests.rabbit_env import RabbitEnv


@pytest.fixture
def collector(rabbit: RabbitEnv) -> Iterator[Collector]:
    collected = Collector()
    broker = rabbit.broker()
    broker.declare_topology()
    # A durable quorum queue: it keeps what arrives while RabbitMQ restarts, as a real consumer's would.
    subscription = broker.subscribe(["#"], collected, queue=rabbit.queue())
    assert subscription.wait_until_consuming(30), "the test consumer never started"
    yield collected
    subscription.close()
