"""What the `logistics` command's options share: positive numbers, and where the benches and tools find a
PostgreSQL server and a broker to work on by default."""

import argparse

from adapters.settings import Settings


def default_server_url(settings: Settings) -> str:
    return settings.database_url or "postgresql://postgres@127.0.0.1:5432/postgres"


def default_amqp_url(settings: Settings) -> str:
    return settings.amqp_url or "amqp://guest:guest@127.0.0.1:5672/%2F"


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive whole number")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number")
    return value
