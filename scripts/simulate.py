"""`logistics simulate couriers`: couriers that drive the platform as their apps would, over the command API.

Each courier is registered by an operator (an admin token), then acts with its own token only: it asks for its
assignment, picks the goods up where it is (after a short pick-up time, posting its position meanwhile), drives
towards the destination posting its position every tick, and reports the delivery. It stays busy until the
customer confirms receipt; the platform then frees it and may hand it the next shipment.
Nothing here reads the database or imports the write side: what a real courier app cannot do, this cannot.
"""

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final, NoReturn

import httpx

from scripts.movement import JAKARTA, Point, has_arrived, random_point_within, step_length_m, step_toward

log = logging.getLogger(__name__)

HTTP_TIMEOUT_S: Final = 10.0
REGISTRATION_ATTEMPTS: Final = 5
PICKUP_S: Final = 3.0
"""How long a courier takes to pick the goods up once it is assigned a shipment."""
ASSIGNED: Final = "ASSIGNED"
"""The assignment's shipment status while the courier has not picked the goods up."""


# Talking to the API.

def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def problem_detail(response: httpx.Response) -> str:
    """The `detail` of a problem+json answer, or the body as text when it is something else."""
    try:
        body = response.json()
    except ValueError:
        return response.text
    return str(body.get("detail", body)) if isinstance(body, dict) else str(body)


def problem_type(response: httpx.Response) -> str:
    """The `type` URI of a problem+json answer ("" for anything else): what kind of refusal it is."""
    try:
        body = response.json()
    except ValueError:
        return ""
    return str(body.get("type", "")) if isinstance(body, dict) else ""


class RequestFailed(Exception):
    """The API answered, but not as hoped."""


