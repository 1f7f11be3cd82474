"""Comparing two generations of a read model table by table: row counts, an ordered checksum, sample rows."""

from dataclasses import dataclass

import psycopg
from psycopg.rows import TupleRow
from psycopg.sql import SQL, Composed, Identifier

from adapters.postgres_read_models import doc_table, rows_table, tracking_table
from adapters.rebuild_tables import read_table
from projections.read_model import ReadModel


@dataclass(frozen=True)
class TableDigest:
    rows: int
    md5: str | None


@dataclass(frozen=True)
class Mismatch:
    table: str
    built: TableDigest
    replayed: TableDigest
    samples: list[str]
    """A few rows found on one side only, prefixed with the side."""


def _tables(model: ReadModel, generation: int) -> list[tuple[str, str, SQL | Composed]]:
    """(role, table, ordering) of each of a generation's tables."""
    tables: list[tuple[str, str, SQL | Composed]] = [
        ("tracking", tracking_table(model, generation), SQL("application_name"))]
    if model.documents is not None:
        tables.append(("documents", doc_table(model, generation), SQL("id")))
    if model.rows is not None:
        unique = SQL("").join(SQL("{0}, ").format(Identifier(name)) for name in model.rows.unique)
        # Unique columns may hold NULLs; the whole row's text settles any tie.
        tables.append(("rows", rows_table(model, generation), SQL("{0}md5(t::text)").format(unique)))
    return tables


def table_digests(connection: psycopg.Connection[TupleRow], model: ReadModel,
                  generation: int) -> dict[str, TableDigest]:
    """Row count and an ordered checksum of every row's text, per table (an md5 per row keeps it small)."""
    digests = {}
    for role, table, order in _tables(model, generation):
        row = connection.execute(SQL(
            "SELECT count(*), md5(string_agg(md5(t::text), '' ORDER BY {0})) FROM {1} AS t"
        ).format(order, read_table(table))).fetchone()
        assert row is not None
        digests[role] = TableDigest(int(row[0]), row[1])
    return digests


def compare(connection: psycopg.Connection[TupleRow], model: ReadModel, built: int,
            replayed: int) -> list[Mismatch]:
    ours, theirs = table_digests(connection, model, built), table_digests(connection, model, replayed)
    mismatches = []
    for (role, built_table, _), (_, replayed_table, _) in zip(_tables(model, built), _tables(model, replayed),
                                                              strict=True):
        if ours[role] != theirs[role]:
            mismatches.append(Mismatch(role, ours[role], theirs[role],
                                       _samples(connection, built_table, replayed_table)))
    return mismatches


def _samples(connection: psycopg.Connection[TupleRow], built: str, replayed: str, limit: int = 6) -> list[str]:
    rows = connection.execute(SQL(
        "(SELECT 'built: ' || t::text FROM (SELECT * FROM {0} EXCEPT ALL SELECT * FROM {1}) AS t LIMIT %s) "
        "UNION ALL (SELECT 'replayed: ' || t::text FROM (SELECT * FROM {1} EXCEPT ALL SELECT * FROM {0}) AS t "
        "LIMIT %s)"
    ).format(read_table(built), read_table(replayed)), (limit // 2, limit // 2)).fetchall()
    return [str(row[0]) for row in rows]
