"""Source mappings (vigil.ingest.mapping, docs/feeds.md "Source mappings"): a real-looking HR
export (tests/fixtures/hr_export.py: quiet days, M/D/YYYY dates, free-text termination reasons,
trailing blanks, managers by name) becomes loadable through transforms/source_mappings/, never by
loosening the contract; and everything it cannot map is refused with file, line and column."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import pytest
from fixtures.nights import REPO, TEST_KEY, minimal_night_as_of, raw_pii_values, write_night
from fixtures.hr_export import FILE, HEADER, write_hr_export

from vigil.ingest.importers import ImportSourceError
from vigil.ingest.mapping import MappingConfigError, apply_mapping, load_mapping

MAPPING = REPO / "transforms" / "source_mappings" / "hr_export.example.yml"
START = dt.date(2026, 3, 1)


def _rows(folder: Path, name: str = "employees.csv") -> list[dict]:
    return list(csv.DictReader(io.StringIO((folder / name).read_text(encoding="utf-8"))))


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    root = tmp_path_factory.mktemp("hr_export")
    return root, write_hr_export(root, START, 9)


# ------------------------------------------------------------------ the realistic export, mapped


def test_quiet_days_give_identical_deliveries(export, tmp_path):
    """The fixture is quiet on most nights (identical report), and so is the mapped delivery."""
    root, _ = export
    reports = [(root / (START + dt.timedelta(days=k)).isoformat() / FILE).read_bytes() for k in range(9)]
    assert [a == b for a, b in zip(reports, reports[1:])] == [True, True, True, False, True, True, True, False]
    a = apply_mapping(MAPPING, root / "2026-03-02", tmp_path, dt.date(2026, 3, 2))
    b = apply_mapping(MAPPING, root / "2026-03-03", tmp_path, dt.date(2026, 3, 3))
    assert (a.folder / "employees.csv").read_bytes() == (b.folder / "employees.csv").read_bytes()


def test_the_export_maps_onto_the_contract(export, tmp_path):
    root, rosters = export
    day = dt.date(2026, 3, 9)
    result = apply_mapping(MAPPING, root / day.isoformat(), tmp_path, day)
    assert result.folder == tmp_path / "hr" / "2026-03-09"
    rows = {r["employee_id"]: r for r in _rows(result.folder)}
    roster = rosters[day]
    assert len(rows) == len(roster) == 42
    raw = (root / day.isoformat() / FILE).read_text(encoding="utf-8")
    assert any(v != v.rstrip() for rec in csv.reader(io.StringIO(raw)) for v in rec)  # the export carries trailing blanks
    for w in roster:
        r = rows[w["id"]]
        assert r["full_name"] == w["name"] and not r["department"].endswith(" ")  # blanks stripped
        assert r["hire_date"] == w["hire"].isoformat()  # M/D/YYYY read as declared
        # the manager named in the export is resolved to that worker's id
        assert r["manager_id"] == ("" if w["manager"] is None else roster[w["manager"]]["id"])
    leavers = {r["employee_id"]: r["termination_reason"] for r in rows.values() if r["status"] == "terminated"}
    expected = {"resigned - better opportunity": "resignation", "retired": "retirement",
                "terminated - misconduct": "dismissal", "end of fixed term contract": "contract_end",
                "mutual agreement": "other"}
    assert leavers == {w["id"]: expected[" ".join(w["reason"].split()).lower()] for w in roster
                       if w["status"] == "Terminated"}
    assert len(leavers) == 2
    assert result.counts["employees.status"] == {"active": 38, "notice": 2, "terminated": 2}


@pytest.mark.slow
def test_a_mapped_hr_export_night_publishes(export, tmp_path):
    """The mapped export is an ordinary hr delivery: the strict reader takes it, the night passes its
    gates and breakers and publishes; no name or national id of the export reaches the warehouse."""
    import duckdb

    from vigil.config import Settings
    from vigil.pipeline import run_nightly

    root, rosters = export
    day = START
    settings = Settings(landing=str(tmp_path / "landing"), warehouse=str(tmp_path / "vigil.duckdb"),
                        out=tmp_path / "out", mode="production", pseudonymisation_key=TEST_KEY,
                        duckdb_memory_limit="1GB", create_warehouse=True)
    apply_mapping(MAPPING, root / day.isoformat(), settings.landing, day)
    write_night(Path(settings.landing), day, data=minimal_night_as_of(day), feeds=("iam", "crm", "complaints"))
    summary = run_nightly(settings, day)
    assert summary.ok, summary.error
    con = duckdb.connect(settings.warehouse, read_only=True)
    try:
        got = dict(con.execute("SELECT status, count(*) FROM marts.dim_employees GROUP BY ALL").fetchall())
        assert sum(got.values()) == len(rosters[day]) == 40
        managers = con.execute("""SELECT count(*) FROM raw.hr__employees e JOIN raw.hr__employees m
                                  ON m.employee_id = e.manager_id""").fetchone()[0]
        assert managers == 39  # everyone but the head of the bank has a resolved manager
        assert con.execute("SELECT count(*) FROM publish.pub_kpi_scorecard").fetchone()[0] > 0  # published
        pii = raw_pii_values(Path(settings.landing))
        assert {w["name"] for w in rosters[day]} <= pii
        text = "|".join(str(v) for t in ("raw.hr__employees", "marts.dim_employees")
                        for row in con.execute(f"SELECT * FROM {t}").fetchall() for v in row)
        assert not [v for v in pii if v in text]
    finally:
        con.close()


# ------------------------------------------------------------------ what the mapping refuses


def _export(tmp_path: Path, rows: list[list[str]]) -> Path:
    folder = tmp_path / "export"
    folder.mkdir(exist_ok=True)
    with open(folder / FILE, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\r\n")
        w.writerow(HEADER)
        w.writerows(rows)
    return folder


def _worker(eid: str, name: str, *, manager: str = "", hire: str = "1/15/2020", status: str = "Active",
            term: str = "", reason: str = "") -> list[str]:
    return [eid, name, "", "", "IT", "Analyst", manager, "Regular", hire, "", status, "", term, reason]


def _refused(tmp_path, rows, line: int, column: str, text: str) -> str:
    landing = tmp_path / "refused"
    with pytest.raises(ImportSourceError) as info:
        apply_mapping(MAPPING, _export(tmp_path, rows), landing, START)
    assert (info.value.line, info.value.column) == (line, column)
    assert f"{FILE}, line {line}, column {column!r}: " in str(info.value) and text in str(info.value)
    assert not (landing / "hr").exists() or not any((landing / "hr").iterdir())  # nothing written
    return str(info.value)


@pytest.mark.parametrize("hire,ok", [("2/29/2024", "2024-02-29"), ("12/31/2025", "2025-12-31"), ("1/1/2026", "2026-01-01"),
                                     ("2/30/2024", None), ("2024-02-01", None), ("31/12/2025", None), ("13/1/2025", None)])
def test_dates_must_match_the_declared_format(tmp_path, hire, ok):
    """M/D/YYYY as declared, nothing guessed: an ISO date or a D/M date in an M/D export is an error."""
    rows = [_worker("1", "Ann Lee", hire=hire)]
    if ok:
        result = apply_mapping(MAPPING, _export(tmp_path, rows), tmp_path / "landing", START)
        assert _rows(result.folder)[0]["hire_date"] == ok
    else:
        _refused(tmp_path, rows, 2, "Hire Date", f"{hire!r} is not a date in the declared format M/D/YYYY")


def test_termination_reasons_come_from_the_table(tmp_path):
    """Matched case-insensitively with blanks collapsed; a reason not in the table is refused, naming the table."""
    ok = [_worker("1", "Ann Lee", status="Terminated", term="3/1/2026", reason="  RETIRED  "),
          _worker("2", "Bo Chan", status="Terminated", term="3/1/2026", reason="resigned -   personal reasons")]
    result = apply_mapping(MAPPING, _export(tmp_path, ok), tmp_path / "landing", START)
    assert [r["termination_reason"] for r in _rows(result.folder)] == ["retirement", "resignation"]
    bad = ok + [_worker("3", "Cy Diaz", status="Terminated", term="3/1/2026", reason="Left for a competitor")]
    _refused(tmp_path, bad, 4, "Termination Reason", "'Left for a competitor' is not in termination_reasons.csv")


def test_managers_by_name_resolve_to_exactly_one_worker(tmp_path):
    rows = [_worker("1", "Ann Lee"), _worker("2", "Bo Chan", manager="ann  lee ")]
    result = apply_mapping(MAPPING, _export(tmp_path, rows), tmp_path / "landing", START)
    assert [r["manager_id"] for r in _rows(result.folder)] == ["", "1"]
    unknown = rows + [_worker("3", "Cy Diaz", manager="Dee Ray")]
    msg = _refused(tmp_path, unknown, 4, "Manager", "the manager_id name names no employee of the export")
    assert "Dee Ray" not in msg  # a name is personal data: never in a message
    twice = [_worker("1", "Ann Lee"), _worker("2", "Ann Lee"), _worker("3", "Cy Diaz", manager="Ann Lee")]
    msg = _refused(tmp_path, twice, 4, "Manager", "names 2 employees of the export (lines 2, 3): ambiguous")
    assert "Ann Lee" not in msg


def test_an_unknown_status_and_a_missing_column_are_refused(tmp_path):
    _refused(tmp_path, [_worker("1", "Ann Lee", status="Sabbatical")], 2, "Worker Status",
             "'Sabbatical' is not in 'values' of 'status'")
    folder = tmp_path / "cut"
    folder.mkdir()
    (folder / FILE).write_text("Employee ID,Worker\r\n1,Ann Lee\r\n", encoding="utf-8")
    with pytest.raises(ImportSourceError) as info:
        apply_mapping(MAPPING, folder, tmp_path / "landing", START)
    assert (info.value.line, info.value.column) == (1, "National ID")  # the first mapped column it lacks
    assert "missing column 'National ID' (mapped to 'national_id')" in str(info.value)


def test_the_mapped_delivery_is_still_held_to_the_strict_contract(tmp_path):
    """The mapping does not loosen the contract: a status the mapping leaves empty is refused by the reader."""
    from vigil.config import Settings
    from vigil.pipeline import extract_feed
    from vigil.ingest.reader import FeedError

    apply_mapping(MAPPING, _export(tmp_path, [_worker("1", "Ann Lee", status="")]), tmp_path / "landing", START)
    s = Settings(landing=str(tmp_path / "landing"), warehouse=str(tmp_path / "unused.duckdb"), out=tmp_path / "out",
                 mode="production", pseudonymisation_key=TEST_KEY, duckdb_memory_limit="1GB")
    with pytest.raises(FeedError) as info:
        extract_feed(s, "hr", START, "test-run")
    assert "employees.csv" in str(info.value) and "status" in str(info.value)


def test_mapping_file_errors_name_the_mapping(tmp_path):
    bad = tmp_path / "m.yml"
    bad.write_text("feed: hr\ntables:\n  employees:\n    file: x.csv\n    columns: {full_name: Worker}\n")
    with pytest.raises(MappingConfigError, match=r"m\.yml: table 'employees': the required column 'employee_id' is not mapped"):
        load_mapping(bad)
    bad.write_text("feed: hr\ntables:\n  employees:\n    file: x.csv\n    date_format: YYYY/DD/MM\n    columns: {}\n")
    with pytest.raises(MappingConfigError, match="date_format 'YYYY/DD/MM' is not one of"):
        load_mapping(bad)
    bad.write_text("feed: hr\ntables:\n  assets:\n    file: x.csv\n    columns: {asset_id: A, employee_id: E, asset_type: T, issued_date: I}\n")
    with pytest.raises(MappingConfigError, match="feed 'hr' needs its required table\\(s\\) employees mapped"):
        load_mapping(bad)
    bad.write_text(MAPPING.read_text().replace("Contingent Worker: contractor", "Contingent Worker: freelancer"))
    with pytest.raises(MappingConfigError, match="'freelancer' not allowed"):
        load_mapping(bad)


def test_cli_exit_codes(export, tmp_path, capsys):
    from vigil.cli import main

    root, _ = export
    args = ["import", "mapped", str(root / "2026-03-01"), "--mapping", str(MAPPING), "--landing", str(tmp_path / "l"),
            "--date", "2026-03-01"]
    assert main(args) == 0
    assert "hr/2026-03-01/employees.csv: 40 rows" in capsys.readouterr().out
    assert main(args) == 2  # the folder holds a delivery
    assert main(args + ["--force"]) == 0
    bad = tmp_path / "bad.yml"
    bad.write_text("feed: nope\n")
    assert main(args[:4] + [str(bad)] + args[5:] + ["--force"]) == 2
    capsys.readouterr()
    _export(tmp_path, [_worker("1", "Ann Lee", hire="2026-01-01")])
    assert main(["import", "mapped", str(tmp_path / "export"), "--mapping", str(MAPPING), "--landing",
                 str(tmp_path / "l2"), "--date", "2026-03-01"]) == 1
    err = capsys.readouterr().err
    assert "line 2, column 'Hire Date'" in err.replace("\n", " ") and "Traceback" not in err
