"""Which generation of each read model is live, and the SQL views that readers query through.

Readers query `read.<model>` (and `read.<model>_<rows>`), plain SQL views over the live generation's tables.
A blue-green rebuild fills a new generation beside the live one, then swaps the views and the registry in
one transaction: readers never see a half-built model.
"""

from collections.abc import Iterable

import psycopg
from psycopg.rows import TupleRow
from psycopg.sql import SQL, Identifier

from adapters.database import READ_SCHEMA, Database
from adapters.postgres_read_models import create_statements, doc_table, rows_table, table_names
from projections.read_model import ReadModel

REGISTRY = f"{READ_SCHEMA}.generations"
FIRST_GENERATION = 1


def _views(model: ReadModel, generation: int) -> list[tuple[str, str]]:
    """(view name, table name) pairs for a model at a generation."""
    views = []
    if model.documents:
        views.append((model.name, doc_table(model, generation)))
    if model.rows:
        views.append((f"{model.name}_{model.rows.table}", rows_table(model, generation)))
    return views


def create_registry(database: Database, models: Iterable[ReadModel]) -> None:
    """Create the registry, the live generation's tables and the reader views of every model (idempotent)."""
    with database.connect() as connection, connection.transaction():
        connection.execute(f"CREATE TABLE IF NOT EXISTS {REGISTRY} (model text PRIMARY KEY, live integer NOT NULL, "
                           "building integer, swapped_at timestamptz NOT NULL DEFAULT now())")
        for model in models:
            connection.execute(f"INSERT INTO {REGISTRY} (model, live) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                               (model.name, FIRST_GENERATION))
            live = live_generation(connection, model)
            create_tables(connection, model, live)
            point_views(connection, model, live)


def live_generation(connection: psycopg.Connection[TupleRow], model: ReadModel) -> int:
    row = connection.execute(f"SELECT live FROM {REGISTRY} WHERE model = %s", (model.name,)).fetchone()
    return int(row[0]) if row else FIRST_GENERATION


def live_generations(database: Database, models: Iterable[ReadModel]) -> list[tuple[ReadModel, int]]:
    with database.connect() as connection:
        return [(model, live_generation(connection, model)) for model in models]


def create_tables(connection: psycopg.Connection[TupleRow], model: ReadModel, generation: int) -> None:
    for statement in create_statements(model, generation):
        connection.execute(statement)


def point_views(connection: psycopg.Connection[TupleRow], model: ReadModel, generation: int) -> None:
    for view, table in _views(model, generation):
        # Dropped and recreated rather than replaced: a new generation may have other columns.
        connection.execute(SQL("DROP VIEW IF EXISTS {0}.{1}").format(Identifier(READ_SCHEMA), Identifier(view)))
        connection.execute(SQL("CREATE VIEW {0}.{1} AS SELECT * FROM {0}.{2}").format(
            Identifier(READ_SCHEMA), Identifier(view), Identifier(table)))


def drop_generation(connection: psycopg.Connection[TupleRow], model: ReadModel, generation: int) -> None:
    for table in table_names(model, generation):
        connection.execute(SQL("DROP TABLE IF EXISTS {0}.{1}").format(Identifier(READ_SCHEMA), Identifier(table)))


def next_generation(database: Database, model: ReadModel) -> int:
    """Reserve a fresh generation to build into; an abandoned earlier build's tables are dropped first."""
    with database.connect() as connection, connection.transaction():
        row = connection.execute(f"SELECT live, building FROM {REGISTRY} WHERE model = %s FOR UPDATE",
                                 (model.name,)).fetchone()
        live, building = (int(row[0]), row[1]) if row else (FIRST_GENERATION, None)
        if building is not None:
            drop_generation(connection, model, int(building))
        generation = max(live, int(building or 0)) + 1
        drop_generation(connection, model, generation)
        create_tables(connection, model, generation)
        connection.execute(f"UPDATE {REGISTRY} SET building = %s WHERE model = %s", (generation, model.name))
        return generation


def swap_in(connection: psycopg.Connection[TupleRow], model: ReadModel, generation: int) -> int:
    """Make `generation` live for readers and projectors and drop the old one, in the caller's transaction (so
    that it commits together with the caller's last writes); returns the old generation."""
    row = connection.execute(f"SELECT live FROM {REGISTRY} WHERE model = %s FOR UPDATE", (model.name,)).fetchone()
    old = int(row[0]) if row else FIRST_GENERATION
    point_views(connection, model, generation)
    connection.execute(f"UPDATE {REGISTRY} SET live = %s, building = NULL, swapped_at = now() WHERE model = %s",
                       (generation, model.name))
    # A projector still writing the old generation fails on the dropped tables, restarts, and resumes
    # on the new one from that generation's own tracking: nothing is lost, nothing applied twice.
    drop_generation(connection, model, old)
    return old


def abandon(database: Database, model: ReadModel, generation: int) -> None:
    with database.connect() as connection, connection.transaction():
        drop_generation(connection, model, generation)
        connection.execute(f"UPDATE {REGISTRY} SET building = NULL WHERE model = %s AND building = %s",
                           (model.name, generation))
