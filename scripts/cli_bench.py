"""The `logistics bench ...` subcommands: their arguments, and which benchmark each one runs."""

import argparse
from typing import Any

from adapters.settings import Settings
from scripts.bench_fleet_cli import add_fleet_bench, run_fleet_bench
from scripts.cli_arguments import default_amqp_url, default_server_url
from scripts.cli_arguments import positive_float as _positive_float
from scripts.cli_arguments import positive_int as _positive_int


def add_bench_parsers(commands: Any, settings: Settings) -> None:
    bench = commands.add_parser("bench", help="run a benchmark and print its figures")
    benches = bench.add_subparsers(dest="bench", required=True, metavar="BENCHMARK")
    orders = benches.add_parser("orders", help="orders placed per second over HTTP beside bare saves")
    orders.add_argument("--server-url", default=default_server_url(settings),
                        help="a PostgreSQL server where fresh databases may be created and dropped")
    orders.add_argument("--count", type=int, default=2000)
    orders.add_argument("--concurrency", type=int, default=8)
    relay = benches.add_parser("relay", help="the outbox relay's publish rate to RabbitMQ")
    relay.add_argument("--server-url", default=orders.get_default("server_url"))
    relay.add_argument("--amqp-url", default=default_amqp_url(settings))
    relay.add_argument("--messages", type=int, default=50_000)
    relay.add_argument("--batch-size", type=int, default=500)
    rebuild_bench = benches.add_parser("rebuild", help="rebuild rates beside the raw read rate of the event store")
    rebuild_bench.add_argument("--server-url", default=orders.get_default("server_url"))
    rebuild_bench.add_argument("--events", type=_positive_int, default=100_000, help="(default %(default)s)")
    codec = benches.add_parser("codec", help="stored-event encode and decode rates, tagged JSON beside typed JSON")
    codec.add_argument("--events", type=_positive_int, default=50_000, help="(default %(default)s)")
    codec.add_argument("--rounds", type=_positive_int, default=5,
                       help="passes per figure, the best one counts (default %(default)s)")
    dispatch = benches.add_parser("dispatch", help="dispatch decisions with a large fleet, courier loads, and how "
                                  "long a lost wake-up leaves a courier idle (with the worker's sweeper)")
    dispatch.add_argument("--server-url", default=orders.get_default("server_url"))
    dispatch.add_argument("--couriers", type=_positive_int, default=2000, help="(default %(default)s)")
    dispatch.add_argument("--count", type=_positive_int, default=200, help="decisions timed (default %(default)s)")
    dispatch.add_argument("--wakeups", type=_positive_int, default=20, help="(default %(default)s)")
    dispatch.add_argument("--positions", type=_positive_int, default=10_000,
                          help="events of the courier loaded (default %(default)s)")
    saga = benches.add_parser("saga", help="orders per second from placement to CONFIRMED, with the worker")
    saga.add_argument("--server-url", default=orders.get_default("server_url"))
    saga.add_argument("--count", type=int, default=1000)
    saga.add_argument("--concurrency", type=int, default=8)
    saga.add_argument("--rate", type=float, action="append",
                      help="orders per second to pace at (repeatable); without it, a burst as fast as possible")
    pipeline = benches.add_parser("pipeline", help="the split deployment in one run: placement rate, placed -> "
                                  "CONFIRMED against it, push latency per rate, connections per process")
    pipeline.add_argument("--server-url", default=orders.get_default("server_url"))
    pipeline.add_argument("--amqp-url", default=default_amqp_url(settings))
    pipeline.add_argument("--count", type=_positive_int, default=2000, help="orders in the burst (default %(default)s)")
    pipeline.add_argument("--concurrency", type=_positive_int, default=8, help="(default %(default)s)")
    pipeline.add_argument("--rates", default="50,100,200", metavar="R1,R2,...",
                          help="push latency at these orders per second (default %(default)s)")
    pipeline.add_argument("--duration-s", type=_positive_float, default=10.0,
                          help="how long each push rate runs (default %(default)s)")
    push = benches.add_parser("push", help="from an order's HTTP answer to its first WebSocket push, per rate")
    push.add_argument("--server-url", default=orders.get_default("server_url"))
    push.add_argument("--amqp-url", default=relay.get_default("amqp_url"))
    push.add_argument("--rates", default="10,50,200", metavar="R1,R2,...",
                      help="orders per second, one run each (default %(default)s)")
    push.add_argument("--duration-s", type=_positive_float, default=10.0,
                      help="how long each rate runs (default %(default)s)")
    add_fleet_bench(benches, orders.get_default("server_url"), relay.get_default("amqp_url"))

    grpc_bench = benches.add_parser("grpc", help="unary CreateOrder beside POST /api/orders, and commit -> stream "
                                                 "latency at a steady rate")
    grpc_bench.add_argument("--server-url", default=orders.get_default("server_url"))
    grpc_bench.add_argument("--amqp-url", default=relay.get_default("amqp_url"))
    grpc_bench.add_argument("--count", type=_positive_int, default=2000,
                            help="orders placed over each face (default %(default)s)")
    grpc_bench.add_argument("--concurrency", type=_positive_int, default=8, help="(default %(default)s)")
    grpc_bench.add_argument("--rate", type=_positive_float, default=50.0,
                            help="orders per second for the stream latency (default %(default)s)")
    grpc_bench.add_argument("--duration-s", type=_positive_float, default=10.0,
                            help="how long the stream latency runs (default %(default)s)")



