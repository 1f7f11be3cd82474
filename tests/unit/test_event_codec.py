"""The stored-event codec: every domain event round-trips typed, old tagged events still read, upcasting works.

Events are drawn by hypothesis from each event class's own annotations, for every event class the domain's
aggregates define, so an event added later is covered without touching this file.
"""

import dataclasses
import enum
import importlib
import json
import pkgutil
import types
import typing
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import hypothesis.strategies as st
import pytest
from eventsourcing.compressor import ZlibCompressor
from eventsourcing.domain import Aggregate, CanMutateAggregate, Snapshot, event
from eventsourcing.persistence import Mapper, MapperDeserialisationError, StoredEvent
from eventsourcing.utils import get_topic
from hypothesis import HealthCheck, given, settings

import domain
from adapters.database import Database
from adapters.event_codec import (
    MAPPER_TOPIC,
    MARKER,
    TAGGED_WRITING_MAPPER_TOPIC,
    MsgspecMapper,
    TaggedWritingMapper,
    event_schema,
    stored_event_mapper,
)
from adapters.settings import Settings, SettingsError
from domain.base import LogisticsAggregate, message_context
from domain.stock import Stock
from domain.values import GeoPoint

EXAMPLES = settings(max_examples=25, database=None, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DOMAIN_AGGREGATES = {"Order", "Stock", "StockReservation", "Payment", "Shipment", "Courier", "Dispatcher"}


def domain_aggregates() -> list[type[Aggregate]]:
    for module in pkgutil.iter_modules(domain.__path__):
        importlib.import_module(f"domain.{module.name}")

    def subclasses(cls: type[Aggregate]) -> Iterator[type[Aggregate]]:
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    return sorted({cls for cls in subclasses(LogisticsAggregate) if cls.__module__.startswith("domain.")},
                  key=lambda cls: cls.__qualname__)


def domain_event_classes() -> list[type[Any]]:
    """Every event class nested in a domain aggregate: those `@event` made and the bases they share."""
    found = []
    for aggregate in domain_aggregates():
        for name in dir(aggregate):
            value = getattr(aggregate, name)
            if isinstance(value, type) and issubclass(value, CanMutateAggregate) and value.__qualname__.startswith(
                    f"{aggregate.__qualname__}."):
                found.append(value)
    return found


EVENT_CLASSES = domain_event_classes()


def legacy_mapper() -> Mapper[UUID]:
    """What every store holds so far: the library's Mapper and JSONTranscoder with our transcodings."""
    return Mapper(transcoder=stored_event_mapper().transcoder)


MAPPER = stored_event_mapper()
LEGACY_MAPPER = legacy_mapper()


def values_of(hint: Any) -> st.SearchStrategy[Any]:
    """Any value of an annotation, as hypothesis draws it."""
    simple: dict[Any, st.SearchStrategy[Any]] = {
        str: st.text(max_size=30),
        int: st.integers(),
        float: st.floats(allow_nan=False, allow_infinity=False),
        bool: st.booleans(),
        type(None): st.none(),
        UUID: st.uuids(),
        Decimal: st.decimals(allow_nan=False, allow_infinity=False),
        datetime: st.datetimes(timezones=st.one_of(
            st.just(UTC),
            st.builds(lambda minutes: timezone(timedelta(minutes=minutes)), st.integers(-14 * 60, 14 * 60)))),
        date: st.dates(),
    }
    if hint in simple:
        return simple[hint]
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return st.sampled_from(list(hint))
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        hints = typing.get_type_hints(hint)
        return st.builds(hint, **{field.name: values_of(hints[field.name]) for field in dataclasses.fields(hint)})
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        return st.one_of(*(values_of(arg) for arg in args))
    if origin is list:
        return st.lists(values_of(args[0]), max_size=4)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return st.lists(values_of(args[0]), max_size=4).map(tuple)
    if origin is tuple:
        return st.tuples(*(values_of(arg) for arg in args))
    if origin is dict:
        return st.dictionaries(values_of(args[0]), values_of(args[1]), max_size=4)
    if origin in (set, frozenset):
        return st.sets(values_of(args[0]), max_size=4).map(origin)
    raise AssertionError(f"no strategy for {hint!r}: teach values_of this annotation")


def events_of(cls: type[Any]) -> st.SearchStrategy[Any]:
    hints = typing.get_type_hints(cls)
    row = {"originator_id": st.uuids(), "originator_version": st.integers(1, 2**31)}
    fields = {field.name: row[field.name] if field.name in row else values_of(hints[field.name])
              for field in dataclasses.fields(cls)}

    def make(**values: Any) -> Any:
        init = {field.name: values[field.name] for field in dataclasses.fields(cls) if field.init}
        instance = cls(**init)
        for field in dataclasses.fields(cls):  # correlation and causation ids come from context variables
            if not field.init:
                object.__setattr__(instance, field.name, values[field.name])
        return instance

    return st.builds(make, **fields)


def assert_identical(decoded: Any, original: Any, where: str = "event") -> None:
    """Equal, and of the same type all the way down (1 == 1.0 and [1] == (1,) would hide a lost type)."""
    assert type(decoded) is type(original), f"{where}: {type(decoded)} is not {type(original)}"
    if isinstance(original, dict):
        assert decoded.keys() == original.keys(), where
        for key in original:
            assert_identical(decoded[key], original[key], f"{where}[{key!r}]")
    elif isinstance(original, list | tuple):
        assert len(decoded) == len(original), where
        for index, (left, right) in enumerate(zip(decoded, original, strict=True)):
            assert_identical(left, right, f"{where}[{index}]")
    elif dataclasses.is_dataclass(original):
        assert_identical(vars(decoded), vars(original), where)
    elif isinstance(original, datetime):
        assert (decoded, decoded.utcoffset()) == (original, original.utcoffset()), where
    elif isinstance(original, Decimal):
        assert str(decoded) == str(original), where  # the same digits and exponent: 1.50 stays 1.50
    else:
        assert decoded == original, where


def test_every_domain_aggregate_and_its_events_are_found() -> None:
    assert {cls.__name__ for cls in domain_aggregates()} >= DOMAIN_AGGREGATES
    names = {cls.__qualname__ for cls in EVENT_CLASSES}
    assert {"Order.Placed", "Stock.Reserved", "StockReservation.Rejected", "Payment.Captured",
            "Shipment.LocationUpdated", "Courier.Registered", "Dispatcher.ShipmentQueued"} <= names


@pytest.mark.parametrize("cls", EVENT_CLASSES, ids=lambda cls: cls.__qualname__)
def test_every_domain_event_class_is_stored_typed(cls: type[Any]) -> None:
    # A class msgspec could not type would silently stay on the slow tagged JSON.
    assert event_schema(cls) is not None


@pytest.mark.parametrize("cls", EVENT_CLASSES, ids=lambda cls: cls.__qualname__)
@EXAMPLES
@given(data=st.data())
def test_every_domain_event_round_trips_typed_to_an_identical_event(cls: type[Any], data: st.DataObject) -> None:
    original = data.draw(events_of(cls))

    stored = MAPPER.to_stored_event(original)

    assert stored.state.startswith(MARKER)
    json.loads(stored.state.decode("utf-8"))  # valid UTF-8 JSON, as the SQL that reads the timestamp needs
    decoded = MAPPER.to_domain_event(stored)
    assert decoded == original
    assert_identical(decoded, original)


@pytest.mark.parametrize("cls", EVENT_CLASSES, ids=lambda cls: cls.__qualname__)
@EXAMPLES
@given(data=st.data())
def test_events_stored_by_the_legacy_mapper_decode_as_the_legacy_mapper_decodes_them(
        cls: type[Any], data: st.DataObject) -> None:
    original = data.draw(events_of(cls))

    stored = LEGACY_MAPPER.to_stored_event(original)

    assert not stored.state.startswith(MARKER)
    decoded = MAPPER.to_domain_event(stored)
    assert_identical(decoded, LEGACY_MAPPER.to_domain_event(stored))
    assert decoded == original


def test_a_history_with_both_formats_interleaved_replays_to_the_same_aggregate() -> None:
    mapper, legacy = stored_event_mapper(), legacy_mapper()
    stock = Stock.create("MIX-1", "Mixed", "4.20", 10)
    with message_context("corr", "cause"):
        for _ in range(3):
            stock.reserve(uuid4(), 1)
        stock.restock(5, "delivery")
    events = stock.collect_events()

    stored = [(legacy if index % 2 else mapper).to_stored_event(each) for index, each in enumerate(events)]

    assert [state.state.startswith(MARKER) for state in stored] == [True, False, True, False, True]
    decoded: list[Any] = [mapper.to_domain_event(each) for each in stored]
    assert decoded == events
    replayed = None
    for each in decoded:
        replayed = each.mutate(replayed)
    assert vars(replayed) == vars(stock)


def test_a_compressed_store_round_trips_both_formats() -> None:
    mapper = MsgspecMapper(stored_event_mapper().transcoder, compressor=ZlibCompressor())
    legacy: Mapper[UUID] = Mapper(transcoder=mapper.transcoder, compressor=ZlibCompressor())
    placed = Stock.create("ZIP-1", "Zipped", "1.00", 1).collect_events()[0]

    assert mapper.to_domain_event(mapper.to_stored_event(placed)) == placed
    assert mapper.to_domain_event(legacy.to_stored_event(placed)) == placed


def test_a_broken_typed_state_says_which_event_it_was() -> None:
    mapper = stored_event_mapper()
    stored = mapper.to_stored_event(Stock.create("BAD-1", "Bad", "1.00", 1).collect_events()[0])
    broken = dataclasses.replace(stored, state=stored.state.replace(b'"price":"1.00"', b'"price":[]'))

    with pytest.raises(MapperDeserialisationError, match=r"Stock\.ProductCreated"):
        mapper.to_domain_event(broken)


# Classes that msgspec cannot type exactly stay on the tagged JSON, and so do snapshots.


class Untypable(Aggregate):
    @event("Noted")
    def note(self, anything: Any, some: Sequence[int]) -> None:
        pass


def test_an_event_class_without_an_exact_typed_form_stays_tagged_and_round_trips() -> None:
    untypable = Untypable()
    untypable.note({"free": ["form", 1]}, [1, 2])
    mapper = stored_event_mapper()

    for original in untypable.collect_events():
        stored = mapper.to_stored_event(original)
        assert stored.state.startswith(MARKER) is (event_schema(type(original)) is not None)
        assert mapper.to_domain_event(stored) == original
    assert event_schema(Untypable.Noted) is None  # type: ignore[attr-defined]


def test_snapshots_stay_on_tagged_json() -> None:
    stock = Stock.create("SNAP-1", "Snapshot", "3.00", 4)
    stock.reserve(uuid4(), 2)
    stock.collect_events()

    stored = MAPPER.to_stored_event(Snapshot.take(stock))

    assert event_schema(Snapshot) is None
    assert not stored.state.startswith(MARKER)
    restored = MAPPER.to_domain_event(stored)
    assert isinstance(restored, Snapshot)
    assert vars(restored.mutate(None)) == vars(stock)


# Upcasting: a test-only parcel whose `Weighed` event was bumped twice. Version 1 stored grams, version 2 a
# Decimal of kilograms, version 3 added where it was weighed. Each version is a class of its own here; a stored
# event of an older version is made to name the current class, as it would after the class was changed.


class ParcelV1(Aggregate):
    class Weighed(Aggregate.Event):
        order_id: UUID
        grams: int


class ParcelV2(Aggregate):
    class Weighed(Aggregate.Event):
        class_version = 2
        order_id: UUID
        weight_kg: Decimal

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["weight_kg"] = Decimal(state.pop("grams")) / 1000


class Parcel(Aggregate):
    class Weighed(Aggregate.Event):
        class_version = 3
        order_id: UUID
        weight_kg: Decimal
        at: GeoPoint | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            ParcelV2.Weighed.upcast_v1_v2(state)

        @staticmethod
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            state["at"] = None


def as_current_class(stored: StoredEvent) -> StoredEvent:
    return dataclasses.replace(stored, topic=get_topic(Parcel.Weighed))


def weighed(cls: type[Any], **fields: Any) -> Any:
    return cls(originator_id=uuid4(), originator_version=2, timestamp=datetime.now(UTC), **fields)


@pytest.mark.parametrize("written_by", ["typed", "tagged"])
@pytest.mark.parametrize("old_class", [ParcelV1.Weighed, ParcelV2.Weighed], ids=["v1", "v2"])
def test_an_event_stored_at_an_older_class_version_is_upcast_to_the_current_class(
        written_by: str, old_class: type[Any]) -> None:
    order_id = uuid4()
    fields = {"grams": 1250} if old_class is ParcelV1.Weighed else {"weight_kg": Decimal("1.250")}
    old = weighed(old_class, order_id=order_id, **fields)
    writer = stored_event_mapper() if written_by == "typed" else legacy_mapper()

    decoded = stored_event_mapper().to_domain_event(as_current_class(writer.to_stored_event(old)))

    assert type(decoded) is Parcel.Weighed
    assert vars(decoded) == {"timestamp": old.timestamp, "order_id": order_id, "weight_kg": Decimal("1.25"),
                             "at": None, "originator_id": old.originator_id, "originator_version": 2}
    assert type(decoded.order_id) is UUID
    assert type(decoded.timestamp) is datetime


@pytest.mark.parametrize("written_by", ["typed", "tagged"])
def test_an_event_at_the_current_class_version_is_not_upcast(written_by: str) -> None:
    current = weighed(Parcel.Weighed, order_id=uuid4(), weight_kg=Decimal("0.5"), at=GeoPoint(-6.2, 106.8))
    writer = stored_event_mapper() if written_by == "typed" else legacy_mapper()

    stored = writer.to_stored_event(current)

    assert b'"class_version":3' in stored.state
    decoded = stored_event_mapper().to_domain_event(stored)
    assert_identical(decoded, current)
    assert "class_version" not in vars(decoded)


# The rolling upgrade: first every process reads both formats while still writing tagged JSON, then typed.


def test_the_first_step_of_an_upgrade_writes_tagged_json_and_reads_both() -> None:
    first_step = TaggedWritingMapper(MAPPER.transcoder)
    placed = Stock.create("ROLL-1", "Rolling", "1.00", 1).collect_events()[0]

    stored = first_step.to_stored_event(placed)

    assert not stored.state.startswith(MARKER)
    assert LEGACY_MAPPER.to_domain_event(stored) == placed  # what a process not yet upgraded reads
    assert first_step.to_domain_event(stored) == placed
    assert first_step.to_domain_event(MAPPER.to_stored_event(placed)) == placed


@pytest.mark.parametrize(("value", "typed"), [(None, True), ("typed", True), ("tagged", False), (" Tagged ", False)])
def test_the_event_format_setting_picks_the_applications_mapper(value: str | None, typed: bool,
                                                                 tmp_path: Any) -> None:
    environ = {"LOGISTICS_DATA_DIR": str(tmp_path), **({"LOGISTICS_EVENT_FORMAT": value} if value else {})}
    settings = Settings.from_env(environ, env_file=tmp_path / "absent.env")
    database = dataclasses.replace(Database.from_url("postgresql://u@db.invalid/x"),
                                   typed_events=settings.typed_events)

    assert settings.typed_events is typed
    env = database.with_dbname("other").eventsourcing_env(pool_size=1, max_overflow=1)
    assert env["MAPPER_TOPIC"] == (MAPPER_TOPIC if typed else TAGGED_WRITING_MAPPER_TOPIC)


def test_an_unknown_event_format_is_refused(tmp_path: Any) -> None:
    with pytest.raises(SettingsError, match="LOGISTICS_EVENT_FORMAT"):
        Settings.from_env({"LOGISTICS_EVENT_FORMAT": "msgpack"}, env_file=tmp_path / "absent.env")
