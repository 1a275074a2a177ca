"""What every channel shares: call records, the retry classification, redaction, the URL rule.

Classification (issue 5, "Delivery semantics"): 5xx (except 501/505), 408, 425, 429, timeouts
and connection errors are retried; any other 4xx is permanent (dead-letter, response kept
redacted). Channel-specific "done" answers (SCIM 404 = already removed) are decided by the channel.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import re
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

from vigil.config import ConfigError, is_loopback

RETRY_STATUSES = frozenset({408, 425, 429})
NOT_RETRIED_5XX = frozenset({501, 505})
MAX_ERROR_CHARS = 400


@dataclass
class Call:
    """One HTTP call or file write, as recorded in a delivery_attempts table."""

    request: str  # "PATCH /Users/{id}" - never a query string or a header
    started_at: dt.datetime
    duration_ms: float
    http_status: int | None
    outcome: str  # ok | retry | error | not_found | timeout | connection_error | written | unchanged
    error: str | None = None


@dataclass
class SendResult:
    outcome: str  # applied | already_applied | not_found | delivered | written | unchanged
    status: str  # last HTTP status or "file"
    calls: list[Call] = field(default_factory=list)
    confirms: bool = False  # the target confirmed the change itself (-> acknowledged)


class DeliveryError(RuntimeError):
    """A message was not accepted. ``retryable`` says whether asking again can help;
    ``retry_after`` is the server's Retry-After in seconds, when it gave one."""

    def __init__(self, message: str, *, status: str = "error", retryable: bool = False,
                 retry_after: float | None = None, calls: list[Call] | None = None):
        super().__init__(message)
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after
        self.calls = calls or []


def is_retryable(status: int) -> bool:
    return status in RETRY_STATUSES or (500 <= status <= 599 and status not in NOT_RETRIED_5XX)


def parse_retry_after(value: str | None, now: dt.datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP-date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    now = now or dt.datetime.now(dt.timezone.utc)
    return max(0.0, (when - now).total_seconds())


_REDACTIONS = (
    (re.compile(r"(?i)\b(bearer|basic|token|apikey|api-key)\s+[A-Za-z0-9._~+/=-]{6,}"), r"\1 [REDACTED]"),
    (re.compile(r"(?i)(\"?(?:password|passwd|secret|token|authorization|api[_-]?key|cookie|session)\"?\s*[:=]\s*)"
                r"(\"[^\"]*\"|[^\s,;&}]+)"), r"\1[REDACTED]"),
    (re.compile(r"whsec_[A-Za-z0-9+/=]+"), "[REDACTED]"),
    (re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"), "[EMAIL]"),
    (re.compile(r"\+?\d[\d ()-]{7,}\d"), "[NUMBER]"),
    (re.compile(r"\b[A-Z]{2}\s?\d{2}\s?\d{2}\s?\d{2}\s?[A-D]\b"), "[ID]"),  # UK NI number shape
    (re.compile(r"\b[A-Za-z0-9+/_-]{32,}={0,2}"), "[REDACTED]"),  # long opaque tokens
)


def redact(text: str | bytes | None, *, limit: int = MAX_ERROR_CHARS) -> str:
    """A response body safe to keep: secrets, e-mail addresses, phone/id numbers and tokens masked."""
    if text is None:
        return ""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    text = text.replace("\r", " ").replace("\n", " ")
    for pattern, repl in _REDACTIONS:
        text = pattern.sub(repl, text)
    return text[:limit] + ("..." if len(text) > limit else "")


def check_url(owner: str, url: str | None, *, secret: bool = False) -> None:
    """HTTP targets are ``https://`` with a host; plain ``http://`` only to a loopback host (tests).
    ``secret``: the URL carries a token (chat webhooks) and is never echoed in the error."""
    parts = urlsplit(url or "")
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and is_loopback(parts.hostname):
        return
    if secret:
        raise ConfigError(f"{owner}: the webhook URL must be https:// (plain http only to a loopback host)")
    raise ConfigError(f"{owner}: {url!r} must be an https:// URL (plain http only to a loopback host)")


def timed_request(client: httpx.Client, method: str, url: str, label: str, calls: list[Call], **kwargs) -> httpx.Response:
    """One HTTP call, recorded; transport failures become retryable DeliveryErrors."""
    started = dt.datetime.now(dt.timezone.utc)
    t0 = time.perf_counter()
    try:
        response = client.request(method, url, **kwargs)
    except httpx.TimeoutException as exc:
        calls.append(Call(label, started, (time.perf_counter() - t0) * 1000, None, "timeout", type(exc).__name__))
        raise DeliveryError(f"{label}: timeout", status="timeout", retryable=True, calls=calls) from exc
    except httpx.TransportError as exc:
        calls.append(Call(label, started, (time.perf_counter() - t0) * 1000, None, "connection_error",
                          type(exc).__name__))
        raise DeliveryError(f"{label}: connection error ({type(exc).__name__})", status="connection_error",
                            retryable=True, calls=calls) from exc
    elapsed = (time.perf_counter() - t0) * 1000
    outcome = "ok" if response.is_success else ("retry" if is_retryable(response.status_code) else "error")
    error = None if response.is_success else redact(response.text)
    calls.append(Call(label, started, elapsed, response.status_code, outcome, error))
    return response


def raise_for(response: httpx.Response, label: str, calls: list[Call], *, retryable=is_retryable) -> None:
    """Turn an unsuccessful response into the right DeliveryError."""
    status = response.status_code
    body = redact(response.text)
    if retryable(status):
        raise DeliveryError(f"{label}: HTTP {status}: {body}", status=str(status), retryable=True,
                            retry_after=parse_retry_after(response.headers.get("Retry-After")), calls=calls)
    raise DeliveryError(f"{label}: HTTP {status}: {body}", status=str(status), retryable=False, calls=calls)