def run_bench(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """The exit code: 0, unless the benchmark says otherwise."""
    from scripts.bench_orders import report, run

    if args.bench == "codec":
        from scripts.bench_codec import report as report_codec
        from scripts.bench_codec import run as run_codec_bench

        report_codec(run_codec_bench(args.events, args.rounds), args.rounds)
    elif args.bench == "rebuild":
        from scripts.bench_rebuild import report as report_rebuild
        from scripts.bench_rebuild import run as run_rebuild_bench

        report_rebuild(*run_rebuild_bench(args.server_url, args.events))
    elif args.bench == "relay":
        from scripts.bench_relay import bench_relay, report_relay

        count, seconds = bench_relay(args.server_url, args.amqp_url, args.messages, args.batch_size)
        report_relay(count, seconds, args.batch_size)
    elif args.bench == "pipeline":
        from scripts.bench_pipeline import bench_pipeline, report_pipeline
        from scripts.bench_push import parse_rates

        try:
            pipeline_rates = parse_rates(args.rates)
        except ValueError as error:
            parser.error(f"--rates: {error}")
        report_pipeline(bench_pipeline(args.server_url, args.amqp_url, args.count, args.concurrency,
                                       pipeline_rates, args.duration_s), args.concurrency, args.duration_s)
    elif args.bench == "push":
        from scripts.bench_push import bench_push, parse_rates, report_push

        try:
            push_rates = parse_rates(args.rates)
        except ValueError as error:
            parser.error(f"--rates: {error}")
        report_push(bench_push(args.server_url, args.amqp_url, push_rates, args.duration_s), args.duration_s)
    elif args.bench == "fleet":
        return run_fleet_bench(args, parser)
    elif args.bench == "grpc":
        from scripts.bench_grpc import bench_grpc, report_grpc
        from scripts.simulate import quiet_http_logs

        quiet_http_logs()
        report_grpc(bench_grpc(args.server_url, args.amqp_url, args.count, args.concurrency, args.rate,
                               args.duration_s))
    elif args.bench == "dispatch":
        from scripts.bench_dispatch import bench_dispatch, report_dispatch

        report_dispatch(bench_dispatch(args.server_url, args.couriers, args.count, args.wakeups, args.positions))
    elif args.bench == "saga":
        from scripts.bench_saga import bench_saga

        rates = args.rate or [None]
        report([bench_saga(args.server_url, args.count, args.concurrency, rate) for rate in rates],
               args.concurrency)
    else:
        report(run(args.server_url, args.count, args.concurrency), args.concurrency)
    return 0
