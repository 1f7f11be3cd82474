"""The command line of `logistics bench fleet`: its options, and running it from them.

Kept apart from the bench itself so that `scripts.cli` can register it without importing httpx, websockets and
the platform at every start.
"""

import argparse
from collections.abc import Callable


def _positive(kind: type[int] | type[float]) -> Callable[[str], int | float]:
    def parse(text: str) -> int | float:
        value = kind(text)
        if not value > 0:
            raise argparse.ArgumentTypeError(f"{text} is not a positive number")
        return value

    return parse


def _not_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is a negative number")
    return value


def add_fleet_bench(benches: "argparse._SubParsersAction[argparse.ArgumentParser]", server_url: str,
                    amqp_url: str) -> None:
    fleet = benches.add_parser("fleet", help="N couriers reporting at H Hz against the split deployment: reports "
                               "accepted, report -> push frame latency at order pages and the fleet socket, stored "
                               "events per courier-minute, orders confirmed, CPU per process")
    fleet.add_argument("--server-url", default=server_url,
                       help="a PostgreSQL server where a fresh database may be created and dropped")
    fleet.add_argument("--amqp-url", default=amqp_url)
    fleet.add_argument("--couriers", type=_positive(int), default=200, help="(default %(default)s)")
    fleet.add_argument("--hz", type=_positive(float), default=1.0,
                       help="position reports per courier per second (default %(default)s)")
    fleet.add_argument("--duration", type=_positive(float), default=60.0, metavar="SECONDS",
                       help="how long the couriers drive (default %(default)s)")
    fleet.add_argument("--orders-per-s", type=_positive(float), default=2.0, help="(default %(default)s)")
    fleet.add_argument("--sample-orders", type=_not_negative_int, default=20,
                       help="order pages open at a time, each on an order under way (default %(default)s)")
    fleet.add_argument("--speed-kmh", type=_positive(float), default=40.0,
                       help="the couriers' speed, below the platform's 250 km/h limit (default %(default)s)")
    fleet.add_argument("--json", action="store_true", help="print JSON instead of tables")


def run_fleet_bench(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from scripts.bench_fleet import run_bench_fleet
    from scripts.bench_fleet_load import FleetConfig
    from scripts.simulate import quiet_http_logs

    try:
        config = FleetConfig(couriers=args.couriers, hz=args.hz, duration_s=args.duration,
                             orders_per_s=args.orders_per_s, sample_orders=args.sample_orders,
                             speed_kmh=args.speed_kmh)
    except ValueError as error:
        parser.error(f"bench fleet: {error}")
    quiet_http_logs()
    return run_bench_fleet(config, args.server_url, args.amqp_url, args.json)
