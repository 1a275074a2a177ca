"""Ticket store (docs/tickets.md): plan = create, deterministic ids, transactional outbox, reruns,
refused payload changes, closure and the audit log - on DuckDB and on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from fixtures.tickets import Leaver, Notice, build_night, query, write_config
from vigil.store.audit import AUDIT_LOG, COLUMNS, append_audit_events, ensure_audit_log
from vigil.actions.tickets import (
    acknowledge_ticket, close_tickets, create_tickets, deliver_tickets, ensure_ticket_tables, plan_tickets,
)
from vigil.actions.tickets.model import ticket_id_for
from vigil.actions.tickets.store import outbox_id_for
from vigil.store.warehouse import Warehouse

D = dt.date(2026, 3, 2)
N2 = D + dt.timedelta(days=1)
UTC = dt.timezone.utc
NOW = dt.datetime(2026, 3, 3, 0, 30, tzinfo=UTC)

NIGHT = [
    Leaver("E100", "AD", "ad-100", ("staff", "vpn_access")),
    Leaver("E100", "AD", "ad-100b", ("staff",)),  # a second account on the same system: same ticket
    Leaver("E100", "Email", "mbx-100", ("mailbox",)),
    Leaver("E200", "Payments", "PAY-200", ("payment_approve", "payment_view"), privileged=("payment_approve",),
           priority="P1"),
]
NOTICES = [Notice("E300", "AD", "ad-300", "domain_admin"), Notice("E300", "AD", "ad-300", "schema_admin")]




@pytest.fixture
def drop_config(tmp_path):
    """Every system to a file drop: delivery without a server (store tests only)."""
    return write_config(tmp_path / "delivery.yml", {
        "defaults": {"max_attempts": 2, "backoff_base_seconds": 0.01, "lease_seconds": 60},
        "channels": {"drop": {"type": "filedrop", "root": "drops"}}, "default": ["drop"]})


def _schemas(url: str) -> set[str]:
    wh = Warehouse.open(url)
    with wh.connection() as con:
        return {r[0] for r in wh.fetchall(con, "SELECT DISTINCT table_schema FROM information_schema.tables")}


# --------------------------------------------------------------------------- ids and grouping


def test_ticket_id_is_a_hash_of_the_facts_and_every_fact_counts():
    facts = dict(rule_id="AL-01", employee_id="E1", system="AD", account_ids=["b", "a"],
                 event_date=dt.date(2026, 3, 1), policy_version="2026.11-1")
    tid = ticket_id_for(**facts)
    assert tid == ticket_id_for(**dict(facts, account_ids=["a", "b"]))  # order of accounts is not a fact
    assert tid == "VGL-" + __import__("hashlib").sha256(
        b'{"account_ids":["a","b"],"employee_id":"E1","event_date":"2026-03-01","policy_version":"2026.11-1",'
        b'"rule_id":"AL-01","system":"AD"}').hexdigest()[:32]
    changed = [dict(facts, rule_id="AL-02"), dict(facts, employee_id="E2"), dict(facts, system="Email"),
               dict(facts, account_ids=["a"]), dict(facts, event_date=dt.date(2026, 3, 2)),
               dict(facts, policy_version="2026.11-2")]
    assert len({ticket_id_for(**f) for f in changed} | {tid}) == 7


def test_one_ticket_per_kind_employee_and_system(url):
    build_night(url, D, NIGHT, NOTICES)
    plan = {(t["kind"], t["employee_id"], t["system"]): t for t in plan_tickets(url, D, "run-1", schema="publish")}
    assert set(plan) == {("leaver_revocation", "E100", "AD"), ("leaver_revocation", "E100", "Email"),
                         ("leaver_revocation", "E200", "Payments"), ("notice_restriction", "E300", "AD")}
    ad = plan[("leaver_revocation", "E100", "AD")]
    assert ad["account_ids"] == ["ad-100", "ad-100b"] and ad["account_id"] == "ad-100"
    assert ad["actions"] == [
        {"action": "disable_account", "account_id": "ad-100"},
        {"action": "remove_entitlement", "account_id": "ad-100", "entitlement": "staff", "privileged": False},
        {"action": "remove_entitlement", "account_id": "ad-100", "entitlement": "vpn_access", "privileged": False},
        {"action": "disable_account", "account_id": "ad-100b"},
        {"action": "remove_entitlement", "account_id": "ad-100b", "entitlement": "staff", "privileged": False},
    ]
    pay = plan[("leaver_revocation", "E200", "Payments")]
    # the rule's due times: privileged on the termination day, the rest the day after ...
    assert pay["priority"] == "P1" and pay["policy_due_by"] == "2026-03-01T23:59:59Z"
    assert ad["priority"] == "P2" and ad["policy_due_by"] == "2026-03-02T23:59:59Z"
    # ... but night D (03-02) runs at 00:00 of 03-03: no ticket is due before the end of D + 1 day
    assert pay["due_by"] == ad["due_by"] == "2026-03-03T23:59:59Z"
    notice = plan[("notice_restriction", "E300", "AD")]
    assert [a["action"] for a in notice["actions"]] == ["remove_entitlement", "remove_entitlement"]
    assert notice["rule_id"] == "AL-02" and notice["event_date"] == "2026-02-20"
    assert set(notice["evidence"]["source_keys"]) == {"AL-02:AD:ad-300:domain_admin", "AL-02:AD:ad-300:schema_admin"}
    ledger = {r["source_file"]: r["source_sha256"] for r in query(url, "SELECT * FROM raw._vigil_loads")
              if r["feed"] in ("hr", "iam")}
    assert ad["evidence"]["input_hashes"] == ledger and len(ledger) == 3  # HR + IAM files, not CRM


def test_a_ticket_is_never_due_before_vigil_could_act_on_it():
    """Issue 18 item 5: the nightly run for D starts at 00:00 UTC of D+1, so a rule due at 23:59:59
    of D (a notice-day freeze, a privileged leaver) was overdue when its ticket was born. due_by is
    the rule's due time, but never before 23:59:59 UTC of D + ticket_grace_days (1)."""
    from vigil.actions.tickets.model import actionable_due, ticket_grace_days

    floor = dt.datetime(2026, 3, 3, 23, 59, 59, tzinfo=UTC)  # night D = 03-02, grace 1 day
    second = dt.timedelta(seconds=1)
    assert actionable_due(floor - second, D, 1) == floor            # due before the floor: the floor
    assert actionable_due(dt.datetime(2026, 3, 2, 23, 59, 59, tzinfo=UTC), D, 1) == floor  # due on D itself
    assert actionable_due(floor, D, 1) == floor                     # at the floor: unchanged
    assert actionable_due(floor + second, D, 1) == floor + second   # later: the rule's own time
    assert actionable_due(floor, D, 2) == floor + dt.timedelta(days=1)
    assert ticket_grace_days() == 1  # the policy default (dbt_project.yml vars)


