"""Canonical JSON: one spelling per value, so the same document is always the same bytes.

Sorted keys, no insignificant whitespace, UTF-8 kept as is. Values are made JSON-ready first:
aware datetimes as ``YYYY-MM-DDTHH:MM:SSZ`` (UTC, second precision), naive ones and dates as ISO
text, decimals as numbers, sets as sorted lists. Ticket ids, alert ids, signatures and payload
hashes are all computed over these bytes: changing a rule here changes every one of them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from decimal import Decimal


def plain(value):
    """JSON-ready value: dates as ISO text, decimals as numbers, tuples as lists."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [plain(v) for v in value]
        return sorted(items, key=str) if isinstance(value, (set, frozenset)) else items
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    return value


def canonical_json(value) -> str:
    """One spelling per value: sorted keys, no insignificant whitespace, UTF-8 kept as is."""
    return json.dumps(plain(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_hex(data: str | bytes) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def iso_utc(value: dt.datetime) -> str:
    """``2026-03-02T23:59:59Z``: UTC, second precision (what the JSON Schemas expect)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")
