"""Keyed pseudonymisation of PII (national IDs, phone numbers, names, emails).

token = hex(HMAC-SHA256(key, normalise(value))), normalise = drop whitespace and dashes, upper-case.
The same person gets the same token on every night and in every table (so joins still work), and
nobody without the key can recompute or reverse it. The warehouse computes tokens in SQL (vectorised,
no Python row loops); `token()` is the reference implementation the tests hold the SQL to.
"""

from __future__ import annotations

import hashlib
import hmac
import re

_BLOCK = 64  # SHA-256 block size in bytes
_STRIP = re.compile(r"[\s\-]+")


def normalise(value: str) -> str:
    return _STRIP.sub("", value).upper()


def token(key: bytes, value: str | None) -> str | None:
    if value is None or value == "":
        return None
    return hmac.new(key, normalise(value).encode("utf-8"), hashlib.sha256).hexdigest()


def hmac_pads(key: bytes) -> tuple[bytes, bytes]:
    """RFC 2104 inner and outer padded keys, so SQL can compute HMAC with plain sha256()."""
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_BLOCK, b"\0")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


def install_duckdb_key(con, key: bytes) -> None:
    """Put the padded key in a one-row temp table; SQL reads it from there.

    The key never appears in SQL text, so it cannot leak through an error message or a query log.
    """
    ipad, opad = hmac_pads(key)
    con.execute("CREATE OR REPLACE TEMP TABLE _vigil_hmac_key (ipad BLOB, opad BLOB)")
    con.execute("INSERT INTO _vigil_hmac_key VALUES (?, ?)", [ipad, opad])


def duckdb_token_sql(column_sql: str) -> str:
    """DuckDB expression for the token of `column_sql`; needs `_vigil_hmac_key` in the FROM clause as k."""
    normalised = f"upper(regexp_replace({column_sql}, '[\\s\\-]+', '', 'g'))"
    return (
        f"CASE WHEN {column_sql} IS NULL OR {column_sql} = '' THEN NULL ELSE "
        f"sha256(k.opad || unhex(sha256(k.ipad || encode({normalised})))) END"
    )
