"""Projection and saga positions for the operators' status page, read through read-only sessions only.

`platform_status` connects through the `Database` it is given; here that is one whose every session refuses
writes, so this page cannot change anything whatever the status code does.
"""

import dataclasses
from typing import TYPE_CHECKING

import psycopg
from psycopg.rows import TupleRow

from adapters.database import Database

if TYPE_CHECKING:
    from adapters.positions import PlatformStatus


@dataclasses.dataclass(frozen=True)
class _ReadOnlyDatabase(Database):
    def connect(self, *, read_only: bool = True) -> psycopg.Connection[TupleRow]:
        return super().connect(read_only=True)


class ProjectionStatus:
    def __init__(self, database: Database) -> None:
        self._database = _ReadOnlyDatabase(**{field.name: getattr(database, field.name)
                                              for field in dataclasses.fields(database)})

    def get(self) -> "PlatformStatus":
        # The positions module knows the saga's policies, i.e. the write side: load it only when asked, so the
        # query side does not import the command side's applications at start.
        from adapters.positions import platform_status

        return platform_status(self._database)
