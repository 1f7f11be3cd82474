"""The chaos runner's deployment and its faults: the split platform's processes under a restart policy, a fault
schedule drawn from a seed, and each fault's injection with the time until the processes it hit are ready again.

The processes run as a container runtime would run them: a process that exits (killed by a fault or on its own)
is started again at once, with the same arguments and ports. Exits nobody planned are counted: a process that
falls over by itself under a fault is worth knowing about even when its restart hides it.
"""

import os
import random
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import httpx

from scripts.processes import LOGISTICS, ROOT, free_ports, process_env, stop

READY_LIMIT_S: Final = 30.0
"""A process not ready this long after its fault ended fails the run."""
GIVE_UP_S: Final = 120.0
"""How long the runner keeps waiting for readiness before it moves on (the run has failed by then)."""
BROKER_DOWN_S: Final = 4.0
BROKER_PAUSE_S: Final = 10.0
PROCESSES: Final = ("command-api", "query-api", "worker", "projector")
KILLS: Final = {f"kill-{name}": name for name in PROCESSES}
FAULT_KINDS: Final = (*KILLS, "rabbitmq-restart", "postgres-restart", "broker-pause")


class ManagedProcess:
    """One `logistics` process with a fixed port, restarted whenever it exits, as a supervisor would."""

    def __init__(self, name: str, env: Mapping[str, str], log_dir: Path) -> None:
        self.name = name
        port, = free_ports(1)
        if name in ("command-api", "query-api"):
            self.args = [name, "--host", "127.0.0.1", "--port", str(port)]
        else:
            self.args = [name, "--health-port", str(port)]
        self.base_url = f"http://127.0.0.1:{port}"
        self.env = process_env(env)
        self.log_path = log_dir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.unplanned_exits: list[int] = []
        """Exit codes of exits no fault caused."""

    def start(self) -> None:
        with self.log_path.open("ab") as log_file:
            log_file.write(f"\n===== start {self.starts + 1} at {time.strftime('%H:%M:%S')} =====\n".encode())
            log_file.flush()
            self.process = subprocess.Popen([*LOGISTICS, *self.args], cwd=ROOT, env=self.env, stdout=log_file,
                                            stderr=subprocess.STDOUT)
        self.starts += 1

    def exited(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no closing of connections, as an OOM kill or a lost machine would."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)

    def ready(self) -> bool:
        try:
            return httpx.get(f"{self.base_url}/health/ready", timeout=2.0, trust_env=False).status_code == 200
        except httpx.HTTPError:
            return False

    def log_tail(self, characters: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-characters:]


class Deployment:
    """The four processes of the split deployment, and the watchdog that restarts any that exits."""

    def __init__(self, env: Mapping[str, str], log_dir: Path) -> None:
        self.processes = {name: ManagedProcess(name, env, log_dir) for name in PROCESSES}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._watchdog = threading.Thread(target=self._watch, name="chaos-watchdog", daemon=True)

    def start(self, limit_s: float = 90.0) -> None:
        for process in self.processes.values():
            process.start()
        self._watchdog.start()
        waited = self.wait_ready(list(self.processes), time.monotonic(), limit_s)
        late = [name for name, seconds in waited.items() if seconds is None]
        if late:
            tails = "\n".join(f"--- {name}\n{self.processes[name].log_tail()}" for name in late)
            raise RuntimeError(f"not ready within {limit_s:g} s: {', '.join(late)}\n{tails}")

    def kill_and_restart(self, name: str) -> None:
        with self._lock:
            process = self.processes[name]
            process.kill()
            process.start()

    def _watch(self) -> None:
        while not self._stop.wait(0.5):
            with self._lock:
                for process in self.processes.values():
                    code = process.exited()
                    if code is not None and not self._stop.is_set():
                        process.unplanned_exits.append(code)
                        process.start()

    def wait_ready(self, names: Sequence[str], since: float, limit_s: float = GIVE_UP_S) -> dict[str, float | None]:
        """Seconds from `since` until each process answered /health/ready with 200 (None: not within the limit)."""
        waited: dict[str, float | None] = {name: None for name in names}
        deadline = since + limit_s
        while time.monotonic() < deadline and any(seconds is None for seconds in waited.values()):
            for name in names:
                if waited[name] is None and self.processes[name].ready():
                    waited[name] = time.monotonic() - since
            time.sleep(0.1)
        return waited

    def stop(self) -> None:
        self._stop.set()
        self._watchdog.join(timeout=5)
        for process in self.processes.values():
            process.stop()


@dataclass(frozen=True)
class PlannedFault:
    kind: str
    at_s: float
    """Seconds after the first order was placed."""


def fault_schedule(kinds: Sequence[str], repeat: int, window_s: float, seed: int) -> list[PlannedFault]:
    """`repeat` faults of each kind at seeded random moments of the first 90% of the order window, in time order."""
    rng = random.Random(seed)
    faults = [PlannedFault(kind, round(rng.uniform(0.05, 0.9) * window_s, 1)) for kind in kinds for _ in range(repeat)]
    return sorted(faults, key=lambda fault: fault.at_s)


@dataclass
class FaultOutcome:
    kind: str
    planned_s: float
    started_s: float
    """When it was injected, seconds after the first order (later than planned when the one before ran long)."""
    outage_s: float
    """From the injection to the end of the fault (the restart, start_app, SIGCONT, PostgreSQL back up)."""
    ready_s: dict[str, float | None] = field(default_factory=dict)
    """Per process it hit: seconds from the fault's end until /health/ready said 200 (None: never)."""
    error: str = ""

    @property
    def worst_ready_s(self) -> float | None:
        values = list(self.ready_s.values())
        return None if any(value is None for value in values) else max(values, default=0.0)  # type: ignore[type-var]

    @property
    def ready_in_time(self) -> bool:
        worst = self.worst_ready_s
        return not self.error and worst is not None and worst <= READY_LIMIT_S


def rabbitmqctl(*args: str, timeout_s: float = 120.0) -> str:
    """Plain `rabbitmqctl`: its environment says which node (a wrapper such as `rabbit-chaos` may point it)."""
    done = subprocess.run(["rabbitmqctl", *args], capture_output=True, text=True, timeout=timeout_s, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout.strip()


def broker_os_pid() -> int:
    """The beam process of the node rabbitmqctl talks to (found before pausing it: a paused node answers no one)."""
    return int(rabbitmqctl("eval", "os:getpid().").strip().strip('"'))


class FaultInjector:
    """Injects one planned fault at a time and measures how long the processes it hit take to be ready again."""

    def __init__(self, deployment: Deployment, restart_postgres: Callable[[], None] | None,
                 on_event: Callable[[str], None] = lambda line: None) -> None:
        self.deployment = deployment
        self.restart_postgres = restart_postgres
        self.on_event = on_event

    def inject(self, fault: PlannedFault, started_s: float) -> FaultOutcome:
        began = time.monotonic()
        outcome = FaultOutcome(fault.kind, fault.at_s, round(started_s, 1), 0.0)
        hit: list[str] = list(PROCESSES)
        try:
            if fault.kind in KILLS:
                hit = [KILLS[fault.kind]]
                self.deployment.kill_and_restart(hit[0])
            elif fault.kind == "rabbitmq-restart":
                rabbitmqctl("stop_app")
                try:
                    time.sleep(BROKER_DOWN_S)
                finally:  # whatever happens, the broker does not stay down
                    rabbitmqctl("start_app")
                rabbitmqctl("await_startup")
            elif fault.kind == "postgres-restart":
                if self.restart_postgres is None:
                    raise RuntimeError("no private PostgreSQL server to restart")
                self.restart_postgres()
            elif fault.kind == "broker-pause":
                pid = broker_os_pid()
                os.kill(pid, signal.SIGSTOP)
                try:
                    time.sleep(BROKER_PAUSE_S)
                finally:
                    os.kill(pid, signal.SIGCONT)
            else:
                raise ValueError(f"unknown fault {fault.kind}")
        except Exception as error:  # the run goes on; the report says the fault failed
            outcome.error = f"{type(error).__name__}: {error}"
        ended = time.monotonic()
        outcome.outage_s = round(ended - began, 1)
        outcome.ready_s = {name: None if seconds is None else round(seconds, 1)
                           for name, seconds in self.deployment.wait_ready(hit, ended).items()}
        self.on_event(f"{fault.kind} at {outcome.started_s:.0f} s: outage {outcome.outage_s:.1f} s, ready after "
                      + ", ".join(f"{name} {'never' if s is None else f'{s:.1f} s'}"
                                  for name, s in outcome.ready_s.items())
                      + (f" [{outcome.error}]" if outcome.error else ""))
        return outcome


def parse_fault_kinds(text: str) -> list[str]:
    kinds = [kind.strip() for kind in text.split(",") if kind.strip()]
    unknown = [kind for kind in kinds if kind not in FAULT_KINDS]
    if unknown:
        raise ValueError(f"unknown fault kind(s) {', '.join(unknown)}; known: {', '.join(FAULT_KINDS)}")
    return kinds
