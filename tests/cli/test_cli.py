"""The `vigil` command's contract: a missing warehouse is never created by accident, predictable errors
are one line with the documented exit code, read-only commands create nothing, `vigil plan` works for
any night that ran, `vigil status`, the help texts, and the README's commands as they are written."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from fixtures.nights import REPO, TEST_KEY, write_night
from vigil.cli import build_parser, completed_steps
from vigil.cli import main as vigil
from vigil.store.warehouse import WarehouseMissing, init_warehouse, require_warehouse

BIN = Path(sys.executable).parent


@pytest.fixture
def no_vigil_env(monkeypatch):
    for name in list(os.environ):
        if name.startswith("VIGIL_"):
            monkeypatch.delenv(name)


def _tree(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


# --------------------------------------------------------------------------- a missing warehouse (issue 18.1)


def test_run_on_a_mistyped_warehouse_path_is_an_error_and_creates_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("VIGIL_PSEUDONYMISATION_KEY", TEST_KEY.decode())
    landing = write_night(tmp_path / "landing")
    before = _tree(tmp_path)
    typo = tmp_path / "typo" / "dir" / "vigil.duckdb"
    code = vigil(["run", "--date", "2026-03-02", "--landing", str(landing), "--warehouse", str(typo),
                  "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and f"no warehouse at {typo}" in err and "vigil init" in err
    assert _tree(tmp_path) == before  # no folder, no DuckDB file, no run summary


def test_run_with_a_missing_delivery_config_stops_before_anything_is_read(tmp_path, capsys, monkeypatch):
    """Found before the night, not after publish (where it would fail with the night half-acted-on)."""
    monkeypatch.setenv("VIGIL_PSEUDONYMISATION_KEY", TEST_KEY.decode())
    wh = tmp_path / "wh.duckdb"
    assert vigil(["init", "--warehouse", str(wh)]) == 0
    capsys.readouterr()
    code = vigil(["run", "--date", "2026-03-02", "--landing", str(tmp_path / "landing"), "--warehouse", str(wh),
                  "--out", str(tmp_path / "out"), "--delivery-config", str(tmp_path / "nope.yml")])
    err = capsys.readouterr().err
    assert code == 2 and err == f"configuration error: delivery config {tmp_path / 'nope.yml'} does not exist\n"
    assert not (tmp_path / "out").exists()


def test_require_warehouse_missing_then_foreign_file_then_vigil_warehouse(tmp_path):
    """-1: no file; 0: a DuckDB file that is not Vigil's; +1: one `vigil init` made. Creates nothing itself."""
    path = tmp_path / "wh.duckdb"
    with pytest.raises(WarehouseMissing, match="no warehouse at"):
        require_warehouse(str(path))
    assert not path.exists()
    duckdb.connect(str(path)).close()
    with pytest.raises(WarehouseMissing, match="not a Vigil warehouse"):
        require_warehouse(str(path))
    assert vigil(["init", "--warehouse", str(path)]) == 0
    require_warehouse(str(path))
    assert init_warehouse(str(path)) is False  # a second init leaves it as it is


def test_init_creates_the_warehouse_that_run_then_accepts(tmp_path, capsys):
    path = tmp_path / "new" / "vigil.duckdb"
    assert vigil(["init", "--warehouse", str(path)]) == 0
    assert "created a new, empty Vigil warehouse" in capsys.readouterr().out
    con = duckdb.connect(str(path), read_only=True)
    try:
        schemas = {s for (s,) in con.execute("SELECT schema_name FROM information_schema.schemata").fetchall()}
    finally:
        con.close()
    assert {"raw", "audit"} <= schemas


