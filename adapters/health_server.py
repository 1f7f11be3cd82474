"""A small HTTP port for processes that serve no API (worker, projector): liveness, readiness, metrics."""

import json
import threading
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from adapters.health import Check
from adapters.supervisor import Supervisor


def supervised_loops_healthy(supervisor: Supervisor) -> Check:
    """Not ready while any loop keeps failing (however often the supervisor restarts it), saying which and why."""

    def check() -> str | None:
        now = time.monotonic()
        failing = [f"{name} ({state.failures_in_a_row} failures in a row, last: {state.last_error})"
                   for name, state in sorted(supervisor.states.items()) if state.failing(now)]
        return f"loops failing: {'; '.join(failing)}" if failing else None

    return check


def serve_health(host: str, port: int, checks: Sequence[Check]) -> ThreadingHTTPServer:
    """Serve /health/live, /health/ready and /metrics on a daemon thread; returns the server to shut down."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/health/live":
                self._answer(200, "application/json", b'{"status":"ok"}')
            elif self.path == "/health/ready":
                problems = [problem for check in checks if (problem := check()) is not None]
                body = {"status": "unavailable", "problems": problems} if problems else {"status": "ready"}
                self._answer(503 if problems else 200, "application/json", json.dumps(body).encode())
            elif self.path == "/metrics":
                self._answer(200, CONTENT_TYPE_LATEST, generate_latest())
            else:
                self._answer(404, "application/json", b'{"status":404,"title":"Not Found"}')

        def _answer(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # probes every few seconds would drown the process's own log

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, name="health", daemon=True).start()
    return server
