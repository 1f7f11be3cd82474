"""Waiting for something that happens in the background: the one poll-with-a-deadline every test uses.

A test waits for a positive fact (an order reached a status, a follower reached the head, a line was logged),
never for a fixed time. The deadline only ends a hung test; on it the test fails, naming what it waited for and
the last answer it saw.
"""

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(check: Callable[[], T | None], *, timeout: float, what: str, interval: float = 0.05,
               retrying: tuple[type[Exception], ...] = (), explain: Callable[[], object] | None = None) -> T:
    """`check()`'s first truthy answer, asked every `interval` s until `timeout` s have passed.

    An exception of a type in `retrying` means "not yet" (a server still starting, a row not yet written); any
    other propagates at once, so a check can fail fast with an assertion of its own. On the deadline an
    AssertionError names `what`, the last answer or error, and whatever `explain()` adds (a log's tail).
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            answer = check()
        except retrying as error:
            last: object = error
        else:
            if answer:
                return answer
            last = answer
        if time.monotonic() >= deadline:
            raise AssertionError(_gave_up(what, timeout, last, explain))
        time.sleep(interval)


async def eventually_async(check: Callable[[], T | None], *, timeout: float, what: str,
                           interval: float = 0.01) -> T:
    """`eventually` for a test on an event loop: the loop keeps running the code under test between the checks."""
    deadline = time.monotonic() + timeout
    while not (answer := check()):
        if time.monotonic() >= deadline:
            raise AssertionError(_gave_up(what, timeout, answer, None))
        await asyncio.sleep(interval)
    return answer


def _gave_up(what: str, timeout: float, last: object, explain: Callable[[], object] | None) -> str:
    message = f"gave up after {timeout:g} s waiting for {what}; last answer: {last!r}"
    return f"{message}\n{explain()}" if explain is not None else message
