"""CPU seconds each platform process spent, and its PostgreSQL backends beside it, between two readings.

Wall-clock rates on shared cores move with whoever else is running; CPU seconds per order move much less, and
they say which process a rate is bounded by. A process is found by its connections' `application_name`
(`logistics <command> <pid>`, see scripts/cli.py), so its backends are counted with it. A backend that exits
between two readings takes its CPU seconds with it: pools here keep their connections, so that is rare.
"""

import os
import re
from collections import defaultdict
from typing import Final

import psutil
import psycopg

from adapters.database import Database

_NAME: Final = re.compile(r"logistics (\S+) (\d+)$")

CpuReading = dict[tuple[str, str], dict[int, float]]
"""(command, "process" or "postgres") -> pid -> CPU seconds so far."""


def _cpu_seconds(pid: int) -> float | None:
    try:
        times = psutil.Process(pid).cpu_times()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None
    return float(times.user + times.system)


def read_cpu(database: Database) -> CpuReading:
    """Every platform process connected to `database`, and each of its backends, with its CPU seconds."""
    reading: CpuReading = defaultdict(dict)
    own = _cpu_seconds(os.getpid())
    if own is not None:
        reading[("bench", "process")][os.getpid()] = own  # the load generator shares the cores too
    with psycopg.connect(database.url, autocommit=True, application_name="cpu meter") as connection:
        rows = connection.execute("SELECT pid, application_name FROM pg_stat_activity WHERE datname = %s",
                                  (database.dbname,)).fetchall()
    for backend, name in rows:
        found = _NAME.match(str(name))
        if found is None:
            continue
        command, process = found[1], int(found[2])
        for kind, pid in (("process", process), ("postgres", int(backend))):
            seconds = _cpu_seconds(pid)
            if seconds is not None:
                reading[(command, kind)][pid] = seconds
    return dict(reading)


def cpu_spent(before: CpuReading, after: CpuReading) -> dict[tuple[str, str], float]:
    """CPU seconds spent between two readings; a pid first seen in `after` counts from its start."""
    return {key: sum(seconds - before.get(key, {}).get(pid, 0.0) for pid, seconds in pids.items())
            for key, pids in after.items()}
