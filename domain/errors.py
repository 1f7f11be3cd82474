"""What the domain refuses, as exceptions the outer layers map to answers."""


class DomainError(Exception):
    """A command the domain refuses; the aggregate is left unchanged."""


class InvalidValue(DomainError):
    """A value that can never be valid, named by the field it came in."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class InvalidTransition(DomainError):
    """A command that is valid in general but not in the aggregate's present state."""


class ProductDiscontinued(InvalidTransition):
    pass


class InsufficientStock(InvalidTransition):
    pass


class PaymentAlreadyCaptured(InvalidTransition):
    pass
