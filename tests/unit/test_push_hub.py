"""The push hub's fan-out and its treatment of slow connections, without any I/O."""

import asyncio
import json
import threading
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import pytest

from adapters.inprocess_broker import InProcessBroker
from adapters.messaging import Message, MessageHandler
from queries.push_hub import (
    FIREHOSE,
    PushHub,
    PushSubscriber,
    SubscriberDropped,
    ViewChange,
    parse_view_change,
    topic_of,
)
from queries.push_positions import FLEET, CourierPosition, LiveFrame, courier_topic, parse_position
from tests.waiting import eventually_async
from web.query_api.push_feed import BINDING_KEYS, POSITION_BINDING, PushFeed

T = TypeVar("T")


def run(test: Callable[[], Awaitable[T]]) -> T:
    async def main() -> T:
        return await test()

    return asyncio.run(main())


def change(entity: str, outbox_id: int, status: str = "PENDING", view: str = "order") -> ViewChange:
    return ViewChange.from_envelope(outbox_id, {
        "id": f"m-{entity}-{outbox_id}", "type": f"view.{view}.updated", "view": view, "entity_id": entity,
        "data": {"status": status},
    })


def drain(subscriber_get: Callable[[], ViewChange | None]) -> list[int]:
    ids = []
    while (item := subscriber_get()) is not None:
        ids.append(item.outbox_id)
    return ids


def test_a_change_reaches_its_followers_and_the_firehose_only() -> None:
    async def scenario() -> None:
        hub = PushHub()
        first, second = hub.connect([topic_of("order", "a")]), hub.connect([topic_of("order", "a")])
        other = hub.connect([topic_of("order", "b")])
        firehose = hub.connect([FIREHOSE])
        assert hub.publish(change("a", 1)) == 3
        assert hub.publish(change("c", 2)) == 1
        assert drain(first.get_nowait) == [1]
        assert drain(second.get_nowait) == [1]
        assert drain(other.get_nowait) == []
        assert drain(firehose.get_nowait) == [1, 2]

    run(scenario)


def test_one_subscriber_following_a_topic_and_the_firehose_gets_each_change_once() -> None:
    async def scenario() -> None:
        hub = PushHub()
        both = hub.connect([topic_of("order", "a"), FIREHOSE])
        hub.publish(change("a", 1))
        assert drain(both.get_nowait) == [1]

    run(scenario)


def test_unfollowing_and_closing_stop_deliveries() -> None:
    async def scenario() -> None:
        hub = PushHub()
        leaving = hub.connect([topic_of("order", "a"), topic_of("order", "b")])
        leaving.unfollow(topic_of("order", "a"))
        hub.publish(change("a", 1))
        hub.publish(change("b", 2))
        assert drain(leaving.get_nowait) == [2]
        leaving.close()
        assert hub.publish(change("b", 3)) == 0
        assert len(hub) == 0
        assert hub.followers(topic_of("order", "b")) == 0

    run(scenario)


def test_a_redelivered_change_is_pushed_once() -> None:
    async def scenario() -> None:
        hub = PushHub()
        follower = hub.connect([topic_of("order", "a")])
        for outbox_id in (1, 2, 2, 1, 3):  # a broker reconnect repeats what was not acknowledged
            hub.publish(change("a", outbox_id))
        hub.publish(change("b", 2))  # ids are per entity: another entity's same id is news
        assert drain(follower.get_nowait) == [1, 2, 3]
        assert hub.stats.duplicates == 2

    run(scenario)


def test_a_slow_connection_is_dropped_and_never_holds_back_the_others() -> None:
    async def scenario() -> None:
        hub = PushHub(capacity=3)
        slow = hub.connect([FIREHOSE])
        fast = hub.connect([FIREHOSE])
        received: list[int] = []

        async def keep_reading() -> None:
            while len(received) < 10:
                received.append((await fast.get()).outbox_id)

        reader = asyncio.create_task(keep_reading())
        for outbox_id in range(1, 11):
            hub.publish(change("a", outbox_id))  # returns at once, whoever reads or not
            await asyncio.sleep(0)  # the fast reader gets its turn between changes
        await asyncio.wait_for(reader, 1)
        assert received == list(range(1, 11))
        assert hub.stats.dropped == 1
        assert len(hub) == 1
        with pytest.raises(SubscriberDropped, match="too slow"):
            await asyncio.wait_for(slow.get(), 1)
        # Dropped is final: every later read says so, and nothing is queued for it any more.
        with pytest.raises(SubscriberDropped):
            slow.get_nowait()
        assert slow.drop_reason is not None
        assert hub.publish(change("a", 11)) == 1

    run(scenario)


