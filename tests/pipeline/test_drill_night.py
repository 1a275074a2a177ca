"""One night with a drill, end to end (docs/drills.md): the drill's marked leaver goes through the real
rules, tickets, cases and alerts; everything it causes reaches the drill sink only, never the production
SCIM server or ITSM webhook (which do receive the real leaver's ticket); its timings are recorded; and the
revocation KPI is the same as on the same night without the drill. The same for an incident drill: its
synthetic severe incident goes through the incident case and the severe-incident alert, to the drill
sink only, and the incident KPIs are those of the night without it."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import duckdb
import pytest

from fixtures.nights import D, write_night
from fixtures.tickets import WEBHOOK_SECRET, ScimServer, WebhookConsumer, write_config
from vigil.ingest.drills import new_drill, write_drill
from vigil.pipeline import run_nightly

pytestmark = pytest.mark.slow
TOKEN = "scim-drill-token-0123456789"


def _kpis(warehouse: str) -> dict:
    con = duckdb.connect(warehouse, read_only=True)
    try:
        rows = con.execute("SELECT kpi, period_type, period_start, numerator, denominator FROM marts.fct_kpi_values "
                           "WHERE kpi IN ('revocation_timeliness', 'mean_hours_to_revoke', 'post_termination_logins') "
                           "ORDER BY ALL").fetchall()
        resp = con.execute("SELECT kpi, period_type, period_start, kind, owner_team, department, numerator, "
                           "denominator FROM marts.fct_response_kpis ORDER BY ALL").fetchall()
        incident = con.execute("SELECT kpi, period_type, period_start, numerator, denominator FROM marts.fct_kpi_values "
                               "WHERE kpi = 'incident_timeliness' ORDER BY ALL").fetchall()
        drills = con.execute("SELECT count(*) FROM marts.fct_leaver_revocations WHERE is_drill").fetchone()[0]
        drill_cases = con.execute("SELECT kind, count(*) FROM marts.fct_cases WHERE is_drill GROUP BY kind").fetchall()
        drill_incidents = con.execute("SELECT count(*) FROM marts.fct_incidents WHERE is_drill").fetchone()[0]
        return {"kpis": rows, "response": resp, "incident_kpis": incident, "drill_revocations": drills,
                "drill_cases": dict(drill_cases), "drill_incidents": drill_incidents}
    finally:
        con.close()


@pytest.fixture(scope="module")
def nights(tmp_path_factory):
    """The same minimal night run three times on fresh warehouses: without a drill, with a leaver drill,
    with an incident drill."""
    from vigil.config import Settings
    from fixtures.nights import TEST_KEY

    base = tmp_path_factory.mktemp("drill-night")
    out = {}
    with ScimServer(TOKEN) as scim, WebhookConsumer() as hook:
        import os
        os.environ["DRILL_TEST_SCIM_TOKEN"] = TOKEN
        os.environ["DRILL_TEST_WEBHOOK_SECRET"] = WEBHOOK_SECRET
        scim.add_user("u102")
        cfg = write_config(base / "delivery.yml", {
            "defaults": {"max_attempts": 2, "backoff_base_seconds": 0.01, "timeout_seconds": 5, "lease_seconds": 60},
            "channels": {
                "iam": {"type": "scim", "base_url": scim.base_url, "token_env": "DRILL_TEST_SCIM_TOKEN"},
                "itsm": {"type": "webhook", "url": hook.url, "secret_env": "DRILL_TEST_WEBHOOK_SECRET"},
                "drill_drop": {"type": "filedrop", "root": "drill-sink"}},
            "default": ["iam", "itsm"], "cases": {"default": ["itsm"]}, "drill": {"channels": ["drill_drop"]}})
        for name in ("plain", "drill", "incident"):
            s = Settings(landing=str(base / name / "landing"), warehouse=str(base / name / "vigil.duckdb"),
                         out=base / name / "out", mode="production", pseudonymisation_key=TEST_KEY,
                         duckdb_memory_limit="1GB", create_warehouse=True, delivery_config=cfg)
            write_night(Path(s.landing))
            if name != "plain":
                started = dt.datetime.now(dt.timezone.utc)
                write_drill(s.landing, new_drill(D, now=started, kind="leaver" if name == "drill" else "incident"))
            seen = (len(scim.requests), len(hook.received))
            summary = run_nightly(s, D)
            assert summary.ok, summary.error
            out[name] = {"settings": s, "summary": summary, "kpis": _kpis(s.warehouse),
                         "scim": scim.requests[seen[0]:], "hook": hook.received[seen[1]:]}
    return out


def assert_production_saw_nothing_of_the_drill(n: dict) -> None:
    """Production received the real leaver's ticket and case, and nothing of the drill."""
    assert n["scim"] and n["hook"]
    assert not any("DRILL-" in json.dumps(r, default=str) for r in n["scim"])
    assert not any(b"DRILL-" in r["body"] for r in n["hook"])


