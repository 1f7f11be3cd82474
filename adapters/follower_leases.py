"""Leases on followers' partitions: which process may process which part of which follower's events.

Every follower of an event log (a saga step, the read models of a context, the payment deadlines, the relay)
is split into a fixed number of partitions by aggregate id. A partition is processed by one process at a
time, the one holding its lease in PostgreSQL (`read.follower_leases`). Leases are renewed by a heartbeat and
expire when it stops (a dead process loses them after `LEASE_TTL_S`); every live process claims its fair
share (partitions / processes running that follower) and gives back what it holds beyond it, so adding a
process adds capacity and losing one moves its partitions.

A lease alone proves nothing at commit time (a paused process may wake up after its lease was taken). So
every transaction that records a follower's effects also checks, with `hold_leases` in that transaction,
that its process still holds the partitions it processed, under the same epoch; `FOR SHARE` makes a
takeover wait for that transaction to finish. A process that lost a lease cannot commit over the new owner.
"""

import logging
import math
import os
import socket
import threading
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import psycopg
from psycopg import Cursor
from psycopg_pool import ConnectionPool, PoolTimeout

from adapters.database import READ_SCHEMA, Database

log = logging.getLogger(__name__)

LEASES: Final = f"{READ_SCHEMA}.follower_leases"
MEMBERS: Final = f"{READ_SCHEMA}.follower_members"
LEASE_TTL_S: Final = 6.0
"""A lease not renewed for this long may be taken: a dead process's partitions move within it (and a beat)."""
HEARTBEAT_S: Final = 1.0

LEASE_TABLES: Final = (
    f"""
    CREATE TABLE IF NOT EXISTS {LEASES} (
        follower text NOT NULL,
        partition integer NOT NULL,
        owner text,
        epoch bigint NOT NULL DEFAULT 0,
        expires_at timestamptz NOT NULL DEFAULT '-infinity',
        PRIMARY KEY (follower, partition)
    )
    """,
    f"""
    CREATE TABLE IF NOT EXISTS {MEMBERS} (
        owner text NOT NULL,
        follower text NOT NULL,
        seen_at timestamptz NOT NULL,
        PRIMARY KEY (owner, follower)
    )
    """,
)


class LeaseLost(Exception):
    """A transaction was about to record work on partitions its process no longer holds."""


@dataclass(frozen=True)
class Fence:
    """What a transaction must still hold to commit: these partitions of this follower, at these epochs."""

    follower: str
    owner: str
    epochs: Mapping[int, int]