def test_publishing_never_waits_for_a_reader() -> None:
    async def scenario() -> None:
        hub = PushHub(capacity=2)
        idle = [hub.connect([FIREHOSE]) for _ in range(50)]
        for outbox_id in range(1, 1001):
            hub.publish(change(f"e{outbox_id % 7}", outbox_id))
        assert hub.stats.dropped == 50
        assert all(subscriber.drop_reason for subscriber in idle)

    run(scenario)


def test_close_all_tells_every_connection_why() -> None:
    async def scenario() -> None:
        hub = PushHub()
        subscribers = [hub.connect([topic_of("order", "a")]), hub.connect()]
        hub.publish(change("a", 1))
        hub.close_all("server stopping")
        for subscriber in subscribers:
            with pytest.raises(SubscriberDropped, match="server stopping"):
                await subscriber.get()
        assert len(hub) == 0

    run(scenario)


def test_a_dropped_connection_cannot_follow_again() -> None:
    async def scenario() -> None:
        hub = PushHub(capacity=1)
        subscriber = hub.connect([FIREHOSE])
        hub.publish(change("a", 1))
        hub.publish(change("a", 2))
        subscriber.follow(topic_of("order", "a"))
        assert hub.followers(topic_of("order", "a")) == 0

    run(scenario)


def test_the_frame_is_the_envelope_with_its_outbox_id() -> None:
    frame = json.loads(change("a", 7, "CONFIRMED").frame)
    assert frame["outbox_id"] == 7
    assert frame["data"] == {"status": "CONFIRMED"}
    assert frame["entity_id"] == "a"


def test_parsing_broker_messages() -> None:
    body = json.dumps({"id": "m", "view": "order", "entity_id": "o-1", "data": {"status": "PENDING"}}).encode()
    parsed = parse_view_change("view.order.updated", {"outbox-id": 42, "aggregate-id": "o-1"}, body)
    assert parsed is not None
    assert (parsed.outbox_id, parsed.topic, parsed.data) == (42, "order:o-1", {"status": "PENDING"})
    assert parse_view_change("order.created", {"outbox-id": 1}, body) is None
    assert parse_view_change("view.order.updated", {}, body) is None
    assert parse_view_change("view.order.updated", {"outbox-id": "x"}, body) is None
    assert parse_view_change("view.order.updated", {"outbox-id": 1}, b"{not json") is None
    assert parse_view_change("view.order.updated", {"outbox-id": 1}, b"[1]") is None
    assert parse_view_change("view.order.updated", {"outbox-id": 1}, b'{"view": "order"}') is None
    deleted = parse_view_change("view.order.deleted", {"outbox-id": 2},
                                json.dumps({"view": "order", "entity_id": "o-1", "data": None}).encode())
    assert deleted is not None
    assert deleted.data is None


def test_the_feed_hands_broker_threads_over_to_the_loop() -> None:
    """The broker calls back on its own thread; the hub only ever runs on the loop."""

    async def scenario() -> list[tuple[int, bool]]:
        broker = InProcessBroker()
        seen: list[tuple[int, bool]] = []

        class WatchedHub(PushHub):
            def publish(self, change: ViewChange) -> int:
                seen.append((change.outbox_id, threading.current_thread() is threading.main_thread()))
                return super().publish(change)

        hub = WatchedHub()
        feed = PushFeed(broker, hub)
        follower = hub.connect([topic_of("order", "o-1")])
        await feed.start()
        try:
            body = json.dumps({"view": "order", "entity_id": "o-1", "data": {"status": "PENDING"}}).encode()
            broker.publish([
                Message("view.order.updated", body, "m1", headers={"outbox-id": 1}),
                Message("order.created", b"{}", "m2", headers={"outbox-id": 2}),  # not a view: not bound
                Message("view.order.updated", body, "m3", headers={"outbox-id": 3}),
            ])
            first = await asyncio.wait_for(follower.get(), 5)
            second = await asyncio.wait_for(follower.get(), 5)
            assert (first.outbox_id, second.outbox_id) == (1, 3)
        finally:
            await feed.stop()
            broker.close()
        with pytest.raises(SubscriberDropped, match="server stopping"):
            follower.get_nowait()
        return seen

    assert run(scenario) == [(1, True), (3, True)]


