"""`kept_open` (vigil.store.warehouse): the same-day path opens a DuckDB warehouse once for its
burst of short transactions. Inside, each connection is a cursor of that instance with its own
transactions (a rolled-back one leaves nothing); after it, the file is closed (another process can
open it) and connections open the file again."""

from __future__ import annotations

import subprocess
import sys

import pytest

from vigil.store import warehouse as W


def test_connections_inside_share_one_open_file_and_keep_their_own_transactions(tmp_path):
    url = str(tmp_path / "wh.duckdb")
    wh = W.Warehouse.open(url)
    with wh.transaction() as con:
        con.execute("CREATE TABLE t (x INTEGER)")
    with W.kept_open(url):
        assert len(W._KEPT_OPEN) == 1
        with wh.transaction() as con:
            con.execute("INSERT INTO t VALUES (1)")
        with pytest.raises(RuntimeError), wh.transaction() as con:
            con.execute("INSERT INTO t VALUES (2)")
            raise RuntimeError("rolled back")
        with W.kept_open(url), wh.connection() as con:  # nested, and a read-only connection: both work
            assert wh.fetchall(con, "SELECT x FROM t") == [(1,)]
    assert W._KEPT_OPEN == {}
    # closed: another process can open the file
    other = subprocess.run([sys.executable, "-c", f"import duckdb; print(duckdb.connect({url!r}, read_only=True)"
                                                  f".execute('SELECT count(*) FROM t').fetchone()[0])"],
                           capture_output=True, text=True, timeout=60)
    assert other.stdout.strip() == "1", other.stderr


def test_a_postgres_url_or_a_missing_file_is_left_alone(tmp_path):
    with W.kept_open("postgresql://u@127.0.0.1:5432/db"):
        assert W._KEPT_OPEN == {}
    with W.kept_open(str(tmp_path / "none.duckdb")):
        assert W._KEPT_OPEN == {}
    assert not (tmp_path / "none.duckdb").exists()