def process_owner() -> str:
    """This process's name in the lease table: host and pid (and a nonce, as pids are reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def ensure_partitions(database: Database, partitions: Mapping[str, int]) -> None:
    """One lease row per partition of every follower; idempotent (run by migrate)."""
    with database.connect() as connection:
        for statement in LEASE_TABLES:
            connection.execute(statement)
        for follower, count in partitions.items():
            connection.execute(
                f"INSERT INTO {LEASES} (follower, partition) SELECT %s, p FROM generate_series(0, %s - 1) AS p "
                "ON CONFLICT DO NOTHING", (follower, count))


def hold_leases(cursor: Cursor[Any], fence: Fence) -> None:
    """In the transaction about to record a batch: raise LeaseLost unless every partition is still ours."""
    cursor.execute(
        f"SELECT partition, epoch FROM {LEASES} WHERE follower = %s AND owner = %s AND expires_at > now() "
        "AND partition = ANY(%s) FOR SHARE", (fence.follower, fence.owner, list(fence.epochs)), prepare=True)
    held = {int(row[0] if isinstance(row, tuple) else row["partition"]):
            int(row[1] if isinstance(row, tuple) else row["epoch"]) for row in cursor.fetchall()}
    if held != dict(fence.epochs):
        lost = sorted(set(fence.epochs) - {p for p, epoch in held.items() if fence.epochs.get(p) == epoch})
        raise LeaseLost(f"{fence.follower}: partitions {lost} are no longer held by {fence.owner}")


class LeaseManager:
    """Claims, renews and gives back this process's leases on a heartbeat, on a thread of its own."""

    def __init__(self, pool: ConnectionPool[Any], followers: Mapping[str, int], owner: str | None = None,
                 ttl_s: float = LEASE_TTL_S, heartbeat_s: float = HEARTBEAT_S) -> None:
        """`pool`: autocommit connections (the process's followers share it)."""
        self._pool = pool
        self._followers = dict(followers)
        self.owner = owner or process_owner()
        self._ttl_s = ttl_s
        self._heartbeat_s = heartbeat_s
        self._held: dict[str, dict[int, int]] = {follower: {} for follower in followers}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.changed = threading.Event()
        """Set whenever the held partitions change, so runners can pick them up at once."""

    def held(self, follower: str) -> dict[int, int]:
        """Partition -> epoch of what this process holds of `follower` now."""
        with self._lock:
            return dict(self._held.get(follower, {}))

    def fence(self, follower: str, partitions: Iterable[int]) -> Fence:
        """The fence for recording work on these partitions; LeaseLost if one of them is no longer ours."""
        held = self.held(follower)
        wanted = list(partitions)
        missing = [partition for partition in wanted if partition not in held]
        if missing:
            raise LeaseLost(f"{follower}: partitions {missing} are no longer held by {self.owner}")
        return Fence(follower, self.owner, {partition: held[partition] for partition in wanted})

    def start(self) -> None:
        self._thread = threading.Thread(target=self._beat, name="leases", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the heartbeat and give every lease back, so that another process takes over at once."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        try:
            with self._pool.connection() as connection:
                connection.execute(f"UPDATE {LEASES} SET owner = NULL, expires_at = '-infinity' WHERE owner = %s",
                                   (self.owner,))
                connection.execute(f"DELETE FROM {MEMBERS} WHERE owner = %s", (self.owner,))
        except (psycopg.Error, PoolTimeout) as error:
            log.warning("could not give back the leases of %s (they expire on their own): %s", self.owner, error)
        with self._lock:
            self._held = {follower: {} for follower in self._followers}

    def _beat(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except (psycopg.Error, PoolTimeout) as error:
                # The leases expire on their own if this goes on; the fences keep a stale holder from committing.
                log.warning("lease heartbeat failed: %s", error)
            self._stop.wait(self._heartbeat_s)

    def tick(self) -> None:
        """One heartbeat: say we are alive, renew, then claim our fair share or give back what is beyond it."""
        ttl = f"{self._ttl_s} seconds"
        held: dict[str, dict[int, int]] = {follower: {} for follower in self._followers}
        with self._pool.connection() as connection:
            for follower in self._followers:
                connection.execute(
                    f"INSERT INTO {MEMBERS} (owner, follower, seen_at) VALUES (%s, %s, now()) "
                    "ON CONFLICT (owner, follower) DO UPDATE SET seen_at = now()", (self.owner, follower))
            for follower, partition, epoch in connection.execute(
                    f"UPDATE {LEASES} SET expires_at = now() + %s::interval WHERE owner = %s AND expires_at > now() "
                    "RETURNING follower, partition, epoch", (ttl, self.owner)).fetchall():
                if follower in held:
                    held[follower][int(partition)] = int(epoch)
            members: dict[str, int] = dict(connection.execute(
                f"SELECT follower, count(*) FROM {MEMBERS} WHERE seen_at > now() - %s::interval "
                "AND follower = ANY(%s) GROUP BY follower", (ttl, list(self._followers))).fetchall())
            for follower, count in self._followers.items():
                fair = math.ceil(count / max(1, int(members.get(follower, 1))))
                mine = held[follower]
                if len(mine) < fair:
                    mine.update(self._claim(connection, follower, fair - len(mine), ttl))
                elif len(mine) > fair:
                    for partition in sorted(mine)[fair:]:
                        self._give_back(connection, follower, partition)
                        del mine[partition]
            connection.execute(f"DELETE FROM {MEMBERS} WHERE seen_at < now() - interval '1 hour'")
        with self._lock:
            before, self._held = self._held, held
        if before != held:
            log.info("leases of %s: %s", self.owner,
                     "; ".join(f"{follower} {sorted(parts)}" for follower, parts in held.items()))
            self.changed.set()

    def _claim(self, connection: psycopg.Connection[Any], follower: str, wanted: int, ttl: str) -> dict[int, int]:
        with connection.transaction():
            free = [int(row[0]) for row in connection.execute(
                f"SELECT partition FROM {LEASES} WHERE follower = %s AND (owner IS NULL OR expires_at <= now()) "
                "ORDER BY partition LIMIT %s FOR UPDATE SKIP LOCKED", (follower, wanted)).fetchall()]
            if not free:
                return {}
            rows = connection.execute(
                f"UPDATE {LEASES} SET owner = %s, epoch = epoch + 1, expires_at = now() + %s::interval "
                "WHERE follower = %s AND partition = ANY(%s) RETURNING partition, epoch",
                (self.owner, ttl, follower, free)).fetchall()
        return {int(partition): int(epoch) for partition, epoch in rows}

    def _give_back(self, connection: psycopg.Connection[Any], follower: str, partition: int) -> None:
        # Waits (FOR SHARE in the holder's transaction) for a batch of ours still committing on it.
        connection.execute(f"UPDATE {LEASES} SET owner = NULL, expires_at = '-infinity' "
                           "WHERE follower = %s AND partition = %s AND owner = %s", (follower, partition, self.owner))
