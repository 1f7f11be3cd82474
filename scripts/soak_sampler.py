"""One sample of `logistics soak`: each process's memory, descriptors and connections, and the platform's lag.

A process is read with psutil together with any children it has (none today, but a worker that forks must not
hide its memory). Its PostgreSQL connections are the server's own count of `application_name = logistics
<command> <pid>` (see scripts/cli.py). The lag is the worst of every follower's `lag_seconds` and the age of
the relay's oldest unsent message: either one is how late a change reaches its reader.
"""

from dataclasses import dataclass

import psutil

from adapters.database import Database
from adapters.platform_status import platform_status


@dataclass(frozen=True)
class ProcessSample:
    name: str
    pid: int
    alive: bool
    rss_bytes: int
    open_fds: int
    pg_connections: int
    cpu_s: float = 0.0
    """CPU seconds (user + system) since it started: the interval's share says which process bounds the rate."""


@dataclass(frozen=True)
class PlatformSample:
    lag_s: float
    """The worst follower's lag_seconds or the relay's oldest unsent age, whichever is larger."""
    lag_events: int
    """Events still to process, summed over the followers."""
    relay_unsent: int
    relay_oldest_unsent_s: float


@dataclass(frozen=True)
class Sample:
    elapsed_s: float
    processes: list[ProcessSample]
    platform: PlatformSample
    push_frames: int
    push_p50_ms: float
    push_p99_ms: float
    placed: int
    received: int


def _process_tree(pid: int) -> tuple[bool, int, int, float]:
    """Whether it runs, and its resident bytes, open descriptors and CPU seconds with its children's."""
    try:
        root = psutil.Process(pid)
        if root.status() == psutil.STATUS_ZOMBIE:
            return False, 0, 0, 0.0
        rss, fds, cpu = 0, 0, 0.0
        for process in (root, *root.children(recursive=True)):
            with process.oneshot():
                rss += process.memory_info().rss
                fds += process.num_fds()
                times = process.cpu_times()
                cpu += times.user + times.system
        return True, rss, fds, cpu
    except psutil.NoSuchProcess:
        return False, 0, 0, 0.0


def _connections(database: Database) -> dict[int, int]:
    """pid -> connections it holds to `database`, from the names its connections carry."""
    with database.connect() as connection:
        rows = connection.execute(
            "SELECT split_part(application_name, ' ', 3), count(*) FROM pg_stat_activity "
            "WHERE datname = %s AND application_name LIKE 'logistics %%' GROUP BY 1",
            (database.dbname,)).fetchall()
    return {int(pid): int(count) for pid, count in rows if str(pid).isdigit()}


def sample_processes(database: Database, processes: dict[str, int]) -> list[ProcessSample]:
    connections = _connections(database)
    samples = []
    for name, pid in processes.items():
        alive, rss, fds, cpu = _process_tree(pid)
        samples.append(ProcessSample(name, pid, alive, rss, fds, connections.get(pid, 0), cpu))
    return samples


def sample_platform(database: Database) -> PlatformSample:
    status = platform_status(database)
    follower_lag = max((follower.lag_seconds or 0.0 for follower in status.followers), default=0.0)
    relay_age = status.relay.oldest_unsent_age_s or 0.0
    return PlatformSample(lag_s=max(follower_lag, relay_age),
                          lag_events=sum(follower.lag_events for follower in status.followers),
                          relay_unsent=status.relay.unsent, relay_oldest_unsent_s=relay_age)
