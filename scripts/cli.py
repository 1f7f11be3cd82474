"""`logistics`: the single entry point for every process and operation."""

import argparse
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from adapters.logging_setup import configure_logging
from adapters.settings import Settings
from domain.identity import Role
from scripts.cli_arguments import default_amqp_url, default_server_url
from scripts.cli_arguments import positive_float as _positive_float
from scripts.cli_arguments import positive_int as _positive_int
from scripts.cli_bench import add_bench_parsers, run_bench


def _add_server_options(parser: argparse.ArgumentParser, settings: Settings, port: int | None = None) -> None:
    parser.add_argument("--host", default=settings.host, help="interface to listen on (default %(default)s)")
    parser.add_argument("--port", type=int, default=port or settings.port,
                        help="port to listen on (default %(default)s)")


def build_parser(settings: Settings) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="logistics", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run the whole platform in one process")
    _add_server_options(run, settings)
    run.add_argument("--grpc-port", type=int, default=settings.grpc_port,
                     help="port of the gRPC face (default %(default)s)")
    command_api = commands.add_parser("command-api", help="run the command API alone")
    _add_server_options(command_api, settings)
    query_api = commands.add_parser("query-api", help="run the query API alone (read-only)")
    _add_server_options(query_api, settings, settings.query_port)
    grpc = commands.add_parser("grpc", help="run the gRPC face alone: products, orders, the order-status stream")
    _add_server_options(grpc, settings, settings.grpc_port)
    grpc.add_argument("--health-port", type=int, help="serve /health/live, /health/ready and /metrics here")
    migrate_ = commands.add_parser("migrate", help="create the database schemas and tables (idempotent)")
    migrate_.add_argument("--rebuild-dispatch-index", action="store_true",
                          help="also refill the dispatch index from the shipping log (while shipping writes wait)")
    verify = commands.add_parser("verify", help="replay every stream and check the invariants (exit 1 on a breach)")
    verify.add_argument("--stuck-after-s", type=float, metavar="SECONDS",
                        help="an order the saga has not moved for this long is stuck "
                             "(default: the payment timeout + 60)")
    projector = commands.add_parser("projector", help="run the read models' runners and the outbox relay")
    projector.add_argument("--only", action="append", metavar="NAME",
                           help="run only this runner (repeatable), e.g. readmodels-from-orders, relay")
    projector.add_argument("--health-port", type=int, help="serve /health/live, /health/ready and /metrics here")
    from scripts.parked import add_parked_commands

    add_parked_commands(commands)
    status = commands.add_parser("status", help="where every projection and policy stands, and the relay backlog")
    status.add_argument("--json", action="store_true", help="print JSON instead of tables")
    from projections.models import ALL_MODELS

    rebuild = commands.add_parser("rebuild", help="rebuild read models from the event store (never publishes)")
    which = rebuild.add_mutually_exclusive_group(required=True)
    which.add_argument("name", nargs="?", choices=sorted(ALL_MODELS), metavar="NAME",
                       help=f"the read model: {', '.join(sorted(ALL_MODELS))}")
    which.add_argument("--all", action="store_true", help="every read model")
    rebuild.add_argument("--blue-green", action="store_true",
                         help="build beside the live version while it keeps serving, verify, then swap "
                              "(default: in place, stopping the model's projector meanwhile)")
    worker = commands.add_parser("worker", help="run the fulfilment saga's runners and the payment deadlines")
    worker.add_argument("--only", action="append", metavar="NAME",
                        help="run only this runner (repeatable), e.g. orders-to-inventory, payment-deadlines")
    worker.add_argument("--health-port", type=int, help="serve /health/live, /health/ready and /metrics here")

    token = commands.add_parser("token", help="print a bearer token")
    token.add_argument("--role", required=True, choices=[role.value for role in Role])
    token.add_argument("--subject", required=True, help="who the token speaks for: a customer or courier id")
    token.add_argument("--days", type=float, default=30.0, help="lifetime in days (default %(default)s)")

    add_bench_parsers(commands, settings)

    chaos = commands.add_parser("chaos", help="the split deployment under injected faults, then what survived: "
                                "lost, doubled, stuck, read models against a rebuild, messages, time to ready")
    chaos.add_argument("--orders", type=_positive_int, default=1000, help="(default %(default)s)")
    chaos.add_argument("--rate", type=_positive_float, default=4.0, help="orders per second (default %(default)s)")
    chaos.add_argument("--seed", type=int, default=1,
                       help="draws the fault moments and the orders (default %(default)s)")
    chaos.add_argument("--faults", default="all", metavar="KIND,...",
                       help="kill-command-api, kill-query-api, kill-worker, kill-projector, rabbitmq-restart, "
                            "postgres-restart, broker-pause (default: all)")
    chaos.add_argument("--repeat", type=_positive_int,
                       help="faults of each kind (default: 1 for up to 200 orders, else 3)")
    chaos.add_argument("--couriers", type=_positive_int, default=8, help="(default %(default)s)")
    chaos.add_argument("--amqp-url", default=settings.amqp_url or "amqp://guest:guest@127.0.0.1:5672/%2F")
    chaos.add_argument("--database-url", help="make a fresh database on this server instead of a private embedded "
                                              "one (then no PostgreSQL restart fault)")
    chaos.add_argument("--settle-s", type=_positive_float, default=120.0,
                       help="how long orders may take to become final after the last order and fault "
                            "(default %(default)s)")
    chaos.add_argument("--json", type=Path, metavar="PATH", help="also write the report as JSON here")
    chaos.add_argument("--log-dir", type=Path, help="keep the processes' logs here (default: a temporary folder)")
    soak = commands.add_parser("soak", help="the split deployment under a steady load for minutes: memory, "
                               "descriptors, connections, lag and push latency sampled; exit 1 on growth or lag")
    soak.add_argument("--server-url", default=default_server_url(settings),
                      help="a PostgreSQL server where a fresh database may be created and dropped")
    soak.add_argument("--amqp-url", default=default_amqp_url(settings))
    soak.add_argument("--rate", type=_positive_float, default=50.0, help="orders per second (default %(default)s)")
    length = soak.add_mutually_exclusive_group()
    length.add_argument("--minutes", type=_positive_float, default=10.0,
                        help="how long the load runs, fractions allowed (default %(default)s)")
    length.add_argument("--seconds", type=_positive_float, help="how long the load runs, in seconds")
    soak.add_argument("--sample-s", type=_positive_float, default=10.0,
                      help="seconds between samples (default %(default)s)")
    soak.add_argument("--couriers", type=_positive_int, help="(default: as many as the rate needs)")
    soak.add_argument("--out", type=Path, help="where soak.csv and soak.png go (default ./soak-<timestamp>/)")

    api_url = f"http://127.0.0.1:{settings.port}"
    simulate = commands.add_parser("simulate", help="drive the platform over its API as simulated clients would")
    simulations = simulate.add_subparsers(dest="simulation", required=True, metavar="SIMULATION")
    couriers = simulations.add_parser("couriers", help="register couriers and let them deliver what they are given")
    couriers.add_argument("--count", type=_positive_int, default=10, help="couriers (default %(default)s)")
    couriers.add_argument("--api-url", default=api_url, help="the command API (default %(default)s)")
    couriers.add_argument("--centre", default="-6.2000,106.8166", metavar="LAT,LNG",
                          help="couriers start around here (default %(default)s, Jakarta)")
    couriers.add_argument("--radius-km", type=_positive_float, default=5.0, help="(default %(default)s)")
    couriers.add_argument("--speed-kmh", type=_positive_float, default=30.0, help="(default %(default)s)")
    couriers.add_argument("--tick-s", type=_positive_float, default=1.0,
                          help="seconds between a courier's position reports (default %(default)s)")
    couriers.add_argument("--pickup-s", type=float, default=3.0, help="seconds to pick up (default %(default)s)")
    couriers.add_argument("--admin-token", help="registers the couriers (default: minted with this secret)")
    couriers.add_argument("--duration-s", type=_positive_float, help="stop after this long (default: at Ctrl-C)")

    demo = commands.add_parser("demo", help="seed products, run couriers and place a stream of orders over the API")
    demo.add_argument("--api-url", default=api_url, help="the command API (default %(default)s)")
    demo.add_argument("--orders-per-minute", type=_positive_float, default=30.0, help="(default %(default)s)")
    demo.add_argument("--couriers", type=_positive_int,
                      help="(default: as many as the order rate needs, 43 for 30 orders/min)")
    demo.add_argument("--speed-kmh", type=_positive_float, default=200.0,
                      help="couriers' speed, fast-forwarded so that deliveries finish within a demo "
                           "(default %(default)s)")
    demo.add_argument("--duration-s", type=_positive_float, help="stop after this long (default: at Ctrl-C)")
    demo.add_argument("--seed", type=int, help="make the orders and positions repeatable")
    return parser


