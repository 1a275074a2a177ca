"""Retry with backoff: how long to wait before attempt n + 1, and the loop that attempts inline.

``ceiling = min(backoff_max_seconds, backoff_base_seconds * 2^(n-1))``; with jitter the delay is
``ceiling/2 + random * ceiling/2`` (equal jitter), without it the ceiling. Never sooner than the
server's Retry-After. A wait longer than ``max_inline_wait_seconds`` is not slept: the caller
gets ``pending`` with the time to try again (an outbox keeps the row for the next run); with
``clamp_long_waits`` (senders without an outbox) the wait is shortened to the inline limit instead.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from dataclasses import dataclass, field
from typing import Callable

from vigil.actions.delivery.http import Call, DeliveryError, redact


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    backoff_base_seconds: float = 1.0
    backoff_max_seconds: float = 300.0
    max_inline_wait_seconds: float = 30.0
    jitter: bool = True
    clamp_long_waits: bool = False


def backoff_delay(attempt: int, policy, retry_after: float | None = None, rng=random.random) -> float:
    """Seconds before attempt `attempt + 1`: exponential (base * 2^(n-1), capped), equal jitter
    (unless the policy says ``jitter=False``), and never sooner than the server's Retry-After."""
    ceiling = min(policy.backoff_max_seconds, policy.backoff_base_seconds * (2 ** max(0, attempt - 1)))
    delay = ceiling / 2 + rng() * ceiling / 2 if getattr(policy, "jitter", True) else ceiling
    if retry_after is not None:
        delay = max(delay, float(retry_after))
    return delay


@dataclass
class Attempted:
    """How a document fared: ``delivered``, ``pending`` (try again after ``retry_in`` seconds) or
    ``dead_lettered`` (permanent error, or the last attempt failed)."""

    state: str
    attempts: int
    result: object = None
    status: str | None = None
    error: str | None = None
    retry_in: float = 0.0
    calls: list[tuple[int, Call]] = field(default_factory=list)  # (attempt_no, call)


def attempt_with_retries(send: Callable[[], object], policy, *, attempts_before: int = 0,
                         sleep=time.sleep, rng=random.random) -> Attempted:
    """Call ``send()`` until it succeeds, fails permanently, runs out of attempts or must wait longer
    than the inline limit. ``send`` raises DeliveryError (classified) or returns a result with
    ``status`` and ``calls``; any other exception is a malformed answer: retried, bounded."""
    attempts = attempts_before
    calls: list[tuple[int, Call]] = []
    while True:
        attempts += 1
        try:
            result = send()
        except DeliveryError as exc:
            calls += [(attempts, c) for c in exc.calls]
            status, error, retryable, retry_after = exc.status, redact(str(exc)), exc.retryable, exc.retry_after
        except Exception as exc:  # a malformed answer: retry (bounded), keep the reason
            error = redact(f"{type(exc).__name__}: {exc}")
            calls.append((attempts, Call("unexpected response", dt.datetime.now(dt.timezone.utc), 0.0, None,
                                         "error", error)))
            status, retryable, retry_after = "error", True, None
        else:
            calls += [(attempts, c) for c in getattr(result, "calls", [])]
            return Attempted("delivered", attempts, result, getattr(result, "status", None), None, 0.0, calls)
        if not retryable:
            return Attempted("dead_lettered", attempts, None, status, f"permanent error: {error}", 0.0, calls)
        if attempts >= policy.max_attempts:
            return Attempted("dead_lettered", attempts, None, status, f"{attempts} attempts: {error}", 0.0, calls)
        delay = backoff_delay(attempts, policy, retry_after, rng)
        if delay > policy.max_inline_wait_seconds:
            if not getattr(policy, "clamp_long_waits", False):
                return Attempted("pending", attempts, None, status, error, delay, calls)
            delay = policy.max_inline_wait_seconds
        sleep(delay)