@pytest.mark.postgres
def test_postgres_database_without_vigils_schemas_is_an_error_until_init(pg_url, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("VIGIL_PSEUDONYMISATION_KEY", TEST_KEY.decode())
    landing = write_night(tmp_path / "landing")
    code = vigil(["run", "--date", "2026-03-02", "--landing", str(landing), "--warehouse", pg_url,
                  "--out", str(tmp_path / "out")])
    assert code == 2 and "has no Vigil schemas" in capsys.readouterr().err
    import psycopg

    with psycopg.connect(pg_url) as con:
        assert con.execute("SELECT count(*) FROM information_schema.schemata WHERE schema_name IN "
                           "('raw', 'audit', 'tickets')").fetchone()[0] == 0
    assert vigil(["init", "--warehouse", pg_url]) == 0
    require_warehouse(pg_url)


@pytest.mark.parametrize("argv", [
    ["review", "--quarter", "2026Q1"],
    ["plan", "--date", "2026-03-02"],
    ["approve", "--date", "2026-03-02", "--reason", "checked", "--by", "A. Person"],
    ["deliver"],
    ["status"],
])
def test_commands_with_default_paths_create_nothing(argv, tmp_path, capsys, monkeypatch, no_vigil_env):
    """`vigil review` with its default paths used to create warehouse/vigil.duckdb in the repository."""
    monkeypatch.chdir(tmp_path)
    assert vigil(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and ("warehouse/vigil.duckdb" in err or "vigil_out/runs" in err)
    assert _tree(tmp_path) == []


# --------------------------------------------------------------------------- predictable errors (issue 18.7)


@pytest.mark.parametrize("flag,value,ok", [("--by", "", False), ("--by", "   ", False), ("--by", "A", True),
                                           ("--reason", "", False), ("--reason", "\t ", False),
                                           ("--reason", "x", True)])
def test_approve_refuses_an_empty_or_blank_by_or_reason(flag, value, ok, tmp_path, capsys, no_vigil_env):
    args = {"--by": "A. Person", "--reason": "checked"} | {flag: value}
    code = vigil(["approve", "--date", "2026-03-02", *[a for kv in args.items() for a in kv],
                  "--warehouse", str(tmp_path / "wh.duckdb")])
    err = capsys.readouterr().err
    assert code == 2
    if ok:  # accepted: the next check (the warehouse) is what stops it
        assert "no warehouse at" in err
    else:
        assert f"argument {flag}: must not be empty" in err and "None" not in err


def test_bad_values_are_one_line_usage_errors(tmp_path, capsys, no_vigil_env):
    wh = tmp_path / "wh.duckdb"
    assert vigil(["init", "--warehouse", str(wh)]) == 0
    capsys.readouterr()
    assert vigil(["review", "--quarter", "2026Q5", "--warehouse", str(wh)]) == 2
    assert capsys.readouterr().err == "error: --quarter: not a quarter: '2026Q5' (expected YYYYQn, e.g. 2026Q3)\n"
    assert vigil(["backfill", "--start", "2026-03-02", "--end", "2026-03-01", "--warehouse", str(wh)]) == 2
    assert "--end 2026-03-01 is before --start 2026-03-02" in capsys.readouterr().err
    # a quarter with no published night: one line, exit 1, nothing written
    assert vigil(["review", "--quarter", "2026Q1", "--warehouse", str(wh), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "out" / "reviews").exists()


def test_plan_and_approve_before_any_night_are_one_line_errors(tmp_path, capsys, no_vigil_env):
    wh = tmp_path / "wh.duckdb"
    assert vigil(["init", "--warehouse", str(wh)]) == 0
    capsys.readouterr()
    assert vigil(["plan", "--date", "2026-03-02", "--warehouse", str(wh), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no plan for 2026-03-02") and err.count("\n") == 1
    assert vigil(["approve", "--date", "2026-03-02", "--reason", "x", "--by", "y", "--warehouse", str(wh)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: not approved:") and err.count("\n") == 1


def test_a_busy_duckdb_warehouse_is_one_line_exit_4(tmp_path, capsys, no_vigil_env, monkeypatch):
    """`vigil review` (or any command) while another process writes the DuckDB file past the lock wait."""
    monkeypatch.setenv("VIGIL_LOCK_WAIT_SECONDS", "1")
    wh = tmp_path / "wh.duckdb"
    assert vigil(["init", "--warehouse", str(wh)]) == 0
    capsys.readouterr()
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
                               "print('held', flush=True); time.sleep(60)", str(wh)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert vigil(["review", "--quarter", "2026Q1", "--warehouse", str(wh), "--out", str(tmp_path / "out")]) == 4
    finally:
        holder.kill()
        holder.wait()
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("warehouse busy:") and "waited 1 s" in err


# --------------------------------------------------------------------------- the run's final message (issue 19.9)


def _summary(*steps, counts=None) -> dict:
    return {"run_date": "2026-03-07", "status": "failed", "error": "IO Error: Could not set lock on file",
            "steps": [{"name": s, "counts": (counts or {}).get(s, {})} for s in steps]}


PRE = ["extract hr", "load hr", "audit raw", "dbt build", "audit publish", "circuit breakers"]


def test_a_night_that_failed_before_publish_says_nothing_was_published():
    assert completed_steps(_summary(*PRE)).startswith("Nothing was published")


def test_a_night_that_failed_at_delivery_says_it_published_and_created_tickets():
    msg = completed_steps(_summary(*PRE, "publish", "close tickets", "create tickets",
                                   counts={"create tickets": {"created": 7, "unchanged": 2}}))
    assert "Nothing was published" not in msg
    assert msg.startswith("Completed: published: yes; tickets created: 7; delivered: no — rerun `vigil deliver`")


def test_a_night_that_failed_at_ticket_creation_or_alerts_says_so():
    at_create = completed_steps(_summary(*PRE, "publish", "close tickets"))
    assert at_create.startswith("Completed: published: yes; tickets created: no — rerun `vigil run --date 2026-03-07`")
    at_alerts = completed_steps(_summary(*PRE, "publish", "close tickets", "create tickets", "deliver tickets",
                                         counts={"create tickets": {"created": 0}}))
    assert "tickets created: 0; delivered: yes; alerts sent: no" in at_alerts


# --------------------------------------------------------------------------- status and help (issue 18.12)


def _write_run(out: Path, date: str, status: str, error: str | None = None, steps=(), failed_step=None) -> Path:
    path = out / "runs" / date / "summary.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"run_date": date, "run_id": f"manual__{date}", "ok": status == "published",
                                "status": status, "error": error, "failed_step": failed_step,
                                "steps": [{"name": s, "warnings": [], "counts": {}} for s in steps]}))
    return path


def test_status_shows_each_nights_last_run_why_and_where_and_writes_nothing(tmp_path, capsys, no_vigil_env):
    out = tmp_path / "out"
    _write_run(out, "2026-03-01", "held", "HOLD on 2026-03-01: 40 planned revocations exceed the threshold")
    _write_run(out, "2026-03-02", "published", steps=[*PRE, "publish"])
    _write_run(out, "2026-03-03", "failed", "Could not set lock on file", steps=[*PRE, "publish", "close tickets",
                                                                              "create tickets"],
               failed_step="deliver tickets")
    before = _tree(tmp_path)
    assert vigil(["status", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert _tree(tmp_path) == before
    lines = printed.splitlines()
    assert [ln.split()[:2] for ln in lines if not ln.startswith(" ")] == [
        ["2026-03-01", "held"], ["2026-03-02", "published"], ["2026-03-03", "failed"]]
    assert "why:  HOLD on 2026-03-01" in printed and "vigil approve --date 2026-03-01" in printed
    assert "failed at deliver tickets: Could not set lock on file" in printed
    assert "published: yes; tickets created: 0; delivered: no" in printed
    assert f"where: {out / 'runs' / '2026-03-03' / 'summary.json'}" in printed
    assert vigil(["status", "--out", str(out), "--date", "2026-03-02"]) == 0
    assert "2026-03-01" not in capsys.readouterr().out
    assert vigil(["status", "--out", str(out), "--date", "2026-03-04"]) == 2


def _subparsers(parser: argparse.ArgumentParser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield name, sub
                for inner, deeper in _subparsers(sub):
                    yield f"{name} {inner}", deeper


def test_every_command_and_option_has_a_one_line_help():
    parser = build_parser()
    commands = dict(_subparsers(parser))
    assert {"init", "run", "backfill", "status", "plan", "approve", "deliver", "review", "import cfpb"} <= set(commands)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            assert all(c.help for c in action._choices_actions)
    for name, sub in commands.items():
        for action in sub._actions:
            if isinstance(action, argparse._SubParsersAction):
                continue
            assert action.help and "\n" not in action.help, (name, action.option_strings)


def test_review_help_lists_only_what_applies(capsys):
    assert vigil(["review", "--help"]) == 0
    text = capsys.readouterr().out
    assert "--quarter" in text and "--warehouse" in text and "--out" in text
    for other in ("--landing", "--source", "--demo", "--delivery-config", "--alerting-config", "--create-warehouse"):
        assert other not in text, other


# --------------------------------------------------------------------------- after `make demo` (issue 18.6, 18.7)


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    """scripts/demo.sh (what `make demo` runs) at the tiny scale for two nights, the second with the
    demo's drill (DEMO_DRILL_DAY; make demo's is the third night), in a fresh directory laid out like
    a clone: demo/, config/ and .venv/ side by side. The script's output is kept in demo.stdout."""
    base = tmp_path_factory.mktemp("after-make-demo")
    (base / ".venv").symlink_to(BIN.parent)
    (base / "config").symlink_to(REPO / "config")  # the demo's delivery config, as the README exports it
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    env.update(BIN=str(BIN), DEMO=str(base / "demo"), DEMO_SCALE="tiny", DEMO_START="2026-03-01", DEMO_END="2026-03-02",
               DEMO_DRILL_DAY=DEMO_DRILL)
    done = subprocess.run(["bash", str(REPO / "scripts" / "demo.sh")], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "export VIGIL_LANDING=" in done.stdout
    (base / "demo.stdout").write_text(done.stdout, encoding="utf-8")
    return base


DEMO_DRILL = "2026-03-02"


def _texts(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text(encoding="utf-8", errors="replace")
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_the_demos_drill_is_followed_into_the_dry_run_sink_only_and_counts_in_no_kpi(demo):
    out = demo / "demo" / "out"
    drill_id, leaver = f"DRILL-{DEMO_DRILL.replace('-', '')}-01", f"DRILL-E{DEMO_DRILL.replace('-', '')}-01"
    assert f"drill {drill_id} planned for night {DEMO_DRILL}" in (demo / "demo.stdout").read_text()
    assert f"The demo's drill (night {DEMO_DRILL}" in (demo / "demo.stdout").read_text()
    result = json.loads((out / "drills" / DEMO_DRILL / "result.json").read_text())
    assert result["drill_id"] == drill_id
    seconds = result["seconds_from_start"]
    assert all(seconds[s] is not None and seconds[s] >= 0 for s in seconds), seconds  # every step reached
    sink = _texts(out / "drills" / "sink")  # ticket, case and alerts: the dry-run sink
    for where in (f"AD/{DEMO_DRILL}/", f"cases/{DEMO_DRILL}/", f"alerts/{DEMO_DRILL}/alerts.jsonl"):
        assert any(name.startswith(where) and leaver in text for name, text in sink.items()), (where, list(sink))
    real = _texts(out / "filedrop") | _texts(out / "mail")  # the demo's real channels: file drops, SMTP sink
    assert real and not [name for name, text in real.items() if "DRILL-" in text]
    con = duckdb.connect(str(demo / "demo" / "warehouse" / "vigil.duckdb"), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM marts.fct_leaver_revocations WHERE is_drill").fetchone()[0] >= 1
        assert con.execute("SELECT count(*) FROM marts.fct_post_termination_logins WHERE employee_id = ?",
                           [leaver]).fetchone()[0] >= 1
        # no KPI counts it: post-termination logins are the real ones only, in the quarter and every day
        real_logins = con.execute("SELECT count(*) FROM marts.fct_post_termination_logins "
                                  "WHERE employee_id NOT LIKE 'DRILL-%'").fetchone()[0]
        assert con.execute("SELECT numerator FROM marts.fct_kpi_values WHERE kpi = 'post_termination_logins' "
                           "AND period_type = 'quarter' AND period_start = DATE '2026-01-01'").fetchone()[0] \
            == real_logins
    finally:
        con.close()
    # the review pack's Drills table lists it, every step reached
    assert vigil(["review", "--quarter", "2026Q1", "--warehouse", str(demo / "demo" / "warehouse" / "vigil.duckdb"),
                  "--out", str(out)]) == 0
    assert _drills_sheet(out / "reviews" / "2026Q1" / "review_pack.xlsx") == {drill_id: (DEMO_DRILL, True)}


def _drills_sheet(path: Path) -> dict:
    """The pack's Drills sheet: drill_id -> (night, every step reached)."""
    import openpyxl

    rows = list(openpyxl.load_workbook(path, read_only=True)["Drills"].iter_rows(values_only=True))
    header = next(i for i, r in enumerate(rows) if r and r[0] == "drill_id")
    names = rows[header]
    steps = [i for i, n in enumerate(names) if n and str(n).startswith("min_to_")]
    return {r[0]: (r[names.index("night")].date().isoformat(), all(r[i] is not None for i in steps))
            for r in rows[header + 1:] if r and r[0]}


def _readme_block(marker: str) -> str:
    text = (REPO / "README.md").read_text()
    start = text.index(marker)
    block = re.search(r"```bash\n(.*?)```", text[start:], re.S)
    return block.group(1)


@pytest.mark.slow
def test_readme_commands_after_make_demo_succeed_as_written(demo):
    script = _readme_block("<!-- tested by tests/cli/test_cli.py: after make demo -->")
    assert "VIGIL_WAREHOUSE=demo/warehouse/vigil.duckdb" in script and "vigil review --quarter 2026Q1" in script
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    env.pop("COLUMNS", None)
    done = subprocess.run(["bash", "-euxc", script], cwd=demo, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    assert (demo / "demo" / "out" / "reviews" / "2026Q1" / "review_pack.pdf").exists()
    assert not (demo / "warehouse").exists() and not (demo / "vigil_out").exists()  # defaults never touched


def _args(demo_warehouse) -> list[str]:
    s = demo_warehouse.settings
    return ["--warehouse", s.warehouse, "--out", str(s.out)]


def test_plan_shows_an_earlier_night_as_its_run_recorded_it(demo_warehouse, capsys, monkeypatch):
    """The candidate tables hold the last night; the first (held, approved, rerun) comes from its record."""
    monkeypatch.delenv("COLUMNS", raising=False)
    first, last = demo_warehouse.start, demo_warehouse.last
    assert first in demo_warehouse.held
    before = _tree(Path(demo_warehouse.settings.out))
    assert vigil(["plan", "--date", first.isoformat(), "--json", *_args(demo_warehouse)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["breakers"]["status"] == "released" and doc["breakers"]["approval"]["approved_by"] == "fixture"
    assert doc["source"].startswith("as recorded by run") and len(doc["tickets"]) > 10
    assert vigil(["plan", "--date", first.isoformat(), *_args(demo_warehouse)]) == 0
    printed = capsys.readouterr().out
    assert all(len(line) <= 80 for line in printed.splitlines()), max(printed.splitlines(), key=len)
    for t in doc["tickets"]:  # never cut: every ticket id and due date appears whole
        assert t["ticket_id"] in printed and t["due_by"] in printed
    assert "None" not in printed
    never = first - dt.timedelta(days=1)
    assert vigil(["plan", "--date", never.isoformat(), *_args(demo_warehouse)]) == 2
    assert f"no plan for {never}" in capsys.readouterr().err
    assert _tree(Path(demo_warehouse.settings.out)) == before


def test_plan_without_a_record_evaluates_the_candidate_built_for_that_night(demo_warehouse, tmp_path, capsys):
    copy = tmp_path / "wh.duckdb"
    shutil.copy(demo_warehouse.settings.warehouse, copy)
    args = ["--warehouse", str(copy), "--out", str(tmp_path / "other-out")]
    assert vigil(["plan", "--date", demo_warehouse.last.isoformat(), *args]) == 0
    assert "evaluated now on publish_candidate" in capsys.readouterr().out
    assert vigil(["plan", "--date", demo_warehouse.start.isoformat(), *args]) == 2  # built for another night
    assert "the candidate tables were built for" in capsys.readouterr().err
    assert not (tmp_path / "other-out").exists()


def test_approve_of_a_night_that_is_not_held_is_one_line_exit_1(demo_warehouse, capsys):
    last = demo_warehouse.last.isoformat()
    assert vigil(["approve", "--date", last, "--reason", "x", "--by", "y", *_args(demo_warehouse)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: not approved: {last} is not held") and err.count("\n") == 1
