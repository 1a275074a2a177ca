"""Pseudonymisation: keyed, stable, normalised, and never unkeyed in production."""

from __future__ import annotations

import duckdb
import pytest

from fixtures.nights import D, TEST_KEY
from vigil.config import ConfigError, Settings
from vigil.pipeline import extract_feed
from vigil.ingest.pseudonymise import duckdb_token_sql, install_duckdb_key, normalise, token

OTHER_KEY = b"another-key-0123456789abcdef0123456789ab"


def test_same_key_same_token_and_normalised_forms_agree():
    assert token(TEST_KEY, "AB 123-456 c") == token(TEST_KEY, "ab123456C")
    assert normalise(" ab-12 3 ") == "AB123"


def test_different_key_gives_a_different_token():
    assert token(TEST_KEY, "AB123456C") != token(OTHER_KEY, "AB123456C")


def test_sql_tokens_equal_the_reference_implementation():
    values = ["AB 123-456 c", "王小明", "anna.smith@bank.test", "+44 7700 900123", "Ødegård", None, ""]
    con = duckdb.connect()
    install_duckdb_key(con, TEST_KEY)
    con.execute("CREATE TABLE v (i INT, x VARCHAR)")
    con.executemany("INSERT INTO v VALUES (?, ?)", list(enumerate(values)))
    got = con.execute(f"SELECT {duckdb_token_sql('x')} FROM v, _vigil_hmac_key AS k ORDER BY i").fetchall()
    assert [g[0] for g in got] == [token(TEST_KEY, v) for v in values]
    assert got[-1][0] is None and got[-2][0] is None  # empty stays empty: no token for "nothing"


def test_production_without_a_key_is_a_hard_error(tmp_path):
    s = Settings(out=tmp_path, mode="production")
    with pytest.raises(ConfigError, match="no pseudonymisation key"):
        s.resolve_key()
    assert not (tmp_path / "demo-pseudonymisation.key").exists()


def test_short_keys_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="at least 32 bytes"):
        Settings(out=tmp_path, pseudonymisation_key=b"short").resolve_key()


def test_demo_mode_generates_one_local_key_and_says_so(tmp_path, caplog):
    s = Settings(out=tmp_path, mode="demo")
    first = s.resolve_key()
    assert "DEMO MODE" in caplog.text
    assert s.resolve_key() == first and len(first) >= 32  # reused, so tokens are stable across nights
    assert (tmp_path / "demo-pseudonymisation.key").stat().st_mode & 0o077 == 0


def test_key_from_the_environment(tmp_path):
    s = Settings.from_env({"VIGIL_PSEUDONYMISATION_KEY": TEST_KEY.decode(), "VIGIL_OUT": str(tmp_path)})
    assert s.resolve_key() == TEST_KEY


def test_extract_refuses_to_run_without_a_key(settings, night):
    with pytest.raises(ConfigError):
        extract_feed(settings.with_(pseudonymisation_key=None), "hr", D, "t")


def test_staged_files_hold_tokens_not_pii(settings, night):
    out = extract_feed(settings, "hr", D, "t")
    staged = next(t for t in out["tables"] if t["table"] == "employees")["staged_path"]
    text = open(staged, "rb").read()
    for raw in (b"AB123456C", b"CANARY-NID-9001", b"Anna Smith", b"anna@bank.test"):
        assert raw not in text
    rows = duckdb.sql(f"SELECT national_id_token FROM '{staged}' ORDER BY employee_id").fetchall()
    assert rows[0][0] == token(TEST_KEY, "AB123456C")