def _stop_on_sigterm() -> None:
    # A container or supervisor stops us with SIGTERM: shut down as cleanly as on Ctrl-C.
    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def main(argv: Sequence[str] | None = None) -> int:
    configure_logging()
    _stop_on_sigterm()
    settings = Settings.from_env()
    parser = build_parser(settings)
    args = parser.parse_args(argv)
    # Every connection this process opens says whose it is (pg_stat_activity.application_name): an operator,
    # and the budget test, can count each process's connections.
    os.environ["PGAPPNAME"] = f"logistics {args.command} {os.getpid()}"
    try:
        return _run(parser, args, settings)
    except KeyboardInterrupt:
        # Ctrl-C or SIGTERM: every `with` block on the way out has already closed what it opened.
        return 0


def _run(parser: argparse.ArgumentParser, args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "token":
        from datetime import timedelta

        from adapters.tokens import TokenIssuer

        print(TokenIssuer(settings.secret).issue(args.role, args.subject, timedelta(days=args.days)))
    elif args.command == "migrate":
        from composition.database import locate_database
        from composition.migration import migrate, rebuild_dispatch_index

        database = locate_database(settings)
        migrate(database)
        print("schemas and tables are in place")
        if args.rebuild_dispatch_index:
            print(f"dispatch index refilled from {rebuild_dispatch_index(database)} shipping events")
    elif args.command == "verify":
        from scripts.verify import run_verify

        return run_verify(settings, args.stuck_after_s)
    elif args.command == "command-api":
        from scripts.serve import run_command_api

        run_command_api(settings, args.host, args.port)
    elif args.command == "projector":
        from scripts.projector import run_projector

        run_projector(settings, args.only, args.health_port)
    elif args.command == "status":
        from scripts.status import run_status

        return run_status(settings, args.json)
    elif args.command == "parked":
        from scripts.parked import run_parked

        return run_parked(settings, args)
    elif args.command == "rebuild":
        from scripts.rebuild import run_rebuild

        return run_rebuild(settings, args.name, args.all, args.blue_green)
    elif args.command == "worker":
        from scripts.worker import run_worker

        run_worker(settings, args.only, args.health_port)
    elif args.command == "bench":
        return run_bench(parser, args)
    elif args.command == "chaos":
        from scripts.chaos import ChaosConfig, chaos_main
        from scripts.chaos_faults import FAULT_KINDS, parse_fault_kinds
        from scripts.simulate import quiet_http_logs

        try:
            kinds = FAULT_KINDS if args.faults == "all" else tuple(parse_fault_kinds(args.faults))
        except ValueError as error:
            parser.error(f"--faults: {error}")
        quiet_http_logs()
        return chaos_main(ChaosConfig(orders=args.orders, rate=args.rate, seed=args.seed, faults=kinds,
                                      repeat=args.repeat, couriers=args.couriers, amqp_url=args.amqp_url,
                                      database_url=args.database_url, settle_s=args.settle_s,
                                      log_dir=args.log_dir), args.json)
    elif args.command == "soak":
        import logging

        from scripts.simulate import quiet_http_logs
        from scripts.soak import SoakConfig, default_out, report_soak, run_soak

        quiet_http_logs()
        logging.getLogger("scripts.simulate").setLevel(logging.WARNING)  # a line per delivery would bury the samples
        return report_soak(run_soak(SoakConfig(
            server_url=args.server_url, amqp_url=args.amqp_url, rate=args.rate,
            duration_s=args.seconds if args.seconds is not None else args.minutes * 60,
            out=args.out or default_out(), sample_s=args.sample_s, couriers=args.couriers)))
    elif args.command == "simulate":
        from adapters.tokens import TokenIssuer
        from scripts.movement import parse_point
        from scripts.simulate import SimulationConfig, quiet_http_logs, run_couriers

        try:
            centre = parse_point(args.centre)
        except ValueError as error:
            parser.error(f"--centre: {error}")
        quiet_http_logs()
        admin_token = args.admin_token or TokenIssuer(settings.secret).issue("admin", "courier-simulator")
        run_couriers(SimulationConfig(
            api_url=args.api_url, admin_token=admin_token, count=args.count, centre=centre,
            radius_km=args.radius_km, speed_kmh=args.speed_kmh, tick_s=args.tick_s, pickup_s=args.pickup_s,
        ), args.duration_s)
    elif args.command == "demo":
        from scripts.demo import DemoConfig, run_demo
        from scripts.simulate import quiet_http_logs

        quiet_http_logs()
        run_demo(DemoConfig(api_url=args.api_url, secret=settings.secret, orders_per_minute=args.orders_per_minute,
                            couriers=args.couriers, duration_s=args.duration_s, speed_kmh=args.speed_kmh,
                            seed=args.seed))
    elif args.command == "query-api":
        from scripts.serve import run_query_api

        run_query_api(settings, args.host, args.port)
    elif args.command == "grpc":
        from scripts.serve import run_grpc

        run_grpc(settings, args.host, args.port, args.health_port)
    elif args.command == "run":
        from scripts.serve import run_all

        run_all(settings, args.host, args.port, args.grpc_port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
