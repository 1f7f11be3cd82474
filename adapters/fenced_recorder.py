"""The saga steps' process recorder: a batch's events, every partition's tracking and the lease fence, at once.

The library's process recorder records one tracking row with the events; a batch of a partitioned follower
covers several partitions (`trackings`), and must only commit while its process still holds their leases
(`fence`, checked in the same transaction: see `adapters.follower_leases`), and records what the batch parks
or resolves among the parked events (`parking`, see `adapters.parked_events`) in that transaction too.
"""

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent, Tracking
from eventsourcing.postgres import PostgresProcessRecorder
from psycopg import Cursor
from psycopg.rows import DictRow

from adapters.follower_leases import Fence, hold_leases
from adapters.parked_events import ParkingChanges, apply_parking


class FencedProcessRecorder(PostgresProcessRecorder):
    records_trackings = True
    """Records `trackings` besides the library's single `tracking` (see `SagaStep.process_batch`)."""

    def _insert_events(self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any) -> None:
        fence: Fence | None = kwargs.get("fence")
        if fence is not None:
            hold_leases(curs, fence)
        trackings: Sequence[Tracking] = kwargs.get("trackings", ())
        for tracking in trackings:
            self._insert_tracking(curs, tracking)
        parking: ParkingChanges | None = kwargs.get("parking")
        if parking:
            apply_parking(curs, parking)
        super()._insert_events(curs, stored_events, **kwargs)