def drill_sink_files(s) -> dict[str, str]:
    """The drill sink's JSONL files by their first folder (a ticket's system, or cases)."""
    sink = Path(s.out) / "drill-sink"
    return {p.relative_to(sink).parts[0]: p.read_text() for p in sink.rglob("*.jsonl")}


def test_a_drill_night_reaches_the_drill_sink_only(nights):
    n = nights["drill"]
    s = n["settings"]
    assert_production_saw_nothing_of_the_drill(n)
    # the drill sink holds the drill's ticket and its case
    written = drill_sink_files(s)
    assert "DRILL-E20260302-01" in written.get("AD", "")  # the ticket, filed under its system
    assert "DRILL-E20260302-01" in written.get("cases", "")
    # the alert went to no production team (no alerting config): the dry-run sink
    sunk = (Path(s.out) / "drills" / "sink" / "alerts" / D.isoformat() / "alerts.jsonl").read_text()
    assert "DRILL-E20260302-01" in sunk
    # the night's production alerts (the go-live cases digest among them) name neither the drill nor its case
    drill_cases = {json.loads(line)["case_id"] for line in written["cases"].splitlines()
                   if line.strip() and "DRILL-" in line}
    assert drill_cases
    night = [json.loads(line) for line in (Path(s.out) / "alerts" / D.isoformat() / "alerts.jsonl").read_text().splitlines()]
    production = [a for a in night if a["status"] != "drill_sink"]
    assert any(a["kind"] == "cases_digest" for a in production)
    assert not any("DRILL-" in json.dumps(a) or drill_cases & set(a["facts"].get("case_ids", [])) for a in production)


def test_a_drill_night_records_each_step_time(nights):
    s = nights["drill"]["settings"]
    result = json.loads((Path(s.out) / "drills" / D.isoformat() / "result.json").read_text())
    assert result["drill_id"] == "DRILL-20260302-01" and result["kind"] == "leaver"
    assert all(result["steps"][k] for k in result["steps"]), result["steps"]
    secs = result["seconds_from_start"]
    assert 0 <= secs["detected"] <= secs["ticket_issued"] <= secs["ticket_delivered"]
    assert secs["case_opened"] <= secs["case_delivered"]


def test_a_drill_changes_no_kpi(nights):
    plain, drill = nights["plain"]["kpis"], nights["drill"]["kpis"]
    assert drill["drill_revocations"] >= 1 and drill["drill_cases"].get("leaver")  # the drill went through the rules
    assert plain["drill_revocations"] == 0 and plain["drill_cases"] == {}
    assert drill["kpis"] == plain["kpis"] and plain["kpis"]
    assert drill["response"] == plain["response"] and plain["response"]


def test_the_review_pack_shows_the_drill_in_its_drills_table_only(nights):
    from vigil.reports.data import gather
    from vigil.reports.quarter import Quarter

    packs = {name: gather(n["settings"].warehouse, Quarter.parse("2026Q1"), run_id="test")
             for name, n in nights.items() if name != "incident"}
    (row,) = packs["drill"].tables["Drills"].rows
    assert row[:3] == ("DRILL-20260302-01", "leaver", D)
    assert all(isinstance(m, float) and m >= 0 for m in row[4:]), row
    assert packs["plain"].tables["Drills"].rows == []
    for name in ("Response SLA", "Oldest open cases", "Response by department", "KPIs"):  # the real sections
        assert packs["drill"].tables[name].rows == packs["plain"].tables[name].rows, name


