"""A drill's rows in the raw layer (docs/drills.md), on both engines: lineage names the drill file, a
rerun replaces them (never twice), the bank's rows of the night are untouched; following a drill on a
warehouse where nothing happened yet records every step as not reached."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from fixtures.nights import D
from vigil.ingest.drills import new_drill, write_drill
from vigil.store.warehouse import Warehouse

NOW = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.timezone.utc)




def test_drill_rows_join_the_night_with_their_own_lineage_once(url, tmp_path):
    wh = Warehouse.open(url)
    with wh.transaction() as con:
        wh.ensure_raw_schema(con)
        con.execute("INSERT INTO raw.hr__employees (employee_id, employment_type, hire_date, status, _feed_date, "
                    "_source_file, _source_sha256, _source_line, _loaded_at, _run_id) VALUES "
                    "('000101', 'permanent', DATE '2019-04-01', 'active', DATE '2026-03-02', 'hr/2026-03-02/employees.csv', "
                    "'x', 2, TIMESTAMP '2026-03-03 00:00:00', 'r')")
    drill = new_drill(D, now=NOW)
    for _ in range(2):  # a rerun of the night's loads
        assert wh.inject_drill("hr", D, drill, run_id="r", loaded_at=NOW) == 1
        assert wh.inject_drill("iam", D, drill, run_id="r", loaded_at=NOW) == 1
    assert wh.inject_drill("crm", D, drill, run_id="r", loaded_at=NOW) == 0
    with wh.connection() as con:
        emps = wh.fetchall(con, "SELECT employee_id, _source_file, full_name_token, national_id_token, email_token "
                                "FROM raw.hr__employees ORDER BY employee_id")
        accs = wh.fetchall(con, "SELECT account_id, employee_id, status, _source_file FROM raw.iam__accounts")
    assert emps == [("000101", "hr/2026-03-02/employees.csv", None, None, None),
                    ("DRILL-E20260302-01", "drills/2026-03-02/drill.json", None, None, None)]
    assert accs == [("DRILL-A20260302-01", "DRILL-E20260302-01", "enabled", "drills/2026-03-02/drill.json")]


def test_following_a_drill_nothing_handled_yet_records_no_step(url, tmp_path):
    from vigil.actions.drills import STEPS, follow_drill
    from vigil.config import Settings

    s = Settings(landing=str(tmp_path / "landing"), warehouse=url, out=tmp_path / "out", create_warehouse=True)
    assert follow_drill(s, D, "r")["drills"] == 0  # no drill tonight
    write_drill(s.landing, new_drill(D, now=NOW))
    out = follow_drill(s, D, "r")
    assert out["steps_done"] == 0 and "no detected, ticket_issued" in out["warnings"][0]
    result = json.loads((tmp_path / "out" / "drills" / "2026-03-02" / "result.json").read_text())
    assert result["steps"] == {k: None for k in STEPS}
    with Warehouse.open(url).connection() as con:
        (n,) = Warehouse.open(url).fetchall(con, "SELECT count(*) FROM audit.audit_log WHERE event = 'drill_result'")
    follow_drill(s, D, "r")  # the same run again: one result per drill and run
    with Warehouse.open(url).connection() as con:
        assert Warehouse.open(url).fetchall(con, "SELECT count(*) FROM audit.audit_log "
                                                 "WHERE event = 'drill_result'") == [n] == [(1,)]
