"""The demo's customers confirming receipt of what was delivered: each order is tried again, ever more slowly,
until its receipt is confirmed or it turns out cancelled, and never dropped (its courier waits for it)."""

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Final, Protocol

import httpx

from scripts.simulate import HTTP_TIMEOUT_S, Counter, problem_detail

log = logging.getLogger(__name__)

RECEIPT_FIRST_TRY_S: Final = 2.0
RECEIPT_MAX_INTERVAL_S: Final = 5.0
RECEIPT_SLOW_INTERVAL_S: Final = 30.0
"""How often an order past `receipt_patience_s` is still checked: it is never dropped, since its courier stays busy
until its receipt is confirmed, and a dropped one would keep a courier away from every later order."""


class ReceiptCounters(Protocol):
    received: Counter
    cancelled: Counter
    errors: Counter


@dataclass
class AwaitingReceipt:
    order_id: str
    headers: dict[str, str]
    placed_at: float
    next_try: float
    tries: int = 0


class ReceiptConfirmer:
    """Every customer, checking their doorstep: confirms each order once delivered, drops it once cancelled."""

    def __init__(self, api_url: str, stats: ReceiptCounters, patience_s: float) -> None:
        self.api_url = api_url
        self.stats = stats
        self.patience_s = patience_s
        self._waiting: list[AwaitingReceipt] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="receipts", daemon=True)

    def expect(self, order_id: str, headers: dict[str, str]) -> None:
        now = time.monotonic()
        with self._lock:
            self._waiting.append(AwaitingReceipt(order_id, headers, now, now + RECEIPT_FIRST_TRY_S))

    @property
    def waiting(self) -> int:
        with self._lock:
            return len(self._waiting)

    def overdue(self, now: float | None = None) -> int:
        """Orders placed longer ago than the patience and still not delivered (nor cancelled)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            return sum(1 for order in self._waiting if now - order.placed_at > self.patience_s)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=15)

    def _run(self) -> None:
        with httpx.Client(base_url=self.api_url, timeout=HTTP_TIMEOUT_S) as http:
            while not self._stop.wait(0.5):
                now = time.monotonic()
                with self._lock:
                    due = [order for order in self._waiting if order.next_try <= now]
                for order in due:
                    if self._stop.is_set():
                        return
                    if self._settled(http, order):
                        with self._lock:
                            self._waiting.remove(order)

    def _settled(self, http: httpx.Client, order: AwaitingReceipt) -> bool:
        """Try to confirm one order's receipt; whether it needs no more tries."""
        now = time.monotonic()
        order.tries += 1
        # Backing off keeps a long queue of undelivered orders from flooding the API with doomed requests; the
        # cap is short because the courier stays busy until we confirm. A very late order (another program's
        # slow couriers, say) is still confirmed once it arrives, only checked less often.
        interval = RECEIPT_SLOW_INTERVAL_S if now - order.placed_at > self.patience_s else RECEIPT_MAX_INTERVAL_S
        order.next_try = now + min(RECEIPT_FIRST_TRY_S * 1.5 ** order.tries, interval)
        try:
            answer = http.post(f"/api/orders/{order.order_id}/receipt", headers=order.headers)
        except httpx.HTTPError as error:
            self.stats.errors.add()
            log.warning("receipt of %s: %s", order.order_id, error)
            return False
        if answer.status_code == 202:
            self.stats.received.add()
            return True
        if answer.status_code == 409:
            if "CANCELLED" in problem_detail(answer):
                self.stats.cancelled.add()
                return True
            return False  # not delivered yet
        self.stats.errors.add()
        log.warning("receipt of %s: %s %s", order.order_id, answer.status_code, problem_detail(answer))
        return answer.status_code < 500 and answer.status_code not in (401, 429)


@contextmanager
def confirming_receipts(api_url: str, stats: ReceiptCounters, patience_s: float) -> Iterator[ReceiptConfirmer]:
    confirmer = ReceiptConfirmer(api_url, stats, patience_s)
    confirmer.start()
    try:
        yield confirmer
    finally:
        confirmer.stop()
