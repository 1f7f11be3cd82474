"""`logistics soak` end to end, briefly: the split deployment under load, its CSV, its plot and its verdict."""

import csv
import subprocess
from pathlib import Path

import pytest

from adapters.database import Database
from scripts.processes import LOGISTICS, ROOT, process_env

pytestmark = pytest.mark.e2e

PROCESSES = {"command-api", "query-api", "worker", "projector"}


def _soak_databases(server: Database) -> set[str]:
    with server.connect() as connection:
        rows = connection.execute("SELECT datname FROM pg_database WHERE datname LIKE 'logistics_soak_%'").fetchall()
    return {str(row[0]) for row in rows}


def test_a_short_soak_samples_every_process_plots_them_and_gives_a_verdict(
        pg_server: Database, amqp_url: str, tmp_path: Path) -> None:
    before = _soak_databases(pg_server)
    out = tmp_path / "out"
    finished = subprocess.run(
        [*LOGISTICS, "soak", "--rate", "5", "--minutes", "0.5", "--server-url", pg_server.url, "--amqp-url",
         amqp_url, "--out", str(out)],
        cwd=ROOT, env=process_env({}), capture_output=True, text=True, timeout=120, check=False)
    output = finished.stdout + finished.stderr

    verdicts = [line for line in finished.stdout.splitlines() if line.startswith("verdict: ")]
    assert len(verdicts) == 1, output
    assert finished.returncode == (0 if verdicts[0].startswith("verdict: PASS") else 1), output
    with (out / "soak.csv").open() as file:
        rows = list(csv.DictReader(file))
    assert {row["process"] for row in rows} == PROCESSES
    for name in PROCESSES:
        mine = [row for row in rows if row["process"] == name]
        assert len(mine) >= 2, f"{name} was sampled {len(mine)} times"
        assert all(float(row["rss_mib"]) > 0 and int(row["open_fds"]) > 0 for row in mine), mine
    assert any(int(row["pg_connections"]) > 0 for row in rows if row["process"] == "worker")
    assert int(rows[-1]["placed"]) > 0
    assert (out / "soak.png").read_bytes().startswith(b"\x89PNG")
    assert _soak_databases(pg_server) <= before, "the soak's database was not dropped"
