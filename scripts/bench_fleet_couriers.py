"""One simulated courier app of `logistics bench fleet`, on asyncio: report at H Hz, pick up, drive, deliver.

A courier reports its position every 1/H seconds as a `positions` batch with each point's `at` given, so the
frame a report causes can be told apart from every other. When a request takes longer than a period, the
points that fell due meanwhile go out together in the next one (at most `MAX_BATCH`, the newest), as a real
app's buffer would send them. A free courier roams slowly around where it is; one given a shipment picks it up
where it stands and drives to the destination, then hands it over.

A real app learns of a new job from a push notification; the bench stands in for that (see
`scripts.bench_fleet_load`) by calling `offer`, after which the courier asks the command API for its
assignment, as the app would.
"""

import asyncio
import math
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import httpx

from scripts.bench_fleet_figures import ReportLedger, rfc3339
from scripts.movement import Point, has_arrived, random_point_within, step_length_m, step_toward
from scripts.simulate import RegisteredCourier, bearer, problem_detail, problem_type

MAX_BATCH: Final = 600
ROAM_SPEED_KMH: Final = 8.0
ROAM_RADIUS_KM: Final = 0.5
RETRY_AFTER_S: Final = 2.0
_DETAIL_CHARS: Final = 100


@dataclass
class LoadTally:
    """What the couriers, customers and the platform's answers added up to (one event loop: plain numbers)."""

    offered: int = 0
    """Points that fell due: N couriers x H Hz x the run, if the bench kept up."""
    accepted: int = 0
    """Points the platform accepted (the sum of its answers' `accepted`)."""
    refused: int = 0
    dropped: int = 0
    """Points that fell due but were never sent: the oldest when more than a batch was waiting, or those still
    waiting for the courier's last request to answer when the run ended."""
    requests: int = 0
    batched_requests: int = 0
    transport_errors: int = 0
    placed: int = 0
    picked_up: int = 0
    delivered: int = 0
    received: int = 0
    refusals: Counter[str] = field(default_factory=Counter)

    def refusal(self, what: str, response: httpx.Response) -> None:
        self.refusals[f"{what} {response.status_code}: {problem_detail(response)[:_DETAIL_CHARS]}"] += 1

    def transport_error(self, what: str, error: httpx.HTTPError) -> None:
        self.transport_errors += 1
        self.refusals[f"{what}: {type(error).__name__}"] += 1


@dataclass
class Job:
    shipment_id: str
    order_id: str
    destination: Point
    trip: int
    """Index of this trip in the courier's `trips`."""


@dataclass
class _Point:
    where: Point
    at: str
    at_us: int


@dataclass
class CourierHooks:
    """What a courier tells the run about: a shipment taken on, and one handed over."""

    picked_up: Callable[["CourierDriver", Job], None]
    delivered: Callable[["CourierDriver", Job], None]


