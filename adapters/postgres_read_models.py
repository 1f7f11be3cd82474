"""Read models in PostgreSQL: each event's documents, rows, outbox messages and tracking in one transaction.

One view object serves a set of (read model, generation) pairs. Each pair has its own tables and its own
tracking table, so one pair can be rebuilt beside the others (blue-green) and a replayed event is applied to
each pair at most once: the tracking row is advanced first, and a pair that has seen the event skips it.
"""

import json
from collections.abc import Sequence
from typing import Any, ClassVar, Final
from uuid import UUID

from eventsourcing.persistence import IntegrityError, Tracking
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Composed, Identifier
from psycopg.types.json import Jsonb

from adapters.database import OUTBOX_LOCK_KEY, READ_SCHEMA
from adapters.follower_leases import Fence, hold_leases
from adapters.parked_events import NO_PARKING, ParkingChanges, apply_parking
from projections.messages import OutboxMessage, domain_event_message, view_message
from projections.partitions import tracking_name, upstream_of
from projections.projection import ReadModelsView
from projections.read_model import Doc, ReadModel

OUTBOX_TABLE = "outbox"
OUTBOX_CHANNEL: Final = "logistics_outbox"
DOCUMENT_LOCK = SQL("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))")
# In the array's order (the caller sorts it): a function scan yields its rows in order.
DOCUMENTS_LOCK = SQL("SELECT pg_advisory_xact_lock(hashtextextended(key, 0)) FROM unnest(%s::text[]) AS key")

# PostgreSQL's text and jsonb cannot hold NUL. An event stored before the API refused it must still project
# (else every later event of its context would wait behind it), so NUL is written as U+FFFD, visibly replaced.
NUL: Final = "\x00"
NUL_REPLACEMENT: Final = "\ufffd"