def test_the_ticket_grace_must_be_at_least_a_day(tmp_path):
    from vigil.actions.tickets.model import ticket_grace_days

    for bad in (0, -1, "1", 1.5, True):
        (tmp_path / "dbt_project.yml").write_text(json.dumps({"vars": {"ticket_grace_days": bad}}))
        with pytest.raises(ValueError, match="ticket_grace_days must be a whole number of days >= 1"):
            ticket_grace_days(tmp_path)
    (tmp_path / "dbt_project.yml").write_text(json.dumps({"vars": {"ticket_grace_days": 2}}))
    assert ticket_grace_days(tmp_path) == 2


# --------------------------------------------------------------------------- plan = create; reruns


def test_plan_has_no_side_effects_and_a_run_creates_exactly_the_plan(url, tmp_path):
    build_night(url, D, NIGHT, NOTICES)
    before = _schemas(url)
    plan = plan_tickets(url, D, "run-1", schema="publish")
    assert _schemas(url) == before and "tickets" not in before and "audit" not in before  # nothing created
    result = create_tickets(url, D, "run-1", out=tmp_path / "out", now=NOW)
    assert result["created"] == len(plan) == 4
    stored = {json.loads(r["payload"])["ticket_id"]: json.loads(r["payload"])
              for r in query(url, "SELECT payload FROM tickets.tickets")}
    assert set(stored) == {t["ticket_id"] for t in plan}
    for t in plan:
        assert stored[t["ticket_id"]] == dict(t, created_at="2026-03-03T00:30:00Z")
    # once created, tonight's plan is empty (the breaker counts len(plan))
    assert plan_tickets(url, D, "run-1", schema="publish") == []