# --------------------------------------------------------------------------- an incident drill

INCIDENT = "DRILL-I20260302-01"


def test_an_incident_drill_reaches_the_drill_sink_only(nights):
    n = nights["incident"]
    s = n["settings"]
    assert_production_saw_nothing_of_the_drill(n)
    # the drill sink holds the incident's case (no ticket: an incident has none)
    written = drill_sink_files(s)
    assert INCIDENT in written.get("cases", "") and set(written) == {"cases"}
    case = next(json.loads(line) for line in written["cases"].splitlines() if INCIDENT in line)
    assert case["kind"] == "incident" and case["subject_id"] == INCIDENT
    # the severe-incident alert went to no production team (no alerting config): the dry-run sink
    sunk = [json.loads(line) for line in
            (Path(s.out) / "drills" / "sink" / "alerts" / D.isoformat() / "alerts.jsonl").read_text().splitlines()]
    assert any(a["kind"] == "incident_severe" and a["subject_id"] == INCIDENT for a in sunk)
    night = [json.loads(line) for line in (Path(s.out) / "alerts" / D.isoformat() / "alerts.jsonl").read_text().splitlines()]
    production = [a for a in night if a["status"] != "drill_sink"]
    assert production and not any("DRILL-" in json.dumps(a) for a in production)
    assert {a["subject_id"] for a in night if a["status"] == "drill_sink"} >= {INCIDENT}


def test_an_incident_drill_records_its_step_times_and_has_no_ticket(nights):
    s = nights["incident"]["settings"]
    result = json.loads((Path(s.out) / "drills" / D.isoformat() / "result.json").read_text())
    assert result["drill_id"] == "DRILL-20260302-01" and result["kind"] == "incident"
    steps = result["steps"]
    assert steps["ticket_issued"] is None and steps["ticket_delivered"] is None
    assert all(steps[k] for k in ("detected", "case_opened", "case_delivered", "alert_sent")), steps
    secs = result["seconds_from_start"]
    assert 0 <= secs["detected"] <= secs["case_opened"] <= secs["case_delivered"]
    assert not [w for w in nights["incident"]["summary"].warnings if "DRILL-20260302-01: no" in w]  # none missing


def test_an_incident_drill_changes_no_kpi(nights):
    plain, drill = nights["plain"]["kpis"], nights["incident"]["kpis"]
    assert drill["drill_incidents"] == 1 and drill["drill_cases"] == {"incident": 1}  # it went through the rules
    assert plain["drill_incidents"] == 0
    assert drill["incident_kpis"] == plain["incident_kpis"] and plain["incident_kpis"]
    assert drill["kpis"] == plain["kpis"] and drill["response"] == plain["response"]


def test_the_review_pack_shows_the_incident_drill_in_its_drills_table_only(nights):
    from vigil.reports.data import gather
    from vigil.reports.quarter import Quarter

    packs = {name: gather(nights[name]["settings"].warehouse, Quarter.parse("2026Q1"), run_id="test")
             for name in ("plain", "incident")}
    (row,) = packs["incident"].tables["Drills"].rows
    assert row[:3] == ("DRILL-20260302-01", "incident", D)
    minutes = dict(zip(packs["incident"].tables["Drills"].columns[4:], row[4:]))
    assert minutes["min_to_ticket"] is None and minutes["min_to_ticket_delivered"] is None
    assert all(isinstance(minutes[c], float) and minutes[c] >= 0
               for c in ("min_to_detect", "min_to_case", "min_to_case_delivered", "min_to_alert")), minutes
    for name in ("Incidents", "Response SLA", "Oldest open cases", "Response by department", "KPIs"):
        assert packs["incident"].tables[name].rows == packs["plain"].tables[name].rows, name
