"""The drill file's contract (docs/drills.md): <landing>/drills/<D>/drill.json, strict; a bad file is one
error naming the file, the line and the field; a bad file stops the night before anything is loaded."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from fixtures.nights import D
from vigil.config import is_drill_id
from vigil.ingest.drills import DrillFileError, drill_path, drill_rows, new_drill, parse_drill, read_drill, write_drill

NOW = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.timezone.utc)


def _text(**changes) -> str:
    doc = new_drill(D, now=NOW).to_dict() | changes
    return json.dumps({k: v for k, v in doc.items() if v is not ...}, indent=2)


def test_a_planned_drill_reads_back_the_same(tmp_path):
    drill = new_drill(D, now=NOW)
    path = write_drill(tmp_path, drill)
    assert path == tmp_path / "drills" / "2026-03-02" / "drill.json"
    back = read_drill(tmp_path, D)
    assert back.to_dict() == drill.to_dict() and back.sha256
    assert back.termination_date == D - dt.timedelta(days=1) and back.started_at == NOW
    with pytest.raises(FileExistsError):  # never overwritten
        write_drill(tmp_path, drill)
    assert read_drill(tmp_path, D + dt.timedelta(days=1)) is None  # a night without a drill


@pytest.mark.parametrize("changes, line, field, says", [
    (dict(employee_id="E100"), 7, "employee_id", "must start with DRILL-"),
    (dict(drill_id="drill-1"), 3, "drill_id", "must start with DRILL-"),
    (dict(account_ids=["ad-100"]), 10, "account_ids", "must start with DRILL-"),
    (dict(account_ids=[]), 10, "account_ids", "non-empty"),
    (dict(account_ids=["DRILL-A1", "DRILL-A1"]), 10, "account_ids", "twice"),
    (dict(kind="fire"), 4, "kind", "must be one of leaver, incident"),
    (dict(kind="incident"), 7, "employee_id", "unknown field (fields of kind incident"),
    (dict(schema="vigil.drill/2"), 2, "schema", "vigil.drill/1"),
    (dict(run_date="2026-03-03"), 5, "run_date", "folder of 2026-03-02"),
    (dict(run_date="2026-3-2"), 5, "run_date", "YYYY-MM-DD"),
    (dict(termination_date="2026-03-03"), 8, "termination_date", "on or before run_date"),
    (dict(started_at="2026-03-02 09:30"), 6, "started_at", "UTC timestamp"),
    (dict(privileged="yes"), 13, "privileged", "true or false"),
    (dict(system="A D"), 9, "system", "system name"),
    (dict(employee_id=...), 1, "employee_id", "missing"),
    (dict(extra="x"), 15, "extra", "unknown field"),
])
def test_each_broken_rule_names_the_file_line_and_field(changes, line, field, says):
    with pytest.raises(DrillFileError) as e:
        parse_drill(_text(**changes), "landing/drills/2026-03-02/drill.json", run_date=D)
    assert (e.value.line, e.value.field) == (line, field)
    msg = str(e.value)
    assert msg.startswith(f"landing/drills/2026-03-02/drill.json, line {line}, field '{field}': ") and says in msg
    assert "\n" not in msg


@pytest.mark.parametrize("days, ok", [(-1, True), (0, True), (1, False)])
def test_termination_date_boundary_against_the_night(days, ok):
    text = _text(termination_date=(D + dt.timedelta(days=days)).isoformat())
    if ok:
        assert parse_drill(text, "f", run_date=D).termination_date == D + dt.timedelta(days=days)
    else:
        with pytest.raises(DrillFileError, match="termination_date"):
            parse_drill(text, "f", run_date=D)


def test_a_json_syntax_error_names_line_and_column():
    text = _text().replace('"kind": "leaver",', '"kind": "leaver"')
    with pytest.raises(DrillFileError) as e:
        parse_drill(text, "f.json")
    assert e.value.line == 5 and str(e.value).startswith("f.json, line 5, field 'column 3': not valid JSON")


@pytest.mark.parametrize("value, drill", [
    ("DRILL-E1", True), ("AD:DRILL-A1", True), ("employee:DRILL-E1|2026-03-01", True),
    ("DRILL-", True), ("XDRILL-E1", False), ("drill-e1", False), ("DRILL", False), ("E100", False),
    ("AD:ad-100", False), (None, False), (7, False),
])
def test_what_counts_as_a_drill_id(value, drill):
    assert is_drill_id(value) is drill


def _incident_text(**changes) -> str:
    doc = new_drill(D, now=NOW, kind="incident").to_dict() | changes
    return json.dumps({k: v for k, v in doc.items() if v is not ...}, indent=2)


def test_a_planned_incident_drill_reads_back_the_same(tmp_path):
    drill = new_drill(D, now=NOW, kind="incident")
    write_drill(tmp_path, drill)
    back = read_drill(tmp_path, D)
    assert back.to_dict() == drill.to_dict() == {
        "schema": "vigil.drill/1", "drill_id": "DRILL-20260302-01", "kind": "incident", "run_date": "2026-03-02",
        "started_at": "2026-03-02T09:30:00Z", "incident_id": "DRILL-I20260302-01", "severity": "high"}
    assert back.subject_id == "DRILL-I20260302-01" and back.employee_id is None


@pytest.mark.parametrize("changes, line, field, says", [
    (dict(incident_id="INC-7"), 7, "incident_id", "must start with DRILL-"),
    (dict(severity="severe"), 8, "severity", "must be one of low, medium, high, critical"),
    (dict(severity=...), 1, "severity", "missing"),
    (dict(employee_id="DRILL-E1"), 9, "employee_id", "unknown field (fields of kind incident"),
    (dict(run_date="2026-03-03"), 5, "run_date", "folder of 2026-03-02"),
])
def test_each_broken_incident_rule_names_the_file_line_and_field(changes, line, field, says):
    with pytest.raises(DrillFileError) as e:
        parse_drill(_incident_text(**changes), "landing/drills/2026-03-02/drill.json", run_date=D)
    assert (e.value.line, e.value.field) == (line, field) and says in str(e.value)


def test_an_incident_drills_row_is_a_marked_incident_of_night_d_in_no_real_place():
    drill = new_drill(D, now=NOW, kind="incident")
    (inc,) = drill_rows(drill, "incidents")["incidents"]
    assert is_drill_id(inc["incident_id"]) and inc["severity"] == "high"
    assert inc["started_at"].date() == D and inc["reported_at"] > inc["started_at"]  # reported on D: the night sees it
    assert (inc["location_type"], inc["location"]) == ("channel", "drill")  # no complaint's channel: no real surge
    assert inc["activated_at"] is inc["restored_at"] is inc["post_review_at"] is None
    assert drill_rows(drill, "hr") == drill_rows(drill, "iam") == {}  # an incident drill adds no leaver
    assert drill_rows(new_drill(D, now=NOW), "incidents") == {}  # ...and a leaver drill no incident


def test_a_drills_rows_carry_no_pii_and_only_marked_ids():
    drill = new_drill(D, now=NOW)
    (emp,) = drill_rows(drill, "hr")["employees"]
    assert emp["full_name"] is emp["national_id"] is emp["email"] is None
    assert emp["status"] == "terminated" and is_drill_id(emp["employee_id"])
    (acc,) = drill_rows(drill, "iam")["accounts"]
    assert is_drill_id(acc["account_id"]) and acc["employee_id"] == emp["employee_id"] and acc["status"] == "enabled"
    assert acc["last_login_at"] > dt.datetime.combine(drill.termination_date, dt.time(23, 59), dt.timezone.utc)
    assert drill_rows(drill, "crm") == {}


def test_a_bad_drill_file_stops_the_night_before_anything_is_loaded(settings, night):
    from vigil.pipeline import run_nightly

    path = drill_path(settings.landing, D)
    path.parent.mkdir(parents=True)
    path.write_text(_text(employee_id="E100"))
    summary = run_nightly(settings, D)
    assert summary.status == "failed" and summary.failed_step == "extract hr"
    assert summary.error == f"{path}, line 7, field 'employee_id': must start with DRILL- followed by 1-60 " \
                            f"letters, digits, '_', '.', '-' (a drill's ids are marked synthetic)"
    assert not any(s.name.startswith("load") for s in summary.steps)


def test_vigil_drill_plans_once_and_says_where(tmp_path, capsys):
    from vigil.cli import main

    assert main(["drill", "--landing", str(tmp_path), "--date", "2026-03-02", "--out", str(tmp_path / "out")]) == 0
    assert "DRILL-20260302-01" in capsys.readouterr().out
    assert read_drill(tmp_path, D).drill_id == "DRILL-20260302-01"
    assert main(["drill", "--landing", str(tmp_path), "--date", "2026-03-02"]) == 2  # already planned
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "already has a drill" in err and "\n" not in err
    assert main(["drill", "--landing", str(tmp_path / "nope")]) == 2
    assert main(["drill", "--landing", str(tmp_path), "--date", "2026-03-05", "--system", "A D"]) == 2
    assert main(["drill", "--landing", str(tmp_path), "--date", "2026-13-01"]) == 2
    capsys.readouterr()
    assert main(["drill", "--landing", str(tmp_path), "--date", "2026-03-06", "--kind", "fire"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--kind 'fire'" in err and "\n" not in err
    assert main(["drill", "--landing", str(tmp_path), "--date", "2026-03-06", "--kind", "incident",
                 "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "DRILL-I20260306-01" in out and "incident" in out
    assert read_drill(tmp_path, D + dt.timedelta(days=4)).incident_id == "DRILL-I20260306-01"


@pytest.mark.parametrize("loaded_night, refused", [(D - dt.timedelta(days=1), False), (D, True)])
def test_vigil_drill_refuses_a_night_that_has_already_run(tmp_path, capsys, loaded_night, refused):
    """A rerun of a loaded night folds nothing new into the incremental models, so a drill added to it
    would never be detected: `vigil drill` plans only nights that have not run (the night before: fine)."""
    import duckdb

    from vigil.cli import main

    wh = tmp_path / "vigil.duckdb"
    assert main(["init", "--warehouse", str(wh)]) == 0
    con = duckdb.connect(str(wh))
    con.execute("INSERT INTO raw._vigil_loads (feed, table_name, feed_date, source_file, source_sha256, row_count, "
                "stale, run_id, loaded_at) VALUES ('hr', 'employees', ?, 'hr/x/employees.csv', 'x', 1, false, 'r', now())",
                [loaded_night])
    con.close()
    capsys.readouterr()
    code = main(["drill", "--landing", str(tmp_path), "--warehouse", str(wh), "--date", D.isoformat()])
    err = capsys.readouterr().err.strip()
    assert code == (2 if refused else 0)
    assert ("has already run" in err and "\n" not in err) if refused else err == ""
    assert drill_path(tmp_path, D).exists() is not refused