def test_rerun_of_the_same_night_creates_nothing_and_rewrites_nothing(url, tmp_path, drop_config):
    build_night(url, D, NIGHT, NOTICES)
    out = tmp_path / "out"
    first = create_tickets(url, D, "run-1", out=out, config_path=drop_config, now=NOW)
    files = [out / "tickets" / "2026-03-02" / n for n in ("revocations.jsonl", "revocations.csv")]
    snapshot = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in files}
    counts = {t: query(url, f"SELECT count(*) AS n FROM {t}")[0]["n"]
              for t in ("tickets.tickets", "tickets.outbox", "audit.audit_log")}
    again = create_tickets(url, D, "run-2", out=out, config_path=drop_config, now=NOW + dt.timedelta(hours=1))
    assert first["created"] == 4 and first["outbox"] == 4
    assert again["created"] == 0 and again["outbox"] == 0 and again["unchanged"] == 4 and again["refused"] == []
    assert {t: query(url, f"SELECT count(*) AS n FROM {t}")[0]["n"] for t in counts} == counts
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in files} == snapshot  # same bytes, not rewritten
    lines = files[0].read_text().splitlines()
    assert [json.loads(line)["ticket_id"] for line in lines] == sorted(json.loads(line)["ticket_id"] for line in lines)
    assert len(files[1].read_text().splitlines()) == 1 + 4


def test_tickets_and_outbox_rows_are_written_in_one_transaction(url, tmp_path, drop_config):
    build_night(url, D, NIGHT[:1])
    tid = plan_tickets(url, D, "run-1", schema="publish")[0]["ticket_id"]
    wh = Warehouse.open(url)
    with wh.transaction() as con:  # an outbox row already holding the id the new one needs
        ensure_ticket_tables(wh, con)
        con.execute("INSERT INTO tickets.outbox VALUES (%s, 'x', 'filedrop', 'drop', 'AD', %s, 'k', 's', %s, "
                    "'delivered', 1, %s, NULL, NULL)", (outbox_id_for(tid, "drop"), D, NOW, NOW))
    with pytest.raises(Exception):
        create_tickets(url, D, "run-1", out=tmp_path / "out", config_path=drop_config, now=NOW)
    assert query(url, "SELECT count(*) AS n FROM tickets.tickets")[0]["n"] == 0
    assert "audit_log" not in {t.split(".")[1] for t in _tables(url, "audit")}


def _tables(url, schema):
    wh = Warehouse.open(url)
    with wh.connection() as con:
        return wh.list_tables(con, (schema,))


def test_without_a_delivery_config_tickets_are_created_unrouted(url, tmp_path, monkeypatch):
    monkeypatch.delenv("VIGIL_DELIVERY_CONFIG", raising=False)
    build_night(url, D, NIGHT[:2])
    result = create_tickets(url, D, "run-1", out=tmp_path / "out", now=NOW)
    assert result["created"] == 1 and result["outbox"] == 0 and len(result["unrouted"]) == 1
    assert query(url, "SELECT count(*) AS n FROM tickets.outbox")[0]["n"] == 0
    from vigil.pipeline import undelivered_warnings

    system = next(iter(result["unrouted_systems"]))
    assert undelivered_warnings(result) == [  # the run output says so plainly
        f"tickets created but not delivered: no channel for system {system} (1 ticket; no delivery "
        "configuration: --delivery-config or VIGIL_DELIVERY_CONFIG)"]


def test_a_system_without_a_channel_is_unrouted_when_there_is_no_default(url, tmp_path):
    cfg = write_config(tmp_path / "d.yml", {"channels": {"drop": {"type": "filedrop"}}, "systems": {"AD": ["drop"]}})
    build_night(url, D, NIGHT)
    result = create_tickets(url, D, "run-1", out=tmp_path / "out", config_path=cfg, now=NOW)
    routed = {r["system"] for r in query(url, "SELECT system FROM tickets.outbox")}
    assert routed == {"AD"} and len(result["unrouted"]) == 2  # Email and Payments
    from vigil.pipeline import undelivered_warnings

    assert undelivered_warnings(result) == [
        "tickets created but not delivered: no channel for system Email (1 ticket)",
        "tickets created but not delivered: no channel for system Payments (1 ticket)"]


# --------------------------------------------------------------------------- the next nights


def test_progress_on_a_ticket_is_not_a_new_ticket(url, tmp_path):
    build_night(url, D, [Leaver("E1", "AD", "a1", ("staff", "vpn_access"))])
    create_tickets(url, D, "run-1", out=tmp_path / "out", now=NOW)
    # next night: vpn_access already removed, the account still enabled
    build_night(url, N2, [Leaver("E1", "AD", "a1", ("staff",))])
    assert plan_tickets(url, N2, "run-2", schema="publish") == []
    result = create_tickets(url, N2, "run-2", out=tmp_path / "out", now=NOW)
    assert result["created"] == 0 and result["unchanged"] == 1 and result["refused"] == []


