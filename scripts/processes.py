"""Starting the platform's real processes (for benchmarks and end-to-end tests), and stopping them again."""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

LOGISTICS = [sys.executable, "-m", "scripts.cli"]
ROOT = Path(__file__).resolve().parents[1]


def process_env(env: Mapping[str, str]) -> dict[str, str]:
    """The environment of a started process: ours, the caller's settings over it.

    Unless someone sets it, the gRPC face of a `logistics run` listens on a port of the system's choosing: the
    processes of one machine's test and benchmark runs must not contend for the default 50051.
    """
    return {"LOGISTICS_GRPC_PORT": "0", **os.environ, **env, "PYTHONUNBUFFERED": "1"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def free_ports(count: int) -> list[int]:
    """Ports that are free now and differ from each other (one process may listen on several)."""
    ports: list[int] = []
    while len(ports) < count:
        if (port := free_port()) not in ports:
            ports.append(port)
    return ports


@dataclass
class RunningProcess:
    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path
    grpc_target: str = ""
    """`host:port` of its gRPC server, for `logistics grpc` (whose base_url is then its health port)."""

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def wait_until_healthy(process: subprocess.Popen[bytes], base_url: str, log_path: Path, limit_s: float) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode}:\n{log_path.read_text(errors='replace')}")
        try:
            if httpx.get(f"{base_url}/health/live", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"process did not become healthy in {limit_s} s:\n{log_path.read_text(errors='replace')}")


@contextmanager
def logistics_process(args: list[str], env: Mapping[str, str], log_dir: Path, startup_limit_s: float = 60.0,
                      port: int | None = None) -> Iterator[RunningProcess]:
    """Run `logistics <args> --port <port, or a free one>` and yield once it answers its health check."""
    port = port or free_port()
    log_path = log_dir / f"{args[0]}-{port}.log"
    full_env = process_env(env)
    with log_path.open("wb") as log_file:
        process = subprocess.Popen([*LOGISTICS, *args, "--host", "127.0.0.1", "--port", str(port)], cwd=ROOT,
                                   env=full_env, stdout=log_file, stderr=subprocess.STDOUT)
        base_url = f"http://127.0.0.1:{port}"
        try:
            wait_until_healthy(process, base_url, log_path, startup_limit_s)
            yield RunningProcess(process, base_url, log_path)
        finally:
            stop(process)


@contextmanager
def grpc_process(env: Mapping[str, str], log_dir: Path, startup_limit_s: float = 60.0) -> Iterator[RunningProcess]:
    """Run `logistics grpc` on a free port with a health port, and yield once it serves (its health port answers)."""
    port, health_port = free_ports(2)
    log_path = log_dir / f"grpc-{port}.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen([*LOGISTICS, "grpc", "--host", "127.0.0.1", "--port", str(port),
                                    "--health-port", str(health_port)], cwd=ROOT,
                                   env=process_env(env), stdout=log_file,
                                   stderr=subprocess.STDOUT)
        base_url = f"http://127.0.0.1:{health_port}"
        try:
            wait_until_healthy(process, base_url, log_path, startup_limit_s)
            yield RunningProcess(process, base_url, log_path, grpc_target=f"127.0.0.1:{port}")
        finally:
            stop(process)


@contextmanager
def background_process(args: list[str], env: Mapping[str, str], log_dir: Path) -> Iterator[RunningProcess]:
    """Run a `logistics` subcommand that serves no HTTP (the worker, the projector) until the block ends."""
    log_path = log_dir / f"{args[0]}-{time.monotonic_ns()}.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen([*LOGISTICS, *args], cwd=ROOT, env=process_env(env),
                                   stdout=log_file, stderr=subprocess.STDOUT)
        try:
            yield RunningProcess(process, "", log_path)
        finally:
            stop(process)


def stop(process: subprocess.Popen[bytes], timeout_s: float = 20.0) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
