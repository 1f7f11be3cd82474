"""How domain events are stored: typed JSON through msgspec for new events, the library's tagged JSON still read.

The library's `JSONTranscoder` tags every UUID, Decimal, datetime and value object as
`{"_type_": ..., "_data_": ...}` and rebuilds it in a Python hook per JSON object, which makes decoding the
costliest step of following a stream. Our event classes are annotated frozen dataclasses, so the types need
not be stored: `MsgspecMapper` writes an event's fields as plain JSON values, led by a marker,

    {"_codec_":"msgspec/1","class_version":1,"timestamp":"2025-01-31T12:00:00.123456Z","order_id":"…",…}

and decodes it with a msgspec decoder made once per event class from the class's annotations.

Reading picks the format by the marker, never by trying: a state that starts with the marker is ours, any
other is the library's tagged JSON (every event stored before this mapper, and every snapshot) and goes
through the application's `JSONTranscoder` exactly as the library's own `Mapper` would.

- **Upcasting** works in both formats. A tagged event is upcast as the library does, on its decoded values. A
  typed event written at an older `class_version` is decoded as plain JSON (ids, amounts and times still
  text), upcast by the class's `upcast_vN_vN+1` methods, and then converted to the current class's types.
- **Snapshots** keep the tagged JSON: a snapshot's state is an untyped dict of the aggregate's attributes,
  and no annotation says which string was a UUID or a Decimal.
- **A class msgspec cannot type exactly** (an `Any`, an abstract `Sequence`, an ambiguous union, an
  annotation that does not resolve) stays on tagged JSON too, so a new event type never loses a type.
"""

import dataclasses
import enum
import logging
import types
import typing
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Final, NotRequired, TypedDict
from uuid import UUID

import msgspec
from eventsourcing.domain import CanSnapshotAggregate, DomainEventProtocol
from eventsourcing.persistence import (
    Cipher,
    Compressor,
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    Mapper,
    MapperDeserialisationError,
    StoredEvent,
    Transcoder,
    UUIDAsHex,
    find_id_convertor,
)
from eventsourcing.utils import get_topic, resolve_topic

from domain.transcodings import register_value_objects

log = logging.getLogger(__name__)

MARKER_KEY: Final = "_codec_"
FORMAT: Final = "msgspec/1"
MARKER: Final = b'{"' + MARKER_KEY.encode() + b'":"' + FORMAT.encode() + b'"'
"""How every typed state begins; a tagged state begins with `{"` and an event attribute's name instead."""
CLASS_VERSION_KEY: Final = "class_version"
"""The library's own name for it; a typed state always carries it, so its prefix is fixed per class."""

# Set from the stored event's row, never from its state (as in the library's Mapper).
_ROW_FIELDS: Final = frozenset({"originator_id", "originator_version"})
_SCALARS: Final = frozenset({str, int, float, bool, type(None), UUID, Decimal, datetime, date})
_KEY_TYPES: Final = frozenset({str, int, UUID})
_SCHEMAS: dict[type, "EventSchema | None"] = {}
_typed_dict: Any = TypedDict  # called with a computed name, which the type checker refuses for TypedDict itself


@dataclasses.dataclass(frozen=True)
class EventSchema:
    """What the mapper knows of one event class that it stores as typed JSON."""

    class_version: int
    prefix: bytes
    """A state at the class's current version starts with exactly these bytes."""
    state_type: Any
    """A TypedDict of the stored fields, for converting upcast states."""
    decoder: msgspec.json.Decoder[dict[str, Any]]


class MsgspecMapper(Mapper[UUID]):
    """Writes events as typed JSON; reads typed and tagged JSON alike. Snapshots stay tagged.

    `transcoder` is the application's JSONTranscoder with every transcoding registered (the library registers
    ours through `register_transcodings` because it is a JSONTranscoder): it writes snapshots and reads
    whatever was stored before.
    """

    def __init__(self, transcoder: Transcoder, compressor: Compressor | None = None,
                 cipher: Cipher | None = None) -> None:
        super().__init__(transcoder, compressor=compressor, cipher=cipher)
        self._encoder = msgspec.json.Encoder()
        self._plain_decoder: msgspec.json.Decoder[dict[str, Any]] = msgspec.json.Decoder(dict[str, Any])

    @staticmethod
    def schema(cls: type) -> EventSchema | None:
        """How `cls` is stored as typed JSON, or None when it stays on tagged JSON."""
        try:
            return _SCHEMAS[cls]
        except KeyError:
            # Made once per class and process: every application's mapper shares them. Two threads may both
            # make one; either result is the same.
            schema = _SCHEMAS[cls] = event_schema(cls)
            return schema

    def to_stored_event(self, domain_event: DomainEventProtocol[UUID]) -> StoredEvent:
        cls = type(domain_event)
        schema = self.schema(cls)
        if schema is None:
            return super().to_stored_event(domain_event)
        state = {MARKER_KEY: FORMAT, CLASS_VERSION_KEY: schema.class_version, **vars(domain_event)}
        originator_id = state.pop("originator_id")
        originator_version = state.pop("originator_version")
        stored_state = self._encoder.encode(state)
        if self.compressor:
            stored_state = self.compressor.compress(stored_state)
        if self.cipher:
            stored_state = self.cipher.encrypt(stored_state)
        return StoredEvent(originator_id=originator_id, originator_version=originator_version,
                           topic=get_topic(cls), state=stored_state)

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[UUID]:
        cls = resolve_topic(stored_event.topic)
        try:
            stored_state = stored_event.state
            if self.cipher:
                stored_state = self.cipher.decrypt(stored_state)
            if self.compressor:
                stored_state = self.compressor.decompress(stored_state)
            schema = self.schema(cls)
            if schema is not None and stored_state.startswith(schema.prefix):
                # Typed at the class's current version: the one decoder call is all (the common case).
                event_state = schema.decoder.decode(stored_state)
            elif stored_state.startswith(MARKER):
                # Typed at another version: upcast the plain values, then give them the current types.
                event_state = self._plain_decoder.decode(stored_state)
                del event_state[MARKER_KEY]
                upcast_state(cls, event_state)
                if schema is not None:
                    event_state = msgspec.convert(event_state, schema.state_type)
            else:
                event_state = self.transcoder.decode(stored_state)
                upcast_state(cls, event_state)
        except Exception as error:  # decoding or upcasting, whatever failed: say which event it was
            raise MapperDeserialisationError(
                f"Failed to deserialise state of stored event with topic '{stored_event.topic}', originator_id "
                f"'{stored_event.originator_id}' and originator_version {stored_event.originator_version}: {error}"
            ) from error
        id_type: Any = type(stored_event.originator_id)
        event_state["originator_id"] = find_id_convertor(cls, id_type)(stored_event.originator_id)
        event_state["originator_version"] = stored_event.originator_version
        # As the library's Mapper builds an event: without running its __init__ (nor its validation) again.
        domain_event: DomainEventProtocol[UUID] = object.__new__(cls)
        object.__setattr__(domain_event, "__dict__", event_state)
        return domain_event


