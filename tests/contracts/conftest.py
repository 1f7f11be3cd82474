"""The fixtures the deployment contracts share: the real `logistics` parser and a stand-in health endpoint."""

import threading
from argparse import ArgumentParser
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from adapters.settings import Settings
from scripts.cli import build_parser


@pytest.fixture
def parser(tmp_path: Path) -> ArgumentParser:
    settings = Settings.from_env({"LOGISTICS_SECRET": "test-secret", "LOGISTICS_DATA_DIR": str(tmp_path)},
                                 env_file=tmp_path / "absent.env")
    return build_parser(settings)


@pytest.fixture
def health_server() -> Iterator[tuple[str, list[int]]]:
    """A stand-in for a process's health endpoint: answers GET with the status at the head of the list."""
    status = [200]
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            self.send_response(status[0])
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}", status
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