def test_a_changed_payload_under_an_issued_ticket_is_refused_and_alerted_once(url, tmp_path):
    build_night(url, D, [Leaver("E1", "AD", "a1", ("staff",))])
    first = create_tickets(url, D, "run-1", out=tmp_path / "out", now=NOW)
    issued = query(url, "SELECT ticket_id, payload FROM tickets.tickets")[0]
    # next night the leaver's account shows a new entitlement: not a second ticket, an alert
    build_night(url, N2, [Leaver("E1", "AD", "a1", ("staff", "domain_admin"))])
    assert plan_tickets(url, N2, "run-2", schema="publish") == []
    result = create_tickets(url, N2, "run-2", out=tmp_path / "out", now=NOW)
    assert result["created"] == 0 and result["outbox"] == 0
    assert [(r["existing_ticket_id"], r["employee_id"], r["system"]) for r in result["refused"]] == [
        (issued["ticket_id"], "E1", "AD")]
    assert "changed payload" in result["refused"][0]["reason"]
    assert query(url, "SELECT ticket_id, payload FROM tickets.tickets") == [issued]  # untouched
    again = create_tickets(url, N2, "run-2b", out=tmp_path / "out", now=NOW)
    assert len(again["refused"]) == 1  # still reported for the alert ...
    events = query(url, f"SELECT * FROM {AUDIT_LOG} WHERE event = 'refused_changed_payload'")
    assert len(events) == 1 and events[0]["ticket_id"] == result["refused"][0]["ticket_id"]  # ... logged once
    assert first["created"] == 1

    # ... and alerted once: the nightly alert step turns `refused` into one tickets_refused alert,
    # which the next night's identical refusal does not send again.
    from vigil import pipeline
    from vigil.config import Settings

    settings = Settings(warehouse=url, out=tmp_path / "out", mode="demo")
    sent = pipeline.nightly_alerts(settings, N2, "run-2", created=result)
    assert sent["new"] == 1
    [alert] = [json.loads(line) for line in (tmp_path / "out" / "alerts" / N2.isoformat() / "alerts.jsonl")
               .read_text().splitlines() if json.loads(line)["kind"] == "tickets_refused"]
    assert alert["facts"]["refused"][0]["existing_ticket_id"] == issued["ticket_id"]
    assert pipeline.nightly_alerts(settings, N2 + dt.timedelta(days=1), "run-3", created=again)["new"] == 0


def test_a_new_account_under_the_same_leaver_and_system_is_refused(url, tmp_path):
    build_night(url, D, [Leaver("E1", "AD", "a1", ("staff",))])
    create_tickets(url, D, "run-1", out=tmp_path / "out", now=NOW)
    build_night(url, N2, [Leaver("E1", "AD", "a1", ("staff",)), Leaver("E1", "AD", "a2", ())])
    result = create_tickets(url, N2, "run-2", out=tmp_path / "out", now=NOW)
    assert result["created"] == 0 and len(result["refused"]) == 1


def test_a_policy_version_change_does_not_reissue_open_tickets(url, tmp_path):
    build_night(url, D, [Leaver("E1", "AD", "a1", ("staff",))])
    create_tickets(url, D, "run-1", out=tmp_path / "out", now=NOW)
    build_night(url, N2, [Leaver("E1", "AD", "a1", ("staff",))], policy="2027.01-1")
    assert plan_tickets(url, N2, "run-2", schema="publish") == []


def test_a_corrected_termination_date_is_a_new_fact_and_a_new_ticket(url, tmp_path):
    build_night(url, D, [Leaver("E1", "AD", "a1", ("staff",))])
    create_tickets(url, D, "run-1", out=tmp_path / "out", now=NOW)
    build_night(url, N2, [Leaver("E1", "AD", "a1", ("staff",), termination_date=dt.date(2026, 2, 27))])
    plan = plan_tickets(url, N2, "run-2", schema="publish")
    assert len(plan) == 1 and plan[0]["event_date"] == "2026-02-27"


def test_stale_or_unevidenced_tables_are_refused(url, tmp_path):
    build_night(url, D, NIGHT[:1])
    with pytest.raises(RuntimeError, match="describes"):
        plan_tickets(url, N2, "run-2", schema="publish")
    wh = Warehouse.open(url)
    with wh.transaction() as con:
        con.execute("DELETE FROM raw._vigil_loads")
    with pytest.raises(RuntimeError, match="no input file hashes"):
        create_tickets(url, D, "run-1", out=tmp_path / "out", now=NOW)


