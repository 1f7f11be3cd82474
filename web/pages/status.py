"""Where the projections and the saga stand, for the operators' status page, read through read-only sessions only.

`platform_status` connects through the `Database` it is given; here that is one whose every session refuses
writes, so this page cannot change anything whatever the status code does.
"""

import dataclasses

import psycopg
from psycopg.rows import TupleRow

from adapters.database import Database
from adapters.platform_status import platform_status
from queries.platform_status import PlatformStatus


@dataclasses.dataclass(frozen=True)
class _ReadOnlyDatabase(Database):
    def connect(self, *, read_only: bool = True) -> psycopg.Connection[TupleRow]:
        return super().connect(read_only=True)


class ProjectionStatus:
    def __init__(self, database: Database) -> None:
        self._database = _ReadOnlyDatabase(**{field.name: getattr(database, field.name)
                                              for field in dataclasses.fields(database)})

    def get(self) -> PlatformStatus:
        return platform_status(self._database)
