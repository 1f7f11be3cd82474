"""What a read answers when there is nothing to show: the read side's own not-found."""

from uuid import UUID


class NotFound(Exception):
    """No read model holds what was asked for (or the caller may not know that it exists)."""

    def __init__(self, kind: str, entity_id: UUID | str) -> None:
        super().__init__(f"{kind} {entity_id} not found")
        self.kind = kind
        self.entity_id = entity_id
