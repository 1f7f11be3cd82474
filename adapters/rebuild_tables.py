"""A rebuild's writes to a generation's tables: COPY a replayed fold in, and read or set its tracking rows."""

from collections.abc import Sequence

import psycopg
from psycopg.rows import TupleRow
from psycopg.sql import SQL, Composed, Identifier

from adapters.database import READ_SCHEMA
from adapters.postgres_read_models import _sql_value, doc_table, rows_table, storable_json, tracking_table
from projections.partitions import upstream_of
from projections.read_model import ReadModel
from projections.replay import ModelFold, Positions


def read_table(name: str) -> Composed:
    return SQL("{0}.{1}").format(Identifier(READ_SCHEMA), Identifier(name))


def data_tables(model: ReadModel, generation: int) -> list[Composed]:
    """A generation's documents and rows tables, those the model has."""
    tables = []
    if model.documents is not None:
        tables.append(read_table(doc_table(model, generation)))
    if model.rows is not None:
        tables.append(read_table(rows_table(model, generation)))
    return tables


def tracking_positions(connection: psycopg.Connection[TupleRow], model: ReadModel, generation: int) -> Positions:
    rows = connection.execute(SQL("SELECT application_name, notification_id FROM {0}").format(
        read_table(tracking_table(model, generation)))).fetchall()
    return {str(name): int(position) for name, position in rows if upstream_of(str(name)) in model.upstreams}


def set_tracking(connection: psycopg.Connection[TupleRow], model: ReadModel, generation: int,
                 positions: Positions) -> None:
    statement = SQL("INSERT INTO {0} (application_name, notification_id) VALUES (%s, %s) ON CONFLICT "
                    "(application_name) DO UPDATE SET notification_id = EXCLUDED.notification_id").format(
        read_table(tracking_table(model, generation)))
    with connection.cursor() as cursor:
        cursor.executemany(statement, sorted(positions.items()))


def write_fold(connection: psycopg.Connection[TupleRow], fold: ModelFold, generation: int) -> None:
    """COPY a fold into a generation's empty tables and set its tracking; the caller holds the transaction."""
    model = fold.model
    with connection.cursor() as cursor:
        if model.documents is not None:
            names = ["id", "doc", "updated_at", *(column.name for column in model.documents.columns)]
            with cursor.copy(SQL("COPY {0} ({1}) FROM STDIN").format(
                    read_table(doc_table(model, generation)), _columns(names))) as copy:
                for key, doc, updated_at, values in fold.document_records():
                    copy.write_row((key, storable_json(doc), updated_at, *map(_sql_value, values)))
        if model.rows is not None:
            names = [name for name, _ in model.rows.columns]
            with cursor.copy(SQL("COPY {0} ({1}) FROM STDIN").format(
                    read_table(rows_table(model, generation)), _columns(names))) as copy:
                for row in fold.rows:
                    copy.write_row(tuple(map(_sql_value, row)))
        set_tracking(connection, model, generation, fold.tracking())


def _columns(names: Sequence[str]) -> Composed:
    return SQL(", ").join(map(Identifier, names))