# --------------------------------------------------------------------------- priority follows the account


def test_priority_follows_the_account_and_is_redelivered_as_a_revision(url, tmp_path, drop_config):
    """Issue 18 item 4: a ticket created P3 becomes P2 once overdue and P1 on a login after
    termination: the same ticket_id, revision n + 1, re-delivered once per channel; an unchanged
    priority (a rerun, a quiet night) makes no revision."""
    out = tmp_path / "out"
    n3 = N2 + dt.timedelta(days=1)
    build_night(url, D, [Leaver("E1", "AD", "a1", ("staff",), priority="P3")])
    create_tickets(url, D, "run-1", out=out, config_path=drop_config, now=NOW)
    deliver_tickets(url, drop_config, out=out, run_id="deliver-1", now=NOW)
    [ticket] = query(url, "SELECT ticket_id, status FROM tickets.tickets")
    assert ticket["status"] == "sent"

    build_night(url, N2, [Leaver("E1", "AD", "a1", ("staff",), priority="P2")])  # now overdue
    later = NOW + dt.timedelta(days=1)
    result = create_tickets(url, N2, "run-2", out=out, config_path=drop_config, now=later)
    assert result["created"] == 0 and result["refused"] == []
    assert result["revised"] == [{"ticket_id": ticket["ticket_id"], "revision": 2, "from": "P3", "to": "P2",
                                  "channels": ["drop"]}]
    [rev] = query(url, "SELECT * FROM tickets.revisions")
    doc = json.loads(rev["payload"])
    assert (doc["ticket_id"], doc["revision"], doc["priority"], doc["run_date"]) == (ticket["ticket_id"], 2, "P2",
                                                                                    "2026-03-03")
    original = json.loads(query(url, "SELECT payload FROM tickets.tickets")[0]["payload"])
    assert original["revision"] == 1 and original["priority"] == "P3"  # the first revision is kept as it was
    assert {k: v for k, v in doc.items() if k not in ("priority", "revision", "run_id", "run_date", "evidence")} == \
        {k: v for k, v in original.items() if k not in ("priority", "revision", "run_id", "run_date", "evidence")}
    keys = [r["idempotency_key"] for r in query(url, "SELECT idempotency_key FROM tickets.outbox ORDER BY created_at")]
    assert len(keys) == len(set(keys)) == 2  # one new delivery, under its own idempotency key

    # a rerun of the night: no second revision, nothing more to send
    again = create_tickets(url, N2, "run-2", out=out, config_path=drop_config, now=later)
    assert again["revised"] == [] and again["outbox"] == 0
    sent = deliver_tickets(url, drop_config, out=out, run_id="deliver-2", now=later)
    assert sent["delivered"] == 1 and sent["dead_lettered"] == []
    assert deliver_tickets(url, drop_config, out=out, run_id="deliver-3", now=later)["claimed"] == 0
    dropped = [json.loads(line) for line in (out / "drops" / "AD" / "2026-03-03" / "revocations.jsonl").read_text()
               .splitlines()]
    assert [(d["ticket_id"], d["revision"], d["priority"]) for d in dropped] == [(ticket["ticket_id"], 2, "P2")]
    night_file = (out / "tickets" / "2026-03-03" / "revocations.jsonl").read_text().splitlines()
    assert [json.loads(line)["revision"] for line in night_file] == [2]
    import csv
    with open(out / "tickets" / "2026-03-03" / "revocations.csv", newline="") as fh:
        assert [(r["ticket_id"], r["revision"], r["priority"]) for r in csv.DictReader(fh)] == [
            (ticket["ticket_id"], "2", "P2")]
    assert query(url, "SELECT status FROM tickets.tickets")[0]["status"] == "sent"

    # a login after termination: P1, revision 3
    build_night(url, n3, [Leaver("E1", "AD", "a1", ("staff",), priority="P1")])
    third = create_tickets(url, n3, "run-3", out=out, config_path=drop_config, now=later + dt.timedelta(days=1))
    assert [(r["revision"], r["from"], r["to"]) for r in third["revised"]] == [(3, "P2", "P1")]
    events = [r["event_id"] for r in query(url, "SELECT event_id FROM audit.audit_log WHERE event = 'revised' "
                                                "ORDER BY event_id")]
    assert events == [f"{ticket['ticket_id']}:revised:2", f"{ticket['ticket_id']}:revised:3"]