class CourierDriver:
    """One courier's app: report, pick up, drive, deliver, until the run's end."""

    def __init__(self, courier: RegisteredCourier, http: httpx.AsyncClient, hz: float, speed_kmh: float,
                 tally: LoadTally, ledger: ReportLedger, hooks: CourierHooks, rng: random.Random) -> None:
        self.courier = courier
        self.position = courier.start
        self.job: Job | None = None
        self.trips: list[tuple[float, float | None]] = []
        """(wall time the shipment was taken on, handed over or None): the courier's busy time."""
        self.carried: list[str] = []
        self._http = http
        self._period_s = 1.0 / hz
        self._step_m = step_length_m(speed_kmh, self._period_s)
        self._roam_step_m = step_length_m(min(ROAM_SPEED_KMH, speed_kmh), self._period_s)
        self._tally = tally
        self._ledger = ledger
        self._hooks = hooks
        self._rng = rng
        self._headers = bearer(courier.token)
        self._roam_to = self._roam_target()
        self._handed_over: set[str] = set()
        self._offered: str | None = None
        self._look_after = 0.0

    def offer(self, shipment_id: str) -> None:
        """The platform gave this courier `shipment_id` (the notification): look at the assignment next tick."""
        if self.job is None and shipment_id not in self._handed_over:
            self._offered = shipment_id

    async def drive(self, until: float) -> None:
        """Until the monotonic instant `until`: each period, take on a job if offered, step, report, deliver."""
        due = time.monotonic() + self._rng.uniform(0.0, self._period_s)  # spread couriers over the period
        while True:
            await _sleep_until(min(due, until))
            if time.monotonic() >= until:
                # Points that fell due while the last request was still out were offered too, never sent.
                unsent = max(0, math.ceil((until - due) / self._period_s)) if due < until else 0
                self._tally.offered += unsent
                self._tally.dropped += unsent
                return
            if self._offered is not None and self.job is None and time.monotonic() >= self._look_after:
                await self._take_job()
            wall, now = time.time(), time.monotonic()
            points: list[_Point] = []
            while due <= now and due < until:
                self._step()
                at, at_us = rfc3339(wall - (now - due))
                points.append(_Point(self.position, at, at_us))
                due += self._period_s
            if points:
                self._tally.offered += len(points)
                self._tally.dropped += max(0, len(points) - MAX_BATCH)
                await self._report(points[-MAX_BATCH:])
            if self.job is not None and has_arrived(self.position, self.job.destination):
                await self._deliver(self.job)

    def _step(self) -> None:
        if self.job is not None:
            self.position = step_toward(self.position, self.job.destination, self._step_m)
            return
        if has_arrived(self.position, self._roam_to):
            self._roam_to = self._roam_target()
        self.position = step_toward(self.position, self._roam_to, self._roam_step_m)

    def _roam_target(self) -> Point:
        return random_point_within(self.position, ROAM_RADIUS_KM, self._rng)

    async def _report(self, points: list[_Point]) -> None:
        body = {"positions": [{"lat": p.where.lat, "lng": p.where.lng, "at": p.at} for p in points]}
        sent = time.time()
        try:
            answer = await self._http.post(f"/api/couriers/{self.courier.id}/location", json=body,
                                           headers=self._headers)
        except httpx.HTTPError as error:
            self._tally.transport_error("location", error)
            return
        self._tally.requests += 1
        self._tally.batched_requests += len(points) > 1
        if answer.status_code != 202:
            self._tally.refused += len(points)
            self._tally.refusal("location", answer)
            return
        self._tally.accepted += int(answer.json().get("accepted", 0))
        for point in points:
            self._ledger.accepted(self.courier.id, point.at_us, sent)

    async def _take_job(self) -> None:
        offered, self._offered = self._offered, None
        try:
            answer = await self._http.get(f"/api/couriers/{self.courier.id}/assignment", headers=self._headers)
        except httpx.HTTPError as error:
            self._tally.transport_error("assignment", error)
            return self._look_again(offered)
        if answer.status_code != 200:
            self._tally.refusal("assignment", answer)
            return self._look_again(offered)
        assignment: dict[str, Any] = answer.json()
        shipment_id, destination = assignment.get("shipment_id"), assignment.get("destination")
        status = assignment.get("shipment_status")
        if (shipment_id is None or destination is None or shipment_id in self._handed_over
                or status not in ("ASSIGNED", "IN_TRANSIT")):
            return None
        taken_on = time.time()
        if status == "ASSIGNED" and not await self._pick_up(shipment_id):
            return self._look_again(offered)
        self.job = Job(shipment_id, str(assignment["order_id"]),
                       Point(float(destination["lat"]), float(destination["lng"])), len(self.trips))
        self.trips.append((taken_on, None))
        self.carried.append(shipment_id)
        self._hooks.picked_up(self, self.job)
        return None

    def _look_again(self, offered: str | None) -> None:
        # Not at once: a refusal that does not go away would otherwise cost a request every tick.
        self._offered = self._offered or offered
        self._look_after = time.monotonic() + RETRY_AFTER_S

    async def _pick_up(self, shipment_id: str) -> bool:
        try:
            answer = await self._http.post(f"/api/shipments/{shipment_id}/picked-up", headers=self._headers,
                                           json={"lat": self.position.lat, "lng": self.position.lng})
        except httpx.HTTPError as error:
            self._tally.transport_error("picked-up", error)
            return False
        if answer.status_code == 202:
            self._tally.picked_up += 1
            return True
        self._tally.refusal("picked-up", answer)
        return False

    async def _deliver(self, job: Job) -> None:
        try:
            answer = await self._http.post(f"/api/shipments/{job.shipment_id}/delivered", headers=self._headers)
        except httpx.HTTPError as error:
            self._tally.transport_error("delivered", error)
            return
        if answer.status_code == 202:
            self._tally.delivered += 1
        elif answer.status_code == 409 and not problem_type(answer).endswith("/concurrency-conflict"):
            self._tally.refusal("delivered", answer)  # delivered already, or cancelled: nothing to hand over
        else:
            self._tally.refusal("delivered", answer)
            return  # tried again on the next tick
        self._handed_over.add(job.shipment_id)
        self.trips[job.trip] = (self.trips[job.trip][0], time.time())
        self.job = None
        self._hooks.delivered(self, job)


async def _sleep_until(instant: float) -> None:
    await asyncio.sleep(max(0.0, instant - time.monotonic()))
