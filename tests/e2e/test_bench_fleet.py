"""`logistics bench fleet` end to end, briefly: ten couriers for a few seconds, and a report that adds up."""

import json
import subprocess
from typing import Any

import pytest

from adapters.database import Database
from scripts.processes import LOGISTICS, ROOT, process_env

pytestmark = pytest.mark.e2e


def _positive(figure: Any) -> bool:
    return isinstance(figure, int | float) and figure > 0


def test_a_small_fleet_reports_positions_that_come_back_as_frames_at_order_pages_and_the_fleet_socket(
        pg_server: Database, amqp_url: str) -> None:
    finished = subprocess.run(
        [*LOGISTICS, "bench", "fleet", "--couriers", "10", "--hz", "1", "--duration", "10", "--orders-per-s", "1",
         "--sample-orders", "3", "--json", "--server-url", pg_server.url, "--amqp-url", amqp_url],
        cwd=ROOT, env=process_env({}), capture_output=True, text=True, timeout=240, check=False)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    report = json.loads(finished.stdout)

    reports = report["reports"]
    assert reports["accepted"] > 0, report
    assert reports["offered"] >= reports["accepted"]
    assert _positive(reports["accepted_per_s"])
    for where in ("order_page", "fleet"):
        latency = report["latency_ms"][where]
        assert latency["frames"] > 0, (where, report)
        assert all(_positive(latency[p]) for p in ("p50", "p95", "p99")), (where, latency)
        assert latency["p50"] <= latency["p95"] <= latency["p99"]
    events = report["stored_events"]
    assert isinstance(events["per_courier_minute"], int | float)
    assert events["per_courier_minute"] >= 0
    assert events["courier_minutes"] > 0, report  # some courier carried an order
    orders = report["orders"]
    assert orders["placed"] >= orders["confirmed"] >= 0
    assert orders["placed"] > 0
    assert {"command-api", "worker", "projector", "query-api", "bench"} <= set(report["cpu_s"])
    assert report["socket_failures"] == []
