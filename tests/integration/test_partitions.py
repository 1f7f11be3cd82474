"""Partitions and their leases on the real PostgreSQL: the SQL agrees with Python on every event's partition,
a reader sees each partition from its own position, processes share partitions fairly and take over a dead
one's, and a process that lost a lease cannot commit over its new owner."""

from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import pytest
from psycopg_pool import ConnectionPool

from adapters.database import Database
from adapters.follower_leases import LEASES, MEMBERS, LeaseLost, LeaseManager, ensure_partitions, hold_leases
from adapters.partitioned_log import PartitionedLog
from commands.orders import Orders
from composition.contexts import runner_env
from composition.migration import migrate
from domain.values import DeliveryAddress, OrderLine
from projections.partitions import partition_of
from tests.waiting import eventually

FOLLOWER = "test-follower"


@pytest.fixture
def migrated(database: Database) -> Database:
    migrate(database)
    ensure_partitions(database, {FOLLOWER: 4})
    return database


@pytest.fixture
def pool(migrated: Database) -> Iterator[ConnectionPool[Any]]:
    with ConnectionPool(migrated.url, min_size=1, max_size=4, kwargs={"autocommit": True}) as opened:
        yield opened


def place_orders(database: Database, count: int) -> list[UUID]:
    orders = Orders(env=runner_env(database))
    try:
        placed = []
        for _ in range(count):
            order, _ = orders.place_order("alice", [OrderLine(uuid4(), 1, Decimal("2.00"))], "tok_ok",
                                          DeliveryAddress("Jl. Jaksa 5", -6.2, 106.8))
            placed.append(order.id)
        return placed
    finally:
        orders.close()


def test_the_sql_and_python_agree_on_every_partition(pool: ConnectionPool[Any], migrated: Database) -> None:
    ids = [uuid4() for _ in range(200)]
    ids += [UUID(int=0), UUID(int=2**128 - 1), UUID("ffffffff-0000-4000-8000-000000000000")]
    with pool.connection() as connection:
        found = connection.execute(
            "SELECT id, mod(('x' || left(id::text, 8))::bit(32)::bigint, 4) FROM unnest(%s::uuid[]) AS id",
            (ids,)).fetchall()
    assert {row[0]: row[1] for row in found} == {uuid: partition_of(uuid) for uuid in ids}


def test_a_reader_takes_each_partition_from_its_own_position(pool: ConnectionPool[Any], migrated: Database) -> None:
    placed = place_orders(migrated, 40)
    log = PartitionedLog(pool, "Orders")
    everything = log.read(dict.fromkeys(range(4), 0), limit=1000)
    assert [item.notification.originator_id for item in everything.notifications] == placed
    assert all(item.partition == partition_of(UUID(str(item.notification.originator_id)))
               for item in everything.notifications)
    assert everything.scanned_to == everything.notifications[-1].notification.id

    # Partition 0 read up to the 30th event, the others from the start; only partitions 0 and 1 wanted.
    thirtieth = everything.notifications[29].notification.id
    some = log.read({0: thirtieth, 1: 0}, limit=1000)
    expected = [item.notification.id for item in everything.notifications
                if (item.partition == 0 and item.notification.id > thirtieth) or item.partition == 1]
    assert [item.notification.id for item in some.notifications] == expected

    page = log.read({0: 0, 1: 0, 2: 0, 3: 0}, limit=5)
    assert len(page.notifications) == 5
    assert page.scanned_to == page.notifications[-1].notification.id  # a full page: seen only up to its last


def test_two_processes_share_the_partitions_and_one_takes_over_when_the_other_dies(
        pool: ConnectionPool[Any]) -> None:
    first = LeaseManager(pool, {FOLLOWER: 4}, owner="first", ttl_s=2.0)
    second = LeaseManager(pool, {FOLLOWER: 4}, owner="second", ttl_s=2.0)
    first.tick()
    assert sorted(first.held(FOLLOWER)) == [0, 1, 2, 3]  # alone, it takes everything
    second.tick()  # joins: two members now
    first.tick()  # gives back what is beyond its share
    second.tick()
    assert len(first.held(FOLLOWER)) == 2
    assert len(second.held(FOLLOWER)) == 2
    assert set(first.held(FOLLOWER)).isdisjoint(second.held(FOLLOWER))

    # `first` dies without a word: its leases and membership lapse, and `second` takes its partitions.
    def took_over() -> bool:
        second.tick()
        return sorted(second.held(FOLLOWER)) == [0, 1, 2, 3]

    eventually(took_over, timeout=10, interval=0.3, what="the dead process's partitions taken over")


def lapsed(pool: ConnectionPool[Any], owner: str, ttl_s: float) -> bool:
    """Whether `owner` holds no lease any more and counts as a member no longer, as the other processes see it."""
    with pool.connection() as connection:
        row = connection.execute(
            f"SELECT NOT EXISTS (SELECT 1 FROM {LEASES} WHERE owner = %s AND expires_at > now()) "
            f"AND NOT EXISTS (SELECT 1 FROM {MEMBERS} WHERE owner = %s AND seen_at > now() - %s * interval '1 s')",
            (owner, owner, ttl_s)).fetchone()
    return bool(row and row[0])


def test_a_process_that_lost_its_lease_cannot_commit(pool: ConnectionPool[Any]) -> None:
    stale = LeaseManager(pool, {FOLLOWER: 4}, owner="stale", ttl_s=0.5)
    stale.tick()
    fence = stale.fence(FOLLOWER, [2])
    # A long pause (a GC, a SIGSTOP): its leases lapse, and so does its membership, by the database's clock.
    eventually(lambda: lapsed(pool, "stale", ttl_s=0.5), timeout=10, what="the stale owner lapsed")
    new_owner = LeaseManager(pool, {FOLLOWER: 4}, owner="new", ttl_s=0.5)
    new_owner.tick()
    assert 2 in new_owner.held(FOLLOWER)

    with pool.connection() as connection, connection.transaction(), connection.cursor() as cursor, \
            pytest.raises(LeaseLost):
        hold_leases(cursor, fence)
    with pool.connection() as connection, connection.transaction(), connection.cursor() as cursor:
        hold_leases(cursor, new_owner.fence(FOLLOWER, [2]))  # the new owner's batches go through


def test_a_stopped_process_gives_its_leases_back_at_once(pool: ConnectionPool[Any]) -> None:
    leaving = LeaseManager(pool, {FOLLOWER: 4}, owner="leaving")
    leaving.tick()
    leaving.stop()
    with pool.connection() as connection:
        owners = connection.execute(f"SELECT owner FROM {LEASES} WHERE follower = %s", (FOLLOWER,)).fetchall()
    assert [row[0] for row in owners] == [None] * 4