class Counter:
    """A number several threads add to."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value = 0

    def add(self, amount: int = 1) -> None:
        with self._lock:
            self._value += amount

    @property
    def value(self) -> int:
        with self._lock:
            return self._value


@dataclass
class SimulationStats:
    pickups: Counter = field(default_factory=Counter)
    deliveries: Counter = field(default_factory=Counter)
    positions: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)


class Complaints:
    """Logs a failure when it is new and then every so often: an outage must not flood the log, tick by tick."""

    def __init__(self, who: str, every_s: float = 10.0) -> None:
        self.who = who
        self.every_s = every_s
        self.in_a_row = 0
        self._last: str | None = None
        self._logged_at = 0.0

    def failed(self, message: str, *, exc_info: bool = False) -> None:
        self.in_a_row += 1
        now = time.monotonic()
        if message != self._last or now - self._logged_at >= self.every_s:
            repeated = f" ({self.in_a_row} failures in a row)" if self.in_a_row > 1 else ""
            log.warning("%s: %s%s; trying again", self.who, message, repeated, exc_info=exc_info)
            self._last, self._logged_at = message, now

    def succeeded(self) -> None:
        if self.in_a_row:
            log.info("%s: working again after %d failures", self.who, self.in_a_row)
        self.in_a_row, self._last = 0, None


@dataclass(frozen=True)
class RegisteredCourier:
    id: str
    name: str
    token: str
    start: Point


class CourierDriver:
    """One courier's app: each tick it looks at its assignment and picks up, drives, delivers or waits."""

    def __init__(self, http: httpx.Client, courier: RegisteredCourier, speed_kmh: float, tick_s: float,
                 stats: SimulationStats | None = None, pickup_s: float = PICKUP_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.http = http
        self.courier = courier
        self.position = courier.start
        self.step_m = step_length_m(speed_kmh, tick_s)
        self.stats = stats or SimulationStats()
        self.pickup_s = pickup_s
        self.clock = clock
        # The assignment does not say whether its shipment was delivered yet: the courier stays busy with it
        # until the customer confirms receipt. So the app remembers what it has handed over already.
        self.handed_over: set[str] = set()
        self.assigned_at: dict[str, float] = {}
        """Shipment -> when this app first saw it assigned, for the pick-up time."""
        self.complaints = Complaints(courier.name)
        self._headers = bearer(courier.token)

    def tick(self) -> None:
        """One look at the assignment and one step of work; raises when the API fails us."""
        answer = self.http.get(f"/api/couriers/{self.courier.id}/assignment", headers=self._headers)
        if answer.status_code != 200:
            self._failed("assignment", answer)
        assignment: dict[str, Any] = answer.json()
        shipment_id = assignment.get("shipment_id")
        destination = assignment.get("destination")
        if shipment_id is None or destination is None or shipment_id in self.handed_over:
            return  # idle, or waiting for the customer to confirm receipt
        if assignment.get("shipment_status") == ASSIGNED:
            self._pick_up_when_ready(str(shipment_id))
            return
        target = Point(float(destination["lat"]), float(destination["lng"]))
        if has_arrived(self.position, target):
            self._deliver(shipment_id)
            self.handed_over_to_customer(assignment)
            return
        self.position = step_toward(self.position, target, self.step_m)
        self._report_position()

    def handed_over_to_customer(self, assignment: dict[str, Any]) -> None:
        """Called once per shipment handed over (or found delivered or cancelled already): for apps that
        tell someone."""

    def _pick_up_when_ready(self, shipment_id: str) -> None:
        """The pick-up takes `pickup_s` from the moment the app sees the assignment; meanwhile the courier
        stays where it is and says so, as a courier's app keeps reporting."""
        seen_at = self.assigned_at.setdefault(shipment_id, self.clock())
        if self.clock() - seen_at < self.pickup_s:
            self._report_position()
            return
        answer = self.http.post(f"/api/shipments/{shipment_id}/picked-up", headers=self._headers,
                                json={"lat": self.position.lat, "lng": self.position.lng})
        if answer.status_code == 202:
            self.stats.pickups.add()
            log.info("%s picked up shipment %s", self.courier.name, shipment_id)
        elif answer.status_code == 409 and not problem_type(answer).endswith("/concurrency-conflict"):
            # Picked up already (an earlier answer was lost), or cancelled or handed to another courier
            # meanwhile: the next look at the assignment says which.
            log.info("%s: shipment %s cannot be picked up: %s", self.courier.name, shipment_id,
                     problem_detail(answer))
        elif answer.status_code == 404:
            log.info("%s: shipment %s is no longer ours", self.courier.name, shipment_id)
        else:
            self._failed("picked-up", answer)
        self.assigned_at.pop(shipment_id, None)

    def _report_position(self) -> None:
        moved = self.http.post(f"/api/couriers/{self.courier.id}/location", headers=self._headers,
                               json={"lat": self.position.lat, "lng": self.position.lng})
        if moved.status_code == 202:
            self.stats.positions.add()
        else:
            self._failed("location", moved)

    def _deliver(self, shipment_id: str) -> None:
        """Hand the goods over; a failure raises, for the next tick to try again."""
        answer = self.http.post(f"/api/shipments/{shipment_id}/delivered", headers=self._headers)
        if answer.status_code == 202:
            self.stats.deliveries.add()
            log.info("%s delivered shipment %s", self.courier.name, shipment_id)
        elif answer.status_code == 409 and not problem_type(answer).endswith("/concurrency-conflict"):
            # Delivered already (our earlier attempt got through but its answer was lost) or cancelled
            # meanwhile: either way there is nothing left to hand over.
            log.info("%s: shipment %s cannot be delivered: %s", self.courier.name, shipment_id,
                     problem_detail(answer))
        else:
            self._failed("delivered", answer)
        self.handed_over.add(shipment_id)

    def _failed(self, what: str, response: httpx.Response) -> NoReturn:
        # Raised rather than logged here, so that every kind of failure ends the tick the same way in `run`.
        raise RequestFailed(f"{what} answered {response.status_code}: {problem_detail(response)}")

    def run(self, stop: threading.Event, tick_s: float) -> None:
        """Tick until stopped; a failing request is logged and tried again on the next tick."""
        while not stop.is_set():
            started = time.monotonic()
            try:
                self.tick()
            except (httpx.HTTPError, RequestFailed) as error:
                self.stats.errors.add()
                self.complaints.failed(f"{type(error).__name__}: {error}")
            except Exception as error:
                # A courier must not take the whole simulation down, whatever the server sends back.
                self.stats.errors.add()
                self.complaints.failed(f"unexpected {type(error).__name__}: {error}", exc_info=True)
            else:
                self.complaints.succeeded()
            stop.wait(max(0.0, tick_s - (time.monotonic() - started)))


@dataclass(frozen=True)
class SimulationConfig:
    api_url: str
    admin_token: str
    count: int = 10
    centre: Point = JAKARTA
    radius_km: float = 5.0
    speed_kmh: float = 30.0
    tick_s: float = 1.0
    name_prefix: str = "Sim courier"
    pickup_s: float = PICKUP_S
    """How long a courier takes to pick the goods up once assigned (0: at the first tick that sees it)."""

    def __post_init__(self) -> None:
        if self.count < 0 or self.radius_km < 0 or self.pickup_s < 0 or self.speed_kmh <= 0 or self.tick_s <= 0:
            raise ValueError("count, radius and pick-up time must not be negative; speed and tick must be "
                             "positive")


def register_courier(http: httpx.Client, admin_token: str, name: str, start: Point,
                     attempts: int = REGISTRATION_ATTEMPTS, pause_s: float = 1.0) -> RegisteredCourier:
    """Enrol one courier as an operator would; transient failures are retried a few times."""
    for attempt in range(1, attempts + 1):
        try:
            answer = http.post("/api/couriers", headers=bearer(admin_token),
                               json={"name": name, "lat": start.lat, "lng": start.lng})
        except httpx.TransportError as error:
            if attempt == attempts:
                raise
            log.warning("registering %s: %s; trying again", name, error)
        else:
            if answer.status_code == 201:
                body = answer.json()
                return RegisteredCourier(id=str(body["id"]), name=name, token=str(body["token"]), start=start)
            if answer.status_code < 500 and answer.status_code != 409:
                # A refusal (bad token, wrong role, invalid field) will not change by asking again.
                raise RuntimeError(f"registering {name}: {answer.status_code} {problem_detail(answer)}")
            if attempt == attempts:
                raise RuntimeError(f"registering {name}: {answer.status_code} {problem_detail(answer)}")
            log.warning("registering %s: %s; trying again", name, answer.status_code)
        time.sleep(pause_s * attempt)
    raise AssertionError("unreachable")


class CourierSimulation:
    """N couriers, one thread each, driving the platform over HTTP until stopped."""

    def __init__(self, config: SimulationConfig, rng: random.Random | None = None,
                 client_factory: Callable[[], httpx.Client] | None = None) -> None:
        self.config = config
        self.rng = rng or random.Random()
        self.stats = SimulationStats()
        self.couriers: list[RegisteredCourier] = []
        self._client_factory = client_factory or (
            lambda: httpx.Client(base_url=config.api_url, timeout=HTTP_TIMEOUT_S))
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        with self._client_factory() as http:
            for index in range(1, self.config.count + 1):
                start = random_point_within(self.config.centre, self.config.radius_km, self.rng)
                courier = register_courier(http, self.config.admin_token, f"{self.config.name_prefix} {index}",
                                           start)
                self.couriers.append(courier)
                log.info("registered %s (%s) at %.5f,%.5f", courier.name, courier.id, start.lat, start.lng)
        for courier in self.couriers:
            thread = threading.Thread(target=self._drive, args=(courier,), name=f"courier-{courier.id[:8]}",
                                      daemon=True)
            thread.start()
            self._threads.append(thread)

    def _drive(self, courier: RegisteredCourier) -> None:
        # One client per courier: each app has its own connection, and no pool is shared across threads.
        with self._client_factory() as http:
            CourierDriver(http, courier, self.config.speed_kmh, self.config.tick_s, self.stats,
                          self.config.pickup_s).run(self._stop, self.config.tick_s)

    def stop(self, timeout_s: float = 15.0) -> None:
        self._stop.set()
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    @property
    def running(self) -> bool:
        return any(thread.is_alive() for thread in self._threads)


@contextmanager
def courier_simulation(config: SimulationConfig, rng: random.Random | None = None) -> Iterator[CourierSimulation]:
    simulation = CourierSimulation(config, rng)
    try:
        simulation.start()
        yield simulation
    finally:
        simulation.stop()


def run_couriers(config: SimulationConfig, duration_s: float | None = None) -> None:
    """`logistics simulate couriers`: run until `duration_s` has passed, or until Ctrl-C."""
    with courier_simulation(config) as simulation:
        log.info("%d couriers driving at %.0f km/h against %s", len(simulation.couriers), config.speed_kmh,
                 config.api_url)
        try:
            wait_for(duration_s)
        except KeyboardInterrupt:
            log.info("stopping the couriers")
        stats = simulation.stats
    log.info("pick-ups %d, deliveries %d, positions posted %d, errors %d", stats.pickups.value,
             stats.deliveries.value, stats.positions.value, stats.errors.value)


def quiet_http_logs() -> None:
    """httpx logs every request at INFO: a line per courier per tick would bury everything else."""
    logging.getLogger("httpx").setLevel(logging.WARNING)


def wait_for(duration_s: float | None, check_s: float = 1.0) -> None:
    """Sleep for `duration_s`, or for ever; in short naps, so that Ctrl-C is felt promptly."""
    deadline = None if duration_s is None else time.monotonic() + duration_s
    while deadline is None or (remaining := deadline - time.monotonic()) > 0:
        time.sleep(check_s if deadline is None else min(check_s, remaining))
