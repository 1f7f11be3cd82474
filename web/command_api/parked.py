"""Parked events, for operators: ask for a retry (the follower processes it again) or skip it for good."""

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from litestar.security.jwt import Token

from adapters.parked_events import NotParked, ParkedEvents, UnknownParkedEvent
from commands.errors import NotFound
from domain.errors import InvalidTransition
from domain.identity import Actor, Role
from queries.parked import ParkedEvent
from web.auth import requires
from web.command_api.schemas import Command
from web.strict_input import SOME_TEXT


class SkipParkedEvent(Command, frozen=True):
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=500, pattern=SOME_TEXT,
                                        description="why it is never to be processed; kept for the audit")]


class ParkedEventAccepted(msgspec.Struct, frozen=True):
    id: int
    status: Annotated[str, msgspec.Meta(examples=["retry", "skipped"])]
    follower: str


def operator_of(request: Request[Actor, Token, Any]) -> str:
    return f"{request.user.role.value}:{request.user.subject}"


def accepted(act: Any, parked_id: int) -> ParkedEventAccepted:
    try:
        row: ParkedEvent = act()
    except UnknownParkedEvent:
        raise NotFound("parked event", str(parked_id)) from None
    except NotParked as error:
        raise InvalidTransition(str(error)) from None
    return ParkedEventAccepted(id=row.id, status=row.status.value, follower=row.follower)


class ParkedCommands(Controller):
    path = "/api/ops/parked"
    tags = ["parked events"]
    guards = [requires(Role.ADMIN)]

    @post("/{parked_id:int}/retry", status_code=202, operation_id="RetryParkedEvent", sync_to_thread=True,
          summary="Ask the follower to process a parked event again, then what was held behind it")
    def retry(self, request: Request[Actor, Token, Any], parked_id: FromPath[int],
              parked: NamedDependency[ParkedEvents]) -> ParkedEventAccepted:
        return accepted(lambda: parked.retry(parked_id, operator_of(request)), parked_id)

    @post("/{parked_id:int}/skip", status_code=202, operation_id="SkipParkedEvent", sync_to_thread=True,
          summary="Never process a parked event (audited); what was held behind it goes on")
    def skip(self, request: Request[Actor, Token, Any], parked_id: FromPath[int], data: JSONBody[SkipParkedEvent],
             parked: NamedDependency[ParkedEvents]) -> ParkedEventAccepted:
        return accepted(lambda: parked.skip(parked_id, operator_of(request), data.reason), parked_id)