def without_nul(value: Any) -> Any:
    """`value` with every NUL in its strings (and keys) replaced; anything without one is returned as is."""
    if isinstance(value, str):
        return value.replace(NUL, NUL_REPLACEMENT) if NUL in value else value
    if isinstance(value, dict):
        return {without_nul(key): without_nul(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [without_nul(item) for item in value]
    return value


def _storable_dumps(value: Any) -> str:
    text = json.dumps(value)
    # json.dumps writes NUL as the escape \u0000; only then is the slower walk needed.
    return json.dumps(without_nul(value)) if "\\u0000" in text else text


def storable_json(value: Any) -> Jsonb:
    """A jsonb parameter PostgreSQL will take whatever strings the value holds."""
    return Jsonb(value, dumps=_storable_dumps)


def doc_table(model: ReadModel, generation: int) -> str:
    return f"{model.name}_g{generation}"


def rows_table(model: ReadModel, generation: int) -> str:
    assert model.rows is not None
    return f"{model.name}_{model.rows.table}_g{generation}"


def tracking_table(model: ReadModel, generation: int) -> str:
    return f"{model.name}_g{generation}_tracking"


def table_names(model: ReadModel, generation: int) -> list[str]:
    names = [tracking_table(model, generation)]
    if model.documents:
        names.append(doc_table(model, generation))
    if model.rows:
        names.append(rows_table(model, generation))
    return names


def _id(name: str) -> Composed:
    return SQL("{0}.{1}").format(Identifier(READ_SCHEMA), Identifier(name))


def create_statements(model: ReadModel, generation: int) -> list[Composed]:
    statements = [SQL(
        "CREATE TABLE IF NOT EXISTS {0} (application_name text PRIMARY KEY, notification_id bigint NOT NULL)"
    ).format(_id(tracking_table(model, generation)))]
    if model.documents:
        table = doc_table(model, generation)
        extra = SQL("").join(SQL(", {0} {1}").format(Identifier(column.name), SQL(column.sql_type))
                             for column in model.documents.columns)
        statements.append(SQL(
            "CREATE TABLE IF NOT EXISTS {0} (id uuid PRIMARY KEY, doc jsonb NOT NULL, "
            "updated_at timestamptz NOT NULL DEFAULT now(){1})"
        ).format(_id(table), extra))
        for column in model.documents.columns:
            if column.indexed:
                statements.append(SQL("CREATE INDEX IF NOT EXISTS {0} ON {1} ({2}, id)").format(
                    Identifier(f"{table}_{column.name}_idx"), _id(table), Identifier(column.name)))
    if model.rows:
        table = rows_table(model, generation)
        columns = SQL(", ").join(SQL("{0} {1}").format(Identifier(name), SQL(sql_type))
                                 for name, sql_type in model.rows.columns)
        unique = SQL(", UNIQUE ({0})").format(SQL(", ").join(map(Identifier, model.rows.unique))) \
            if model.rows.unique else SQL("")
        statements.append(SQL("CREATE TABLE IF NOT EXISTS {0} ({1}{2})").format(_id(table), columns, unique))
        for index in model.rows.indexes:
            statements.append(SQL("CREATE INDEX IF NOT EXISTS {0} ON {1} ({2})").format(
                Identifier(f"{table}_{'_'.join(index)}_idx"), _id(table), SQL(", ").join(map(Identifier, index))))
    return statements


OUTBOX_INSERT = SQL(
    "INSERT INTO {0} (message_id, routing_key, aggregate_id, body) VALUES (%s, %s, %s, %s) "
    "ON CONFLICT (message_id) DO NOTHING"
).format(_id(OUTBOX_TABLE))


def put_on_outbox(cursor: Cursor[Any], messages: Sequence[OutboxMessage]) -> None:
    # Taken last and held to commit: outbox ids are then handed out in commit order, so the relay, which
    # publishes by id, can never publish a later row of an aggregate before an earlier one still committing.
    cursor.execute("SELECT pg_advisory_xact_lock(%s)", (OUTBOX_LOCK_KEY,), prepare=True)
    # Wakes the relay at commit; it would look within a second anyway.
    cursor.execute(SQL("NOTIFY {0}").format(Identifier(OUTBOX_CHANNEL)), prepare=True)
    cursor.executemany(OUTBOX_INSERT, [(message.message_id, message.routing_key, message.aggregate_id,
                                        storable_json(message.body)) for message in messages])


class _ModelWriter:
    """The SQL of one (read model, generation) pair."""

    def __init__(self, model: ReadModel, generation: int) -> None:
        self.model = model
        self.generation = generation
        tracking = _id(tracking_table(model, generation))
        self.advance = SQL(
            "INSERT INTO {0} VALUES (%(app)s, %(id)s) ON CONFLICT (application_name) DO UPDATE "
            "SET notification_id = %(id)s WHERE {0}.notification_id < %(id)s RETURNING notification_id"
        ).format(tracking)
        self.move = SQL(
            "INSERT INTO {0} VALUES (%(app)s, %(id)s) ON CONFLICT (application_name) DO UPDATE "
            "SET notification_id = %(id)s WHERE {0}.notification_id < %(id)s").format(tracking)
        self.position = SQL("SELECT notification_id FROM {0} WHERE application_name = %s").format(tracking)
        self.positions = SQL(
            "SELECT application_name, notification_id FROM {0} WHERE application_name = ANY(%s)").format(tracking)
        if model.documents:
            table = _id(doc_table(model, generation))
            names = [column.name for column in model.documents.columns]
            # FOR UPDATE locks only a row that exists. Two runners creating the same document at once (an order's
            # Placed and its stock reservation, say) would both start from nothing and the later upsert would drop
            # the other's part; a transaction lock on the document's key makes the second wait and re-read.
            self.lock_doc = DOCUMENT_LOCK
            self.lock_prefix = f"{doc_table(model, generation)}:"
            self.select_doc = SQL("SELECT doc FROM {0} WHERE id = %s FOR UPDATE").format(table)
            self.select_docs = SQL("SELECT id, doc FROM {0} WHERE id = ANY(%s)").format(table)
            self.delete_doc = SQL("DELETE FROM {0} WHERE id = %s").format(table)
            self.delete_docs = SQL("DELETE FROM {0} WHERE id = ANY(%s)").format(table)
            self.upsert_doc = SQL(
                "INSERT INTO {0} (id, doc, updated_at{1}) VALUES (%s, %s, %s{2}) ON CONFLICT (id) DO UPDATE SET "
                "doc = EXCLUDED.doc, updated_at = EXCLUDED.updated_at{3}"
            ).format(
                table,
                SQL("").join(SQL(", {0}").format(Identifier(name)) for name in names),
                SQL("").join(SQL(", %s") for _ in names),
                SQL("").join(SQL(", {0} = EXCLUDED.{0}").format(Identifier(name)) for name in names),
            )
        if model.rows:
            names = [name for name, _ in model.rows.columns]
            self.insert_rows = SQL("INSERT INTO {0} ({1}) VALUES ({2}) ON CONFLICT DO NOTHING").format(
                _id(rows_table(model, generation)), SQL(", ").join(map(Identifier, names)),
                SQL(", ").join(SQL("%s") for _ in names))

    def move_to(self, cursor: Cursor[Any], tracking: Tracking) -> None:
        """Record a position without an event (a partition that had none up to there)."""
        cursor.execute(self.advance, {"app": tracking.application_name, "id": tracking.notification_id},
                       prepare=True)

    def apply_batch(self, cursor: Cursor[Any], batch: Sequence[tuple[Any, Tracking]],
                    tracked: bool = True) -> list[list[OutboxMessage]]:
        """Project a batch in a handful of statements, whatever its size: the positions read once, the documents
        read once and folded in memory (the same reducers, in the same order), then written back together.
        Returns each event's messages, by the event's place in the batch (none for one this pair had seen).
        `tracked=False`: parked events processed again, behind the position already, which stays as it is."""
        names = {tracking.application_name for _, tracking in batch}
        seen_to: dict[str, int] = {}
        if tracked:
            cursor.execute(self.positions, (sorted(names | {upstream_of(name) for name in names}),), prepare=True)
            seen_to = {str(row["application_name"]): int(row["notification_id"]) for row in cursor.fetchall()}
        wanted = [(index, event, tracking) for index, (event, tracking) in enumerate(batch)
                  if upstream_of(tracking.application_name) in self.model.upstreams
                  and tracking.notification_id > seen_to.get(tracking.application_name,
                                                             seen_to.get(upstream_of(tracking.application_name), 0))]
        messages: list[list[OutboxMessage]] = [[] for _ in batch]
        if self.model.documents:
            self._fold_documents(cursor, wanted, messages)
        if self.model.rows:
            rows = [tuple(_sql_value(value) for value in row)
                    for _, event, tracking in wanted for row in self.model.rows.rows(event, tracking.notification_id)]
            if rows:
                cursor.executemany(self.insert_rows, rows)
        if self.model.publishes_domain_events:
            for index, event, _ in wanted:
                messages[index].append(domain_event_message(event))
        if tracked:
            last = {tracking.application_name: tracking.notification_id for _, tracking in batch}
            cursor.executemany(self.move, [{"app": name, "id": position} for name, position in sorted(last.items())])
        return messages

    def _fold_documents(self, cursor: Cursor[Any], wanted: Sequence[tuple[int, Any, Tracking]],
                        messages: list[list[OutboxMessage]]) -> None:
        documents = self.model.documents
        assert documents is not None
        keyed = [(index, event, key) for index, event, _ in wanted if (key := documents.key(event)) is not None]
        if not keyed:
            return
        cursor.execute(self.select_docs, (list({key for _, _, key in keyed}),), prepare=True)
        current: dict[UUID, Doc | None] = {row["id"]: row["doc"] for row in cursor.fetchall()}
        written: dict[UUID, str | None] = {}
        for index, event, key in keyed:
            before = current.get(key)
            after = documents.reduce(before, event)
            if after == before:
                continue
            current[key] = after
            # The document's own updated_at (the latest of its events), not this event's time: a replay that
            # meets the contexts' events in another order must still write the same row.
            written[key] = None if after is None else (after.get("updated_at") or event.timestamp.isoformat())
            if documents.kind:
                messages[index].append(view_message(documents.kind, key, after, event))
        upserts = []
        for key, updated_at in written.items():
            doc = current[key]
            if doc is not None:
                upserts.append((key, storable_json(doc), updated_at,
                                *(_sql_value(column.value(doc)) for column in documents.columns)))
        if upserts:
            cursor.executemany(self.upsert_doc, upserts)
        gone = [key for key in written if current[key] is None]
        if gone:
            cursor.execute(self.delete_docs, (gone,), prepare=True)

    def apply(self, cursor: Cursor[Any], event: Any, tracking: Tracking) -> list[OutboxMessage]:
        """Project one event; returns the messages it causes (none if this pair had already seen it)."""
        cursor.execute(self.advance, {"app": tracking.application_name, "id": tracking.notification_id},
                       prepare=True)
        if cursor.fetchone() is None:
            return []
        if upstream_of(tracking.application_name) not in self.model.upstreams:
            return []
        messages: list[OutboxMessage] = []
        documents = self.model.documents
        if documents:
            key = documents.key(event)
            if key is not None:
                messages.extend(self._apply_document(cursor, key, event))
        if self.model.rows:
            for row in self.model.rows.rows(event, tracking.notification_id):
                cursor.execute(self.insert_rows, tuple(_sql_value(value) for value in row), prepare=True)
        if self.model.publishes_domain_events:
            messages.append(domain_event_message(event))
        return messages

    def _apply_document(self, cursor: Cursor[Any], key: UUID, event: Any) -> list[OutboxMessage]:
        documents = self.model.documents
        assert documents is not None
        cursor.execute(self.lock_doc, (f"{self.lock_prefix}{key}",), prepare=True)
        cursor.execute(self.select_doc, (key,), prepare=True)
        row = cursor.fetchone()
        before = row["doc"] if row else None
        after = documents.reduce(before, event)
        if after == before:
            return []
        if after is None:
            cursor.execute(self.delete_doc, (key,), prepare=True)
        else:
            values = [_sql_value(column.value(after)) for column in documents.columns]
            # The document's own updated_at (the latest of its events), not this event's time: a replay that
            # meets the contexts' events in another order must still write the same row.
            updated_at = after.get("updated_at") or event.timestamp.isoformat()
            cursor.execute(self.upsert_doc, (key, storable_json(after), updated_at, *values), prepare=True)
        return [view_message(documents.kind or self.model.name, key, after, event)] if documents.kind else []


def _sql_value(value: Any) -> Any:
    if isinstance(value, dict | list):
        return storable_json(value)
    return value.replace(NUL, NUL_REPLACEMENT) if isinstance(value, str) and NUL in value else value


class PostgresReadModelsView(ReadModelsView, PostgresTrackingRecorder):
    """A projection's view over a set of read models; subclasses say which (see `read_models_view`)."""

    pairs: ClassVar[tuple[tuple[ReadModel, int], ...]] = ()
    publishing: ClassVar[bool] = True

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        self.writers = [_ModelWriter(model, generation) for model, generation in self.pairs]
        # Only our own tables: the base class's single tracking table would never be written.
        self.sql_create_statements = [statement for model, generation in self.pairs
                                      for statement in create_statements(model, generation)]

    def _create_table(self, cursor: Cursor[DictRow]) -> None:
        for statement in self.sql_create_statements:
            cursor.execute(statement, prepare=False)

    def create_table(self) -> None:
        with self.datastore.transaction(commit=True) as cursor:
            self._create_table(cursor)

    def project(self, event: Any, tracking: Tracking) -> None:
        self.project_batch([(event, tracking)])

    def project_batch(self, batch: Sequence[tuple[Any, Tracking]], fence: Fence | None = None,
                      advance: Sequence[Tracking] = (), parking: ParkingChanges = NO_PARKING) -> None:
        """Several events of one context, in order, in one transaction: one commit instead of one per event.

        `fence`: the partitions' leases this process must still hold to commit; `advance`: positions of
        partitions the batch had no events of, recorded with it; `parking`: what the batch parks or resolves
        among the parked events. Parked events processed again (`parking.retried`) record no position: theirs
        was recorded when they were parked.
        """
        tracked = not parking.retried
        with self.datastore.transaction(commit=True) as cursor:
            if fence is not None:
                hold_leases(cursor, fence)
            if parking:
                apply_parking(cursor, parking)
            # Every document the batch will change is locked up front, in one global order: two runners'
            # batches then never wait for each other in a cycle (the outbox lock is always taken last).
            keys = sorted(self._document_keys(batch))
            if keys:
                cursor.execute(DOCUMENTS_LOCK, (keys,), prepare=True)
            per_writer = [writer.apply_batch(cursor, batch, tracked) for writer in self.writers] if batch else []
            # In the order the events came, each event's messages in the order of the models.
            messages = [message for index in range(len(batch)) for found in per_writer for message in found[index]]
            for tracking in advance:
                for writer in self.writers:
                    writer.move_to(cursor, tracking)
            if self.publishing and messages:
                put_on_outbox(cursor, messages)

    def partition_positions(self, upstream: str, partitions: Sequence[int]) -> dict[int, int]:
        """Where every model of the view stands in each partition of `upstream` (the one furthest behind).

        A partition never recorded stands where the whole log did before it was partitioned (legacy row).
        """
        names = [tracking_name(upstream, partition) for partition in partitions]
        positions: dict[int, int] = dict.fromkeys(partitions, 2**62)
        with self.datastore.transaction(commit=False) as cursor:
            for writer in self.writers:
                cursor.execute(writer.positions, ([*names, upstream],), prepare=True)
                found = {str(row["application_name"]): int(row["notification_id"]) for row in cursor.fetchall()}
                for partition, name in zip(partitions, names, strict=True):
                    positions[partition] = min(positions[partition], found.get(name, found.get(upstream, 0)))
        return {partition: 0 if position == 2**62 else position for partition, position in positions.items()}

    def _document_keys(self, batch: Sequence[tuple[Any, Tracking]]) -> set[str]:
        keys = set()
        for writer in self.writers:
            documents = writer.model.documents
            if documents is None:
                continue
            for event, tracking in batch:
                if upstream_of(tracking.application_name) in writer.model.upstreams \
                        and (key := documents.key(event)) is not None:
                    keys.add(f"{writer.lock_prefix}{key}")
        return keys

    def _insert_tracking(self, cursor: Cursor[DictRow], tracking: Tracking) -> None:
        advanced = False
        for writer in self.writers:
            cursor.execute(writer.advance, {"app": tracking.application_name, "id": tracking.notification_id},
                           prepare=True)
            advanced = cursor.fetchone() is not None or advanced
        if not advanced:
            raise IntegrityError(f"Failed to record tracking for {tracking.application_name} "
                                 f"{tracking.notification_id}")

    def _max_tracking_id(self, application_name: str, cursor: Cursor[DictRow]) -> int | None:
        """The position every read model has reached: a runner resumes from the one furthest behind."""
        positions = []
        for writer in self.writers:
            cursor.execute(writer.position, (application_name,), prepare=True)
            row = cursor.fetchone()
            if row is None:
                return None
            positions.append(int(row["notification_id"]))
        return min(positions) if positions else None


def read_models_view(pairs: Sequence[tuple[ReadModel, int]], *, publishing: bool) -> type[PostgresReadModelsView]:
    """A view class for these read models at these generations (runners build views from a class)."""
    label = "_".join(f"{model.name}{generation}" for model, generation in pairs)
    return type(f"ReadModelsView_{label}", (PostgresReadModelsView,),
                {"pairs": tuple(pairs), "publishing": publishing})