def upcast_state(cls: type, state: dict[str, Any]) -> None:
    """The library's upcasting: `upcast_vN_vN+1` from the stored `class_version` (1 when absent) on."""
    class_version = getattr(cls, "class_version", 1)
    from_version = state.pop(CLASS_VERSION_KEY, 1)
    while from_version < class_version:
        getattr(cls, f"upcast_v{from_version}_v{from_version + 1}")(state)
        from_version += 1


def event_schema(cls: type) -> EventSchema | None:
    """A typed schema for an event class, or None when its events must stay on tagged JSON."""
    if not dataclasses.is_dataclass(cls) or issubclass(cls, CanSnapshotAggregate):
        return None
    try:
        hints = typing.get_type_hints(cls)
    except Exception as error:  # an annotation that does not resolve: any error says the same
        log.warning("%s stays on tagged JSON: its annotations do not resolve (%s)", get_topic(cls), error)
        return None
    fields: dict[str, Any] = {}
    for field in dataclasses.fields(cls):
        if field.name in _ROW_FIELDS:
            continue
        hint = hints.get(field.name)
        if field.name in (MARKER_KEY, CLASS_VERSION_KEY) or not exactly_typed(hint):
            log.warning("%s stays on tagged JSON: field %r (%s) has no exact typed form", get_topic(cls),
                        field.name, hint)
            return None
        has_default = field.default is not dataclasses.MISSING or field.default_factory is not dataclasses.MISSING
        # A field with a default may be missing from an old state, as the library tolerates.
        fields[field.name] = NotRequired[hint] if has_default else hint
    state_type = _typed_dict(f"{cls.__qualname__}.StoredState", fields)
    try:
        decoder: msgspec.json.Decoder[dict[str, Any]] = msgspec.json.Decoder(state_type)
    except TypeError as error:  # e.g. a union of two types that are both JSON strings
        log.warning("%s stays on tagged JSON: %s", get_topic(cls), error)
        return None
    class_version = int(getattr(cls, "class_version", 1))
    prefix = MARKER + b',"' + CLASS_VERSION_KEY.encode() + b'":' + str(class_version).encode() + b","
    return EventSchema(class_version, prefix, state_type, decoder)


def exactly_typed(hint: Any, seen: frozenset[type] = frozenset()) -> bool:
    """Whether msgspec decodes every value of this annotation back to an equal value of the same type."""
    if hint in _SCALARS:
        return True
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return all(type(member.value) in (str, int) for member in hint)
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        if hint in seen:
            return False
        try:
            hints = typing.get_type_hints(hint)
        except Exception:  # an annotation that does not resolve
            return False
        return all(field.init and exactly_typed(hints.get(field.name), seen | {hint})
                   for field in dataclasses.fields(hint))
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        return all(exactly_typed(arg, seen) for arg in args)
    if origin in (list, set, frozenset):
        return len(args) == 1 and exactly_typed(args[0], seen)
    if origin is tuple:
        items = args[:1] if len(args) == 2 and args[1] is Ellipsis else args
        return bool(items) and all(exactly_typed(arg, seen) for arg in items)
    if origin is dict:
        return len(args) == 2 and args[0] in _KEY_TYPES and exactly_typed(args[1], seen)
    if origin is typing.Literal:
        return all(type(arg) in (str, int) for arg in args)
    return False


def stored_event_mapper() -> MsgspecMapper:
    """The mapper an application of ours builds, for code that reads stored events without an application."""
    transcoder = JSONTranscoder()
    # What every eventsourcing application registers, then our value objects: the writers' exact transcodings.
    transcoder.register(UUIDAsHex())
    transcoder.register(DecimalAsStr())
    transcoder.register(DatetimeAsISO())
    register_value_objects(transcoder)
    return MsgspecMapper(transcoder=transcoder)


class TaggedWritingMapper(MsgspecMapper):
    """Reads both formats and writes the library's tagged JSON, which processes not yet upgraded can read.

    For the first step of a rolling upgrade: once every process reads typed JSON, switch to `MsgspecMapper`.
    """

    def to_stored_event(self, domain_event: DomainEventProtocol[UUID]) -> StoredEvent:
        return Mapper.to_stored_event(self, domain_event)


MAPPER_TOPIC: Final = get_topic(MsgspecMapper)
"""What `MAPPER_TOPIC` names in our applications' environment."""
TAGGED_WRITING_MAPPER_TOPIC: Final = get_topic(TaggedWritingMapper)