class _ReplaceableQueue:
    """A subscription whose private queue the broker replaced, as RabbitMQ's does after a reconnect."""

    def __init__(self) -> None:
        self._queue_name = "amq.gen-first"
        self.looked = 0  # how often the feed has read the queue's name: each read is one check
        self.closed = False

    @property
    def queue_name(self) -> str:
        self.looked += 1
        return self._queue_name

    @queue_name.setter
    def queue_name(self, name: str) -> None:
        self._queue_name = name

    def close(self) -> None:
        self.closed = True


class _OneQueueBroker:
    def __init__(self) -> None:
        self.subscription = _ReplaceableQueue()

    def publish(self, messages: Sequence[Message]) -> None:
        raise AssertionError("the feed never publishes")

    def publish_unconfirmed(self, messages: Sequence[Message]) -> None:
        raise AssertionError("the feed never publishes")

    def subscribe(self, binding_keys: Sequence[str], handler: MessageHandler, *,
                  queue: str | None = None) -> _ReplaceableQueue:
        return self.subscription

    def ping(self, timeout_s: float = 3.0) -> bool:
        return True

    def close(self) -> None:
        pass


def test_clients_are_asked_to_resync_when_the_feed_lost_its_queue() -> None:
    async def scenario() -> None:
        broker = _OneQueueBroker()
        hub = PushHub()
        feed = PushFeed(broker, hub, queue_check_s=0.01)
        await feed.start()
        try:
            follower = hub.connect([topic_of("order", "o-1")])
            # Its first look, then two checks against it: the same queue, so nothing was missed.
            await eventually_async(lambda: broker.subscription.looked >= 3, timeout=5, what="two queue checks")
            assert follower.drop_reason is None
            broker.subscription.queue_name = "amq.gen-second"
            reason = await asyncio.wait_for(follower.wait_dropped(), 1)
            assert "reconnect" in reason
        finally:
            await feed.stop()
        assert broker.subscription.closed

    run(scenario)


# Couriers' live positions


COURIER = "6f1c2b3a-0000-4000-8000-000000000001"
OTHER_COURIER = "6f1c2b3a-0000-4000-8000-000000000002"
ORDER = "0b9e2f7c-3f0e-4c53-9d8e-2a4f6d1c7b10"


def position_body(courier: str = COURIER, order: str | None = ORDER, second: int = 0, lat: float = -6.2,
                  eta: str | None = "2026-01-01T09:40:00+00:00") -> bytes:
    return json.dumps({"courier_id": courier, "shipment_id": None, "order_id": order, "lat": lat, "lng": 106.8,
                       "at": f"2026-01-01T09:00:{second:02d}+00:00", "eta": eta, "speed_mps": 6.5}).encode()


def position(**fields: Any) -> CourierPosition:
    parsed = parse_position(f"position.courier.{fields.get('courier', COURIER)}", position_body(**fields))
    assert parsed is not None
    return parsed


def frames(subscriber: PushSubscriber) -> list[dict[str, Any]]:
    found = []
    while (item := subscriber.get_item_nowait()) is not None:
        assert isinstance(item, LiveFrame)
        found.append(json.loads(item.frame))
    return found


def test_a_position_reaches_its_courier_and_its_order_once_each() -> None:
    async def scenario() -> None:
        hub = PushHub()
        order_page = hub.connect([topic_of("order", ORDER)], live=True)
        courier_page = hub.connect([courier_topic(COURIER)], live=True)
        both = hub.connect([topic_of("order", ORDER), courier_topic(COURIER)], live=True)
        status_stream = hub.connect([topic_of("order", ORDER)])  # SSE and gRPC take view changes only
        firehose = hub.connect([FIREHOSE], live=True)
        elsewhere = hub.connect([topic_of("order", "another")], live=True)

        assert hub.publish_position(position()) == 3

        expected = {"type": "position", "courier_id": COURIER, "order_id": ORDER, "lat": -6.2, "lng": 106.8,
                    "at": "2026-01-01T09:00:00+00:00", "eta": "2026-01-01T09:40:00+00:00"}
        assert frames(order_page) == frames(courier_page) == frames(both) == [expected]
        assert [subscriber.get_item_nowait() for subscriber in (status_stream, firehose, elsewhere)] == [None] * 3

    run(scenario)


def test_a_free_courier_moves_on_its_own_topic_only_and_an_older_position_is_dropped() -> None:
    async def scenario() -> None:
        hub = PushHub()
        courier_page = hub.connect([courier_topic(COURIER)], live=True)
        hub.publish_position(position(order=None, second=5))
        assert hub.publish_position(position(order=None, second=3)) == 0  # late: the marker must not go back
        hub.publish_position(position(order=None, second=5))
        assert [frame["at"] for frame in frames(courier_page)] == ["2026-01-01T09:00:05+00:00"]
        assert hub.stats.stale_positions == 2

    run(scenario)


