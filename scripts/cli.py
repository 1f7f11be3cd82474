"""`logistics`: the single entry point for every process and operation."""

import argparse
import logging
import signal
import sys
from collections.abc import Sequence

from adapters.settings import Settings


def _add_server_options(parser: argparse.ArgumentParser, settings: Settings) -> None:
    parser.add_argument("--host", default=settings.host, help="interface to listen on (default %(default)s)")
    parser.add_argument("--port", type=int, default=settings.port, help="port to listen on (default %(default)s)")


def build_parser(settings: Settings) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="logistics", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run the whole platform in one process")
    _add_server_options(run, settings)
    command_api = commands.add_parser("command-api", help="run the command API alone")
    _add_server_options(command_api, settings)
    commands.add_parser("migrate", help="create the database schemas and tables (idempotent)")
    worker = commands.add_parser("worker", help="run the fulfilment saga's runners and the payment deadlines")
    worker.add_argument("--only", action="append", metavar="NAME",
                        help="run only this runner (repeatable), e.g. orders-to-inventory, payment-deadlines")

    token = commands.add_parser("token", help="print a bearer token")
    token.add_argument("--role", required=True, choices=["customer", "courier", "admin"])
    token.add_argument("--subject", required=True, help="who the token speaks for: a customer or courier id")
    token.add_argument("--days", type=float, default=30.0, help="lifetime in days (default %(default)s)")

    bench = commands.add_parser("bench", help="run a benchmark and print its figures")
    benches = bench.add_subparsers(dest="bench", required=True, metavar="BENCHMARK")
    orders = benches.add_parser("orders", help="orders placed per second over HTTP beside bare saves")
    orders.add_argument("--server-url", default=settings.database_url or "postgresql://postgres@127.0.0.1:5432/postgres",
                        help="a PostgreSQL server where fresh databases may be created and dropped")
    orders.add_argument("--count", type=int, default=2000)
    orders.add_argument("--concurrency", type=int, default=8)
    return parser


def _stop_on_sigterm() -> None:
    # A container or supervisor stops us with SIGTERM: shut down as cleanly as on Ctrl-C.
    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    _stop_on_sigterm()
    settings = Settings.from_env()
    args = build_parser(settings).parse_args(argv)
    if args.command == "token":
        from datetime import timedelta

        from adapters.tokens import TokenIssuer

        print(TokenIssuer(settings.secret).issue(args.role, args.subject, timedelta(days=args.days)))
    elif args.command == "migrate":
        from adapters.bootstrap import locate_database, migrate

        migrate(locate_database(settings))
        print("schemas and tables are in place")
    elif args.command == "command-api":
        from scripts.serve import run_command_api

        run_command_api(settings, args.host, args.port)
    elif args.command == "worker":
        from scripts.worker import run_worker

        run_worker(settings, args.only)
    elif args.command == "bench":
        from scripts.bench_orders import report, run

        report(run(args.server_url, args.count, args.concurrency), args.concurrency)
    elif args.command == "run":
        from scripts.serve import run_all

        run_all(settings, args.host, args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
