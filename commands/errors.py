"""What an application service answers besides domain refusals."""

from uuid import UUID


class NotFound(Exception):
    def __init__(self, kind: str, entity_id: UUID | str) -> None:
        super().__init__(f"{kind} {entity_id} not found")
        self.kind = kind
        self.entity_id = entity_id


class AlreadyExists(Exception):
    def __init__(self, kind: str, key: str, entity_id: UUID) -> None:
        super().__init__(f"{kind} {key} already exists")
        self.kind = kind
        self.key = key
        self.entity_id = entity_id


class ConcurrencyConflict(Exception):
    """The aggregate kept changing under us, more times than we retry."""


class Forbidden(Exception):
    """The actor may see the aggregate but not do this to it."""