def test_the_fleet_gets_one_frame_with_the_newest_position_of_every_courier_that_moved() -> None:
    async def scenario() -> None:
        hub = PushHub()
        fleet = hub.connect([FLEET], live=True)
        customer = hub.connect([topic_of("order", ORDER)], live=True)
        for second in range(3):
            hub.publish_position(position(second=second, lat=-6.2 - second / 1000))
        hub.publish_position(position(courier=OTHER_COURIER, order=None, second=1))
        assert hub.fleet_pending

        assert hub.flush_fleet() == 1

        (frame,) = frames(fleet)
        assert frame["type"] == "fleet"
        assert [(item["courier_id"], item["lat"]) for item in frame["positions"]] == [
            (COURIER, -6.202), (OTHER_COURIER, -6.2)]
        assert not hub.fleet_pending
        assert hub.flush_fleet() == 0  # nobody moved since
        assert len(frames(customer)) == 3  # the customer's page gets every position of its courier

    run(scenario)


def test_a_full_connection_skips_live_frames_but_keeps_its_view_changes() -> None:
    async def scenario() -> None:
        hub = PushHub(capacity=2)
        follower = hub.connect([topic_of("order", ORDER)], live=True)
        hub.publish(change(ORDER, 1))
        for second in range(5):
            hub.publish_position(position(second=second))
        assert (hub.stats.live_skipped, hub.stats.dropped) == (4, 0)
        assert isinstance(await follower.get_item(), ViewChange)
        assert isinstance(await follower.get_item(), LiveFrame)

    run(scenario)


@pytest.mark.parametrize("body", [
    b"{not json", b"[1]",
    json.dumps({"courier_id": "not-an-id", "lat": 1, "lng": 1, "at": "2026-01-01T09:00:00+00:00"}).encode(),
    json.dumps({"courier_id": COURIER, "lat": 91, "lng": 1, "at": "2026-01-01T09:00:00+00:00"}).encode(),
    json.dumps({"courier_id": COURIER, "lat": "1", "lng": 1, "at": "2026-01-01T09:00:00+00:00"}).encode(),
    json.dumps({"courier_id": COURIER, "lat": 1, "lng": 1, "at": "2026-01-01T09:00:00"}).encode(),
    json.dumps({"courier_id": COURIER, "lat": 1, "lng": 1, "at": "yesterday"}).encode(),
    json.dumps({"courier_id": COURIER, "lat": 1, "lng": 1, "at": "2026-01-01T09:00:00Z", "eta": 5}).encode(),
])
def test_a_malformed_position_is_not_pushed(body: bytes) -> None:
    assert parse_position(f"position.courier.{COURIER}", body) is None


def test_a_position_message_names_its_ids_canonically() -> None:
    parsed = parse_position("position.courier.x", position_body(courier=COURIER.upper(), order=ORDER.upper()))
    assert parsed is not None
    assert (parsed.courier_id, parsed.order_id, parsed.speed_mps) == (COURIER, ORDER, 6.5)
    assert parse_position("view.order.updated", position_body()) is None


def test_the_feed_takes_positions_and_paces_the_fleet_frames() -> None:
    async def scenario() -> None:
        broker = InProcessBroker()
        hub = PushHub()
        feed = PushFeed(broker, hub, binding_keys=(*BINDING_KEYS, POSITION_BINDING), fleet_interval_s=0.5)
        fleet = hub.connect([FLEET], live=True)
        await feed.start()
        try:
            loop = asyncio.get_running_loop()
            broker.publish([Message(f"position.courier.{COURIER}", position_body(second=0), "p0")])
            first = await asyncio.wait_for(fleet.get_item(), 5)
            first_at = loop.time()
            # Three more within the interval: one frame at its end, holding the newest only.
            broker.publish([Message(f"position.courier.{COURIER}", position_body(second=second), f"p{second}")
                            for second in (1, 2, 3)])
            second = await asyncio.wait_for(fleet.get_item(), 5)
            assert loop.time() - first_at >= 0.45
            assert isinstance(first, LiveFrame)
            assert isinstance(second, LiveFrame)
            assert [item["at"] for item in json.loads(second.frame)["positions"]] == ["2026-01-01T09:00:03+00:00"]
            assert hub.stats.fleet_frames == 2
        finally:
            await feed.stop()
            broker.close()

    run(scenario)