def test_a_closed_or_unchanged_ticket_gets_no_revision(url, tmp_path, drop_config):
    out = tmp_path / "out"
    build_night(url, D, [Leaver("E1", "AD", "a1", priority="P3"), Leaver("E2", "AD", "a2", priority="P3")])
    create_tickets(url, D, "run-1", out=out, config_path=drop_config, now=NOW)
    deliver_tickets(url, drop_config, out=out, run_id="deliver-1", now=NOW)
    build_night(url, N2, [Leaver("E1", "AD", "a1", priority="P3"), Leaver("E2", "AD", "a2", priority="P2")],
                accounts=[("AD", "a1", "enabled", None), ("AD", "a2", "disabled", None)])
    close_tickets(url, N2, now=NOW)  # E2's account is disabled tonight: its ticket closes first
    result = create_tickets(url, N2, "run-2", out=out, config_path=drop_config, now=NOW)
    assert result["revised"] == []  # E1 unchanged (P3); E2 closed (its exposure back would be refused)


def test_an_overdue_delivered_ticket_with_access_still_open_is_escalated_once(url, tmp_path, drop_config):
    """Issue 18 item 4: a delivered ticket past its due_by whose account tonight's IAM snapshot
    still shows enabled raises one ticket_overdue alert (critical for P1), however many nights it lasts."""
    from vigil.actions.alerts import dispatch_alerts, overdue_ticket_alerts
    from vigil.actions.tickets.store import overdue_open_tickets

    out = tmp_path / "out"
    leavers = [Leaver("E1", "AD", "a1", ("domain_admin",), privileged=("domain_admin",), priority="P1"),
               Leaver("E2", "AD", "a2", priority="P2")]
    build_night(url, D, leavers)
    create_tickets(url, D, "run-1", out=out, config_path=drop_config, now=NOW)
    deliver_tickets(url, drop_config, out=out, run_id="deliver-1", now=NOW)
    wh = Warehouse.open(url)
    with wh.connection() as con:
        # night D (03-02): every ticket is due at the end of 03-03 (D + the grace): not overdue yet
        assert overdue_open_tickets(wh, con, D) == []

    # night N2 (03-03): due at its very end and a1 still enabled (a2 disabled): overdue
    build_night(url, N2, leavers, accounts=[("AD", "a1", "enabled", None), ("AD", "a2", "disabled", None)])
    result = create_tickets(url, N2, "run-2", out=out, config_path=drop_config, now=NOW)
    [over] = result["overdue"]
    ids = {r["employee_id"]: r["ticket_id"] for r in query(url, "SELECT employee_id, ticket_id FROM tickets.tickets")}
    assert over["ticket_id"] == ids["E1"] and over["open_account_ids"] == ["a1"]
    assert (over["priority"], over["due_by"], over["policy_due_by"], over["days_overdue"]) == \
        ("P1", "2026-03-03T23:59:59Z", "2026-03-01T23:59:59Z", 0)
    [alert] = overdue_ticket_alerts(result["overdue"], N2, "run-2")
    assert alert.kind == "ticket_overdue" and alert.severity == "critical" and alert.subject_id == ids["E1"]
    assert "a1" in alert.facts["open_account_ids"] and "E1" == alert.facts["employee_id"]
    first = dispatch_alerts(url, [alert], run_date=N2, run_id="run-2", out=out)
    assert first["new"] == 1

    # the next night it is still open, one more day overdue: the same alert id, not sent again
    n3 = N2 + dt.timedelta(days=1)
    build_night(url, n3, leavers, accounts=[("AD", "a1", "enabled", None)])
    later = create_tickets(url, n3, "run-3", out=out, config_path=drop_config, now=NOW)
    [again] = overdue_ticket_alerts(later["overdue"], n3, "run-3")
    assert later["overdue"][0]["days_overdue"] == 1 and again.alert_id == alert.alert_id
    assert dispatch_alerts(url, [again], run_date=n3, run_id="run-3", out=out)["new"] == 0


# --------------------------------------------------------------------------- lifecycle and closure


