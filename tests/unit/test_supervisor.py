"""The supervisor keeps loops alive, and a loop that keeps failing makes its process not ready, saying why."""

import threading
import time

import httpx

from adapters.health_server import serve_health, supervised_loops_healthy
from adapters.supervisor import FAILING_AFTER, HEALTHY_AFTER_S, RECOVERED_AFTER_S, Supervisor, TaskState
from tests.waiting import eventually


def test_a_loop_that_keeps_failing_makes_the_process_not_ready_with_the_reason() -> None:
    attempts: list[float] = []

    def broken(stop: threading.Event) -> None:
        attempts.append(time.monotonic())
        raise ValueError("unsupported Unicode escape sequence")

    def fine(stop: threading.Event) -> None:
        stop.wait()

    supervisor = Supervisor({"readmodels-from-orders": broken, "relay": fine})
    server = serve_health("127.0.0.1", 0, [supervised_loops_healthy(supervisor)])
    url = f"http://127.0.0.1:{server.server_address[1]}/health/ready"
    supervisor.start()
    try:
        eventually(lambda: len(attempts) >= FAILING_AFTER, timeout=10, what=f"{FAILING_AFTER} failed attempts")
        eventually(lambda: httpx.get(url).status_code == 503, timeout=10, what="the readiness check answering 503")
        problems = httpx.get(url).json()["problems"]
        assert len(problems) == 1
        assert "readmodels-from-orders" in problems[0]
        assert "ValueError: unsupported Unicode escape sequence" in problems[0]
        assert "relay" not in problems[0]
    finally:
        supervisor.stop()
        server.shutdown()


def test_one_failure_is_not_yet_a_problem() -> None:
    state = TaskState("x", last_error="OperationalError: the connection was lost", failures_in_a_row=1)

    assert not state.failing(time.monotonic())


def test_a_loop_running_well_again_is_healthy_even_after_failures() -> None:
    now = time.monotonic()
    recovered = TaskState("x", running=True, started_at=now - HEALTHY_AFTER_S - 1, failures_in_a_row=FAILING_AFTER)
    crash_looping = TaskState("x", running=True, started_at=now - 1, failures_in_a_row=FAILING_AFTER)

    assert not recovered.failing(now)
    assert crash_looping.failing(now)


def test_a_loop_back_after_a_database_restart_is_ready_within_seconds_not_after_a_long_healthy_run() -> None:
    # A database restart fails every loop FAILING_AFTER times within a second; once it runs again, the process
    # must say it is ready long before HEALTHY_AFTER_S (the chaos runner allows 30 s from the fault).
    now = time.monotonic()
    back = TaskState("x", running=True, started_at=now - RECOVERED_AFTER_S - 0.1, failures_in_a_row=FAILING_AFTER)

    assert RECOVERED_AFTER_S < HEALTHY_AFTER_S
    assert not back.failing(now)
