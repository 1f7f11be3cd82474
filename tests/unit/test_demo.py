"""`logistics demo`: couriers for its order rate, late orders never dropped, a summary that says what it counts."""

import re
import time

import httpx

from scripts.demo import DemoStats, couriers_for, summary, trip_seconds
from scripts.demo_receipts import RECEIPT_SLOW_INTERVAL_S, AwaitingReceipt, ReceiptConfirmer


def test_the_default_fleet_keeps_up_with_the_order_rate() -> None:
    rate, radius, speed = 30.0, 3.0, 600.0
    couriers = couriers_for(rate, radius, speed)
    # Couriers busy on average = deliveries per second x seconds per delivery; the fleet must exceed it.
    busy = rate * 0.85 / 60 * trip_seconds(radius, speed, 1.0)
    assert couriers > busy * 1.4
    assert couriers_for(rate * 2, radius, speed) > couriers
    assert couriers_for(rate, radius, speed / 10) > couriers


def test_an_order_past_the_patience_is_checked_less_often_but_never_dropped() -> None:
    def not_delivered(request: httpx.Request) -> httpx.Response:
        return httpx.Response(409, json={"status": 409, "title": "Conflict", "detail": "order is IN_TRANSIT"})

    stats = DemoStats()
    confirmer = ReceiptConfirmer("http://demo.invalid", stats, patience_s=600.0)
    now = time.monotonic()
    late = AwaitingReceipt("o-late", {}, placed_at=now - 900.0, next_try=now, tries=20)
    with httpx.Client(base_url="http://demo.invalid", transport=httpx.MockTransport(not_delivered)) as http:
        assert confirmer._settled(http, late) is False
    assert late.next_try - now >= RECEIPT_SLOW_INTERVAL_S - 1

    def delivered(request: httpx.Request) -> httpx.Response:
        return httpx.Response(202, json={"order_id": "o-late"})

    with httpx.Client(base_url="http://demo.invalid", transport=httpx.MockTransport(delivered)) as http:
        assert confirmer._settled(http, late) is True
    assert stats.received.value == 1


def test_the_summary_counts_orders_and_the_demos_own_deliveries_apart() -> None:
    stats = DemoStats()
    for _ in range(5):
        stats.placed.add()
    stats.received.add()
    line = re.sub(r"\[/?[a-z ]*\]", "", summary(stats, deliveries=0, open_orders=4, overdue=1, couriers=18,
                                                 elapsed_s=30.0))
    assert "orders: placed 5" in line
    assert "received 1" in line
    assert "on their way 4 (1 late)" in line
    assert "its 18 couriers: 0 deliveries" in line
    assert "gave up" not in line