def test_close_tickets_when_the_snapshot_shows_the_account_disabled_or_gone(url, tmp_path, drop_config):
    leavers = [Leaver("E1", "AD", "a1"), Leaver("E2", "AD", "a2"), Leaver("E3", "AD", "a3"),
               Leaver("E4", "AD", "a4"), Leaver("E5", "AD", "a5")]
    build_night(url, D, leavers, [Notice("E6", "AD", "a6", "domain_admin")])
    create_tickets(url, D, "run-1", out=tmp_path / "out", config_path=drop_config, now=NOW)
    ids = {r["employee_id"]: r["ticket_id"] for r in query(url, "SELECT employee_id, ticket_id FROM tickets.tickets")}
    # E5's ticket stays 'created' (its delivery has not happened): only sent/acknowledged tickets close
    wh = Warehouse.open(url)
    with wh.transaction() as con:
        con.execute("UPDATE tickets.outbox SET next_attempt_at = %s WHERE ticket_id = %s",
                    (NOW + dt.timedelta(days=30), ids["E5"]))
    deliver_tickets(url, drop_config, out=tmp_path / "out", run_id="deliver-1", now=NOW)
    assert close_tickets(url, N2)["snapshot"] is False  # no snapshot for N2 yet: nothing closes

    disabled_at = dt.datetime(2026, 3, 3, 10, 15, tzinfo=UTC)
    build_night(url, N2, [], accounts=[
        ("AD", "a1", "disabled", disabled_at),                            # closed at disabled_at
        ("AD", "a2", "locked", None),                                    # no time: end of the night
        ("AD", "a3", "enabled", None),                                   # still open
        ("AD", "a4", "disabled", dt.datetime(2026, 3, 4, 0, 0, 1, tzinfo=UTC)),  # after the night: end of it
        ("AD", "a5", "disabled", disabled_at),
        ("AD", "a6", "enabled", None),                                   # enabled, entitlement gone
    ])                                                                    # (no a-row for E... all listed)
    result = close_tickets(url, N2, now=NOW)
    end = dt.datetime(2026, 3, 3, 23, 59, 59, tzinfo=UTC)
    rows = {r["ticket_id"]: r for r in query(url, "SELECT ticket_id, status, closed_at FROM tickets.tickets")}
    assert result["closed"] == 4 and result["still_open"] == 1
    assert rows[ids["E1"]]["status"] == "closed" and rows[ids["E1"]]["closed_at"] == disabled_at
    assert rows[ids["E2"]]["closed_at"] == end and rows[ids["E4"]]["closed_at"] == end
    assert rows[ids["E3"]]["status"] == "sent" and rows[ids["E3"]]["closed_at"] is None
    assert rows[ids["E5"]]["status"] == "created"
    assert rows[ids["E6"]]["status"] == "closed" and rows[ids["E6"]]["closed_at"] == end
    events = query(url, f"SELECT ticket_id, outcome FROM {AUDIT_LOG} WHERE event = 'closed'")
    assert {e["ticket_id"]: e["outcome"] for e in events}[ids["E2"]] == "locked"
    assert close_tickets(url, N2, now=NOW)["closed"] == 0  # idempotent


def test_an_account_gone_from_the_snapshot_closes_its_ticket(url, tmp_path, drop_config):
    build_night(url, D, [Leaver("E1", "AD", "a1"), Leaver("E2", "AD", "a2")])
    create_tickets(url, D, "run-1", out=tmp_path / "out", config_path=drop_config, now=NOW)
    deliver_tickets(url, drop_config, out=tmp_path / "out", run_id="deliver-1", now=NOW)
    build_night(url, N2, [], accounts=[("AD", "a2", "enabled", None)])  # a1 no longer in the snapshot
    result = close_tickets(url, N2, now=NOW)
    assert result["closed"] == 1
    closed = query(url, "SELECT employee_id, closed_at FROM tickets.tickets WHERE status = 'closed'")
    assert closed == [{"employee_id": "E1", "closed_at": dt.datetime(2026, 3, 3, 23, 59, 59, tzinfo=UTC)}]


def test_an_exposure_back_after_closure_is_refused_not_reissued(url, tmp_path, drop_config):
    build_night(url, D, [Leaver("E1", "AD", "a1")])
    create_tickets(url, D, "run-1", out=tmp_path / "out", config_path=drop_config, now=NOW)
    deliver_tickets(url, drop_config, out=tmp_path / "out", run_id="deliver-1", now=NOW)
    build_night(url, N2, [], accounts=[("AD", "a1", "disabled", None)])
    assert close_tickets(url, N2, now=NOW)["closed"] == 1
    n3 = N2 + dt.timedelta(days=1)
    build_night(url, n3, [Leaver("E1", "AD", "a1")])  # re-enabled: a person must look at it
    result = create_tickets(url, n3, "run-3", out=tmp_path / "out", config_path=drop_config, now=NOW)
    assert result["created"] == 0 and "reappeared" in result["refused"][0]["reason"]


