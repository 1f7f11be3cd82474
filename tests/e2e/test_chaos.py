"""`logistics chaos` at a small scale: 200 orders through the split deployment while one fault of each kind hits it.

The database is a private embedded PostgreSQL server (the PostgreSQL restart must disturb no other test); the
broker is the test RabbitMQ, on an exchange of the run's own, restarted and paused with plain `rabbitmqctl`
(run the suite under a wrapper such as `rabbit-chaos` to aim it at another node).
"""

import json
from pathlib import Path

import pytest
from rich.console import Console

from scripts.chaos import ChaosConfig, run_chaos
from scripts.chaos_faults import FAULT_KINDS, READY_LIMIT_S

pytestmark = pytest.mark.e2e


@pytest.mark.timeout(600)  # about 2.5 minutes on 2 shared cores; the suite's 300 s default leaves too little room
def test_two_hundred_orders_survive_one_fault_of_each_kind(amqp_url: str, tmp_path: Path) -> None:
    config = ChaosConfig(orders=200, repeat=1, amqp_url=amqp_url, log_dir=tmp_path / "run")
    console = Console(width=160, record=True)

    report = run_chaos(config, console)

    report.write_json(tmp_path / "report.json")
    written = json.loads((tmp_path / "report.json").read_text())
    shown = console.export_text()
    assert written["passed"], f"{written['failures']}\n{shown}"
    assert sorted(fault["kind"] for fault in report.faults) == sorted(FAULT_KINDS), shown
    assert report.accepted == 200, shown
    assert report.refused == [], shown
    assert report.in_event_store == report.in_read_models == 200, shown
    assert report.lost_from_store == report.lost_from_read_models == [], shown
    assert report.doubled == [], shown
    assert report.stuck == [], shown
    assert report.read_model_mismatches == [], shown
    assert report.lost_messages == 0, shown
    assert report.outbox_unpublished == 0, shown
    assert report.verify_exit_code == 0, report.verify_output
    assert all(fault["ready_in_time"] and fault["worst_ready_s"] <= READY_LIMIT_S for fault in report.faults), shown
    assert report.cancelled > 0, "some orders are declined or out of stock: the saga's compensations ran too"
