"""The urgent path (issue 24): an HR event freezes access the same day, with the night's safeguards.

The estate is a published raw HR + IAM snapshot (tests/fixtures/events.py); no dbt needed here.
The nightly interplay (no second ticket, reconciliation, contradiction) is in
tests/pipeline/test_urgent_nightly.py."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from fixtures.events import NOW, SNAPSHOT, TODAY, build_estate, event, write_event
from fixtures.tickets import ScimServer, query, write_config
from vigil.actions import urgent
from vigil.actions.tickets import model
from vigil.config import Settings
from vigil.ingest import events as ev

TOKEN = "scim-test-token-0123456789"


@pytest.fixture
def estate(tmp_path) -> Settings:
    s = Settings(landing=str(tmp_path / "landing"), warehouse=str(tmp_path / "wh" / "vigil.duckdb"),
                 out=tmp_path / "out", mode="demo")
    build_estate(s.warehouse)
    return s


def folder(s: Settings):
    return ev.events_dir(s.landing)


def react(s: Settings, *events_: dict, policy=None, now=NOW, **kw) -> dict:
    files = [write_event(folder(s), e) for e in events_]
    return urgent.react_files(s, files, via="test", now=now, policy=policy or urgent.Policy(), **kw)


def tickets(s: Settings, employee_id: str | None = None) -> list[dict]:
    where = f"WHERE employee_id = '{employee_id}'" if employee_id else ""
    try:
        return query(s.warehouse, f"SELECT ticket_id, kind, system, account_ids, actions, run_date, status "
                                  f"FROM tickets.tickets {where} ORDER BY system")
    except Exception:  # no ticket table yet: nothing was ever issued
        return []


# --------------------------------------------------------------------------- each kind


@pytest.mark.parametrize("kind", ["dismissal", "termination", "rehire_cancel"])
def test_a_departure_disables_every_account_with_the_nightly_rules_ticket_ids(estate, kind):
    out = react(estate, event("ev-1", kind, "E100"))
    assert [a["event_id"] for a in out["acted"]] == ["ev-1"]
    rows = tickets(estate, "E100")
    assert [(r["kind"], r["system"], json.loads(r["account_ids"])) for r in rows] == [
        ("leaver_revocation", "AD", ["ad-100"]), ("leaver_revocation", "Payments", ["pay-100"])]
    ad = json.loads(rows[0]["actions"])
    assert {"action": "disable_account", "account_id": "ad-100"} in ad
    assert {a.get("entitlement") for a in ad} == {None, "staff", "domain_admin"}
    # the same id the nightly AL-01 rule gives the same facts (termination day = the event's UTC date)
    assert rows[0]["ticket_id"] == model.ticket_id_for("AL-01", "E100", "AD", ["ad-100"], TODAY, "2026.11-1")
    assert all(r["run_date"] == TODAY for r in rows)
    lines = (estate.out / "tickets" / TODAY.isoformat() / "revocations.jsonl").read_text().splitlines()
    assert sorted(json.loads(x)["ticket_id"] for x in lines) == sorted(r["ticket_id"] for r in rows)
    logged = {r["event"] for r in query(estate.warehouse, "SELECT event FROM audit.audit_log WHERE subject = 'E100'")}
    assert {"urgent_received", "urgent_planned", "urgent_acted", "created"} <= logged


@pytest.mark.parametrize("kind", ["resignation", "notice_given"])
def test_notice_freezes_only_privileged_entitlements(estate, kind):
    out = react(estate, event("ev-2", kind, "E200"))
    assert [a["event_id"] for a in out["acted"]] == ["ev-2"]
    rows = tickets(estate, "E200")
    assert [(r["kind"], r["system"]) for r in rows] == [("notice_restriction", "AD"), ("notice_restriction", "Treasury")]
    actions = [a for r in rows for a in json.loads(r["actions"])]
    assert {(a["action"], a["entitlement"]) for a in actions} == {("remove_entitlement", "fw_admin"),
                                                                   ("remove_entitlement", "fx_trade")}
    assert rows[0]["ticket_id"] == model.ticket_id_for("AL-02", "E200", "AD", ["ad-200"], TODAY, "2026.11-1")


def test_leave_start_is_recorded_and_freezes_nothing(estate):
    out = react(estate, event("ev-3", "leave_start", "E400"))
    assert out["acted"] == [] and [a["event_id"] for a in out["no_action"]] == ["ev-3"]
    assert "leave start" in out["no_action"][0]["reason"]
    assert tickets(estate) == []
    assert query(estate.warehouse, "SELECT status FROM urgent.events")[0]["status"] == "no_action"


def test_an_employee_with_no_enabled_account_needs_nothing(estate):
    out = react(estate, event("ev-4", "dismissal", "E500"))
    assert [a["event_id"] for a in out["no_action"]] == ["ev-4"] and tickets(estate) == []


def test_an_event_effective_later_waits_and_a_later_sweep_acts(estate):
    later = event("ev-5", "dismissal", "E100", effective_at="2026-03-03T17:00:00Z")
    out = react(estate, later)
    assert [a["event_id"] for a in out["waiting"]] == ["ev-5"] and tickets(estate) == []
    out = urgent.react_pending(estate, via="test", now=NOW.replace(hour=17, minute=1), policy=urgent.Policy())
    assert [a["event_id"] for a in out["acted"]] == ["ev-5"] and len(tickets(estate, "E100")) == 2


def test_the_same_event_twice_is_acted_on_once_and_a_reused_id_is_refused(estate):
    react(estate, event("ev-6", "dismissal", "E100"))
    again = urgent.react_pending(estate, via="test", now=NOW, policy=urgent.Policy())
    assert again["acted"] == [] and again["already"] == ["ev-6"]
    other = dict(event("ev-6", "dismissal", "E200"))
    out = react(estate, other) if False else urgent.react_files(
        estate, [write_event(folder(estate), other, name="ev-6-b.json")], via="test", now=NOW, policy=urgent.Policy())
    assert out["acted"] == [] and "already received with other facts" in out["errors"][0]
    assert (folder(estate) / "dead_letter" / "ev-6-b.json.reason.json").exists()
    assert tickets(estate, "E200") == []
    assert len(tickets(estate, "E100")) == 2


# --------------------------------------------------------------------------- bad events


BAD = [
    ('{"event_id": "b1", "kind": "dismissal",\n "employee_id": "E100" "effective_at": 1}', 2, "not valid JSON"),
    (json.dumps({k: v for k, v in event("b2", "dismissal", "E100").items() if k != "reported_at"}),
     1, "missing required field(s): reported_at"),
    (json.dumps(dict(event("b3", "dismissal", "E100"), full_name="Anna Smith")), 1, "unknown field(s) full_name"),
    (json.dumps(event("b4", "fired", "E100")), 1, "kind: not one of"),
    (json.dumps(event("b5", "dismissal", "E100", effective_at="03/03/2026 09:00")), 1, "effective_at: not an RFC 3339"),
    (json.dumps(event("b6", "dismissal", "E100", effective_at="2026-02-30T09:00:00Z")), 1, "not a real date"),
    (json.dumps(event("b7", "dismissal", "Anna Smith")), 1, "employee_id: must be letters"),
    ("[1, 2]", 1, "an event must be a JSON object"),
    ("", 1, "no event in the file"),
]


@pytest.mark.parametrize("text,line,reason", BAD, ids=[b[2][:24] for b in BAD])
def test_a_bad_event_is_dead_lettered_with_file_line_column_and_never_acted_on(estate, text, line, reason):
    path = write_event(folder(estate), text, name="bad.json")
    out = urgent.react_files(estate, [path], via="test", now=NOW, policy=urgent.Policy())
    assert out["acted"] == [] and tickets(estate) == []
    assert len(out["errors"]) == 1
    message = out["errors"][0]
    assert message.startswith(f"{path}:{line}:") and reason in message
    assert "Anna Smith" not in message  # the rule, never the value (it may be personal data)
    kept = folder(estate) / "dead_letter" / "bad.json"
    assert kept.read_text() == text and not path.exists()
    why = json.loads((folder(estate) / "dead_letter" / "bad.json.reason.json").read_text())
    assert why["line"] == line and why["column"] >= 1 and reason in why["reason"]
    assert ev.event_files(estate.landing) == []  # the next sweep does not see it again


def test_a_bad_line_of_a_jsonl_file_is_dead_lettered_and_the_good_lines_act(estate):
    good1, good2 = json.dumps(event("j1", "dismissal", "E100")), json.dumps(event("j3", "resignation", "E200"))
    path = write_event(folder(estate), "\n".join([good1, '{"event_id": "j2", "kind": "dismissal"}', good2]) + "\n",
                       name="batch.jsonl")
    out = urgent.react_files(estate, [path], via="test", now=NOW, policy=urgent.Policy())
    assert sorted(a["event_id"] for a in out["acted"]) == ["j1", "j3"]
    assert out["errors"] == [f"{path}:2:1: missing required field(s): effective_at, employee_id, reported_at, source"]
    assert (folder(estate) / "dead_letter" / "batch.line2.json").read_text() == '{"event_id": "j2", "kind": "dismissal"}'
    assert path.exists()  # the file of the good events stays the record


# --------------------------------------------------------------------------- safeguards


def many_estate(tmp_path, n: int) -> Settings:
    s = Settings(landing=str(tmp_path / "landing"), warehouse=str(tmp_path / "wh" / "vigil.duckdb"),
                 out=tmp_path / "out", mode="demo")
    build_estate(s.warehouse, employees={f"R{i}": ("active", None, None) for i in range(n)},
                 accounts=[("AD", f"ad-r{i}", f"R{i}", False, [("staff", False)]) for i in range(n)])
    return s


@pytest.mark.parametrize("burst,held", [(2, False), (3, False), (4, True)])
def test_event_rate_breaker_holds_a_burst_above_the_limit_with_one_alert(tmp_path, burst, held):
    s = many_estate(tmp_path, 6)
    out = react(s, *[event(f"r{i}", "dismissal", f"R{i}") for i in range(burst)],
                policy=urgent.Policy(max_events_per_hour=3))
    assert len(out["held"]) == (burst if held else 0) and len(out["acted"]) == (0 if held else burst)
    assert len(tickets(s)) == (0 if held else burst)
    alerts = query(s.warehouse, "SELECT kind, severity FROM audit.alerts_sent") if held else []
    assert alerts == ([{"kind": "urgent_hold", "severity": "critical"}] if held else [])


@pytest.mark.parametrize("acted_before,held", [(2, False), (3, True)])
def test_event_rate_breaker_counts_the_events_acted_on_in_the_last_hour(tmp_path, acted_before, held):
    s = many_estate(tmp_path, 6)
    policy = urgent.Policy(max_events_per_hour=3)
    for i in range(acted_before):
        react(s, event(f"r{i}", "dismissal", f"R{i}"), policy=policy, now=NOW - dt.timedelta(minutes=50 - i))
    out = react(s, event("r5", "dismissal", "R5"), policy=policy)
    assert (len(out["held"]), len(out["acted"])) == ((1, 0) if held else (0, 1))
    # an hour later the window has moved on
    later = urgent.react_pending(s, via="test", now=NOW + dt.timedelta(minutes=15), policy=policy)
    assert [a["event_id"] for a in later["acted"]] == (["r5"] if held else [])


@pytest.mark.parametrize("limit,held", [(29, True), (30, False), (31, False)])
def test_size_breaker_holds_one_event_covering_more_accounts_than_the_limit(estate, limit, held):
    out = react(estate, event("s1", "dismissal", "E600"), policy=urgent.Policy(max_accounts=limit))
    assert (len(out["held"]), len(out["acted"])) == ((1, 0) if held else (0, 1))
    if held:
        assert "covers 30 accounts, more than the limit of 29" in out["held"][0]["reason"]


def test_an_approval_releases_exactly_the_plan_a_person_saw(estate):
    policy = urgent.Policy(max_accounts=5)
    held = react(estate, event("s2", "dismissal", "E600"), policy=policy)["held"][0]
    out = urgent.react_pending(estate, via="test", now=NOW, policy=policy)
    assert out["held"] and out["acted"] == []  # a sweep alone does not release it
    out = urgent.react_files(estate, [folder(estate) / "s2.json"], via="test", now=NOW, policy=policy,
                             approved_by="A. Officer", approval_reason="confirmed with HR")
    assert [a["event_id"] for a in out["acted"]] == ["s2"]
    assert [len(json.loads(t["account_ids"])) for t in tickets(estate, "E600")] == [30]
    released = query(estate.warehouse, "SELECT actor, details FROM audit.audit_log WHERE event = 'urgent_released'")
    assert released[0]["actor"] == "A. Officer"
    assert json.loads(released[0]["details"])["plan_fingerprint"] == held["plan_fingerprint"]


def test_an_event_the_last_hr_snapshot_contradicts_is_held(estate):
    # effective before the end of the snapshot's day, which shows E100 active: HR disagrees
    out = react(estate, event("h1", "dismissal", "E100", effective_at="2026-03-01T12:00:00Z"))
    assert out["held"] and "HR disagrees" in out["held"][0]["reason"] and tickets(estate) == []


def test_an_event_the_last_hr_snapshot_agrees_with_acts(estate):
    out = react(estate, event("h2", "notice_given", "E300", effective_at="2026-03-02T09:00:00Z"))
    assert [a["event_id"] for a in out["acted"]] == ["h2"]
    assert [r["kind"] for r in tickets(estate, "E300")] == ["notice_restriction"]


def test_nothing_is_acted_on_without_a_published_night(tmp_path):
    s = Settings(landing=str(tmp_path / "landing"), warehouse=str(tmp_path / "wh" / "vigil.duckdb"),
                 out=tmp_path / "out", mode="demo")
    build_estate(s.warehouse, published=False)  # loaded, never published: unaudited
    out = react(s, event("p1", "dismissal", "E100"))
    assert out["held"] and "no published night" in out["held"][0]["reason"] and tickets(s) == []


@pytest.mark.postgres
def test_the_urgent_path_on_postgresql(pg_url, tmp_path):
    s = Settings(landing=str(tmp_path / "landing"), warehouse=pg_url, out=tmp_path / "out", mode="demo")
    build_estate(pg_url)
    out = react(s, event("pg-1", "dismissal", "E100"), event("pg-2", "leave_start", "E400"))
    assert [a["event_id"] for a in out["acted"]] == ["pg-1"] and [a["event_id"] for a in out["no_action"]] == ["pg-2"]
    assert [r["system"] for r in tickets(s, "E100")] == ["AD", "Payments"]
    again = urgent.react_pending(s, via="test", now=NOW, policy=urgent.Policy())
    assert sorted(again["already"]) == ["pg-1", "pg-2"] and again["acted"] == []


# --------------------------------------------------------------------------- vigil react, SCIM


def test_vigil_react_freezes_access_on_a_loopback_scim_server(estate, tmp_path, monkeypatch, capsys):
    from vigil.cli import main

    monkeypatch.setenv("TEST_SCIM_TOKEN", TOKEN)
    with ScimServer(token=TOKEN) as scim:
        ids = {a: scim.add_user(a) for a in ("ad-100", "pay-100")}
        config = write_config(tmp_path / "delivery.yml", {
            "version": 1, "defaults": {"max_attempts": 3, "backoff_base_seconds": 0.01, "timeout_seconds": 5},
            "channels": {"iam_scim": {"type": "scim", "base_url": scim.base_url, "token_env": "TEST_SCIM_TOKEN"}},
            "default": "iam_scim"})
        file = write_event(tmp_path / "from-hr", event("cli-1", "dismissal", "E100",
                                                       effective_at="2026-03-03T09:00:00Z"))
        code = main(["react", str(file), "--landing", estate.landing, "--warehouse", estate.warehouse,
                     "--out", str(estate.out), "--delivery-config", str(config)])
        printed = capsys.readouterr()
        assert code == 0, printed.err
        assert "cli-1 dismissal employee E100: 2 tickets" in printed.out
        assert all(scim.user(i)["active"] is False for i in ids.values())  # SCIM PATCH active=false accepted
        assert scim.count("PATCH", r"/Users/") >= 2
    assert (folder(estate) / "cli-1.json").exists()  # the landing folder keeps the record of truth
    statuses = {r["status"] for r in query(estate.warehouse, "SELECT status FROM tickets.tickets")}
    assert statuses == {"acknowledged"}  # SCIM answers confirm the change
    assert query(estate.warehouse, "SELECT status FROM urgent.events")[0]["status"] == "acted"


def test_vigil_react_exit_codes(estate, tmp_path, capsys):
    from vigil.cli import main

    args = ["--landing", estate.landing, "--warehouse", estate.warehouse, "--out", str(estate.out)]
    bad = write_event(tmp_path / "x", '{"event_id": "x1"', name="x1.json")
    assert main(["react", str(bad), *args]) == 1
    assert "bad event:" in capsys.readouterr().err
    assert main(["react", str(tmp_path / "missing.json"), *args]) == 2
    held = write_event(tmp_path / "x", event("x2", "dismissal", "E100", effective_at="2026-03-01T10:00:00Z"))
    assert main(["react", str(held), *args]) == 3
    assert main(["react", str(held), "--by", "A. Officer", *args]) == 2  # --by needs --reason