def test_acknowledge_moves_a_sent_ticket_and_names_the_actor(url, tmp_path, drop_config):
    build_night(url, D, [Leaver("E1", "AD", "a1"), Leaver("E2", "AD", "a2")])
    create_tickets(url, D, "run-1", out=tmp_path / "out", config_path=drop_config, now=NOW)
    created = query(url, "SELECT ticket_id FROM tickets.tickets ORDER BY ticket_id")
    assert acknowledge_ticket(url, created[0]["ticket_id"], actor="iam-ops") is False  # not sent yet
    deliver_tickets(url, drop_config, out=tmp_path / "out", run_id="deliver-1", now=NOW)
    assert acknowledge_ticket(url, created[0]["ticket_id"], actor="iam-ops", reference="INC0012345") is True
    assert acknowledge_ticket(url, created[0]["ticket_id"], actor="iam-ops") is False  # once
    ev = query(url, f"SELECT actor, details FROM {AUDIT_LOG} WHERE event = 'acknowledged'")
    assert ev == [{"actor": "iam-ops", "details": '{"reference":"INC0012345"}'}]
    with pytest.raises(KeyError):
        acknowledge_ticket(url, "VGL-" + "0" * 32, actor="x")


# --------------------------------------------------------------------------- audit log


def test_every_state_change_is_audited_with_its_evidence(url, tmp_path, drop_config):
    build_night(url, D, [Leaver("E1", "AD", "a1", ("staff",))])
    create_tickets(url, D, "run-1", out=tmp_path / "out", config_path=drop_config, now=NOW)
    deliver_tickets(url, drop_config, out=tmp_path / "out", run_id="deliver-1", now=NOW)
    ticket = query(url, "SELECT * FROM tickets.tickets")[0]
    events = query(url, f"SELECT * FROM {AUDIT_LOG} ORDER BY occurred_at, event")
    assert [e["event"] for e in events] == ["created", "sent"]
    created, sent = events
    assert created["occurred_at"] == NOW and created["run_id"] == "run-1" and created["run_date"] == D
    for e in events:
        assert (e["ticket_id"], e["subject"], e["target_system"], e["rule_version"], e["actor"]) == (
            ticket["ticket_id"], "E1", "AD", "2026.11-1", "vigil-tickets")
        assert json.loads(e["input_hashes"]) == json.loads(ticket["input_hashes"])
    assert sent["outcome"] == "file" and sent["run_id"] == "deliver-1"


def test_audit_log_upgrades_the_breakers_table_and_stays_append_only(url):
    from vigil.store.audit import append_audit

    wh = Warehouse.open(url)
    with wh.transaction() as con:
        ensure_audit_log(wh, con)
    old = append_audit(wh, run_date=D, event="breaker_released", actor="A. Officer", details={"fingerprint": "f"})
    with wh.transaction() as con:
        ensure_audit_log(wh, con)
        ensure_audit_log(wh, con)  # idempotent
        added = append_audit_events(wh, con, [
            {"event": "created", "actor": "vigil-tickets", "event_id": "t1:created", "subject": "E1", "outcome": 201,
             "input_hashes": {"iam/x.csv": "ab"}, "ticket_id": "t1"},
            {"event": "created", "actor": "vigil-tickets", "event_id": "t1:created"},  # same id: skipped
        ])
    with wh.transaction() as con:
        again = append_audit_events(wh, con, [{"event": "created", "actor": "vigil-tickets", "event_id": "t1:created"}])
    assert (added, again) == (1, 0)
    cols = [r["column_name"] for r in query(
        url, "SELECT column_name FROM information_schema.columns WHERE table_schema = 'audit' "
             "AND table_name = 'audit_log' ORDER BY ordinal_position")]
    assert cols == list(COLUMNS)
    rows = {r["event_id"]: r for r in query(url, f"SELECT * FROM {AUDIT_LOG}")}
    assert rows[old]["actor"] == "A. Officer" and rows[old]["ticket_id"] is None  # old rows kept, new columns null
    assert rows["t1:created"]["outcome"] == "201" and rows["t1:created"]["input_hashes"] == '{"iam/x.csv":"ab"}'
    with pytest.raises(ValueError, match="actor"):
        append_audit_events(wh, None, [{"event": "x"}])
