"""Tickets from the demo warehouse end to end (docs/tickets.md): the planted leavers and notice
cases become exactly the planned tickets, every ticket validates against docs/tickets.schema.json,
the SCIM server ends with the users disabled and out of their groups, reruns change nothing, the
next snapshot closes them, and no PII from the feeds appears anywhere Vigil wrote.

Works on a copy of the session's demo warehouse (tests/conftest.py); the session's file is never
written to.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import shutil

import jsonschema
import pytest

from fixtures.nights import REPO, raw_pii_values
from fixtures.tickets import WEBHOOK_SECRET, ScimServer, WebhookConsumer, query, write_config
from vigil.pipeline import undelivered_warnings
from vigil.actions.tickets import close_tickets, create_tickets, deliver_tickets, plan_tickets
from vigil.store.warehouse import Warehouse

TOKEN = "scim-demo-token-0123456789"


@pytest.fixture(scope="module")
def demo(demo_warehouse, tmp_path_factory):
    """A private copy of the demo warehouse with its publish schema filled (write -> audit -> publish)."""
    from vigil.store.publish import publish

    base = tmp_path_factory.mktemp("tickets-demo")
    url = str(base / "vigil.duckdb")
    shutil.copyfile(demo_warehouse.settings.warehouse, url)
    wh = Warehouse.open(url)
    with wh.connection() as con:
        published = {t.split(".")[1] for t in wh.list_tables(con, ("publish",))}
    if "pub_leaver_access_exposure" not in published:
        publish(url)
    return demo_warehouse, url, base



def test_demo_night_tickets_end_to_end(demo, monkeypatch):
    dw, url, base = demo
    L, run_id = dw.last, "scheduled__demo"
    out = base / "out"
    monkeypatch.setenv("DEMO_SCIM_TOKEN", TOKEN)
    monkeypatch.setenv("DEMO_WEBHOOK_SECRET", WEBHOOK_SECRET)

    # ---- the plan: one ticket per planted (employee, system), identical from candidate and publish
    plan = plan_tickets(url, L, run_id, schema="publish_candidate")
    assert plan == plan_tickets(url, L, run_id, schema="publish")
    lingering, notice = dw.cases("leavers_lingering_access"), dw.cases("notice_with_privileged")
    by_key = {(t["kind"], t["employee_id"], t["system"]): t for t in plan}
    assert set(by_key) == ({("leaver_revocation", c["employee_id"], c["system"]) for c in lingering}
                           | {("notice_restriction", c["employee_id"], c["system"]) for c in notice})
    for c in lingering:
        t = by_key[("leaver_revocation", c["employee_id"], c["system"])]
        assert {"action": "disable_account", "account_id": c["account_id"]} in t["actions"]
        assert t["event_date"] == c["termination_date"]
        if c["is_privileged"]:
            assert t["priority"] == "P1"
    for c in notice:
        t = by_key[("notice_restriction", c["employee_id"], c["system"])]
        assert {"action": "remove_entitlement", "account_id": c["account_id"], "entitlement": c["entitlement"],
                "privileged": True} in t["actions"]
        assert not any(a["action"] == "disable_account" for a in t["actions"])

    # ---- the IAM system: every ticketed account on a SCIM server, in a group per entitlement
    with ScimServer(TOKEN) as scim, WebhookConsumer() as hook:
        users = {}
        for t in plan:
            for a in t["account_ids"]:
                users.setdefault(a, scim.add_user(a))
        bystander = scim.add_user("bystander")
        members: dict[str, set[str]] = {}
        for t in plan:
            for a in t["actions"]:
                if a["action"] == "remove_entitlement":
                    members.setdefault(a["entitlement"], {bystander}).add(users[a["account_id"]])
        groups = {name: scim.add_group(name, sorted(m)) for name, m in members.items()}
        cfg = write_config(base / "delivery.yml", {
            "defaults": {"max_attempts": 3, "backoff_base_seconds": 0.01, "timeout_seconds": 5, "lease_seconds": 60},
            "channels": {
                "scim": {"type": "scim", "base_url": scim.base_url, "token_env": "DEMO_SCIM_TOKEN"},
                "snow": {"type": "webhook", "url": hook.url, "secret_env": "DEMO_WEBHOOK_SECRET", "format": "jira"},
                "drop": {"type": "filedrop", "root": "drops"}},
            "systems": {"Email": ["drop"], "Payments": ["scim", "snow"]}, "default": ["scim"]})

        created = create_tickets(url, L, run_id, out=out, config_path=cfg)
        assert created["created"] == len(plan) > 0 and created["refused"] == [] and created["unrouted"] == []
        assert created["unrouted_systems"] == {} and undelivered_warnings(created) == []  # every system routed
        result = deliver_tickets(url, cfg, out=out, run_id="deliver__demo")
        assert result["dead_lettered"] == [] and result["delivered"] == created["outbox"]

        for t in plan:  # the consumer's effective state
            for a in t["account_ids"]:
                if t["system"] == "Email":
                    continue  # file drop: a person acts on it
                assert scim.user(users[a])["active"] is (t["kind"] == "notice_restriction")
            for a in t["actions"]:
                if a["action"] == "remove_entitlement" and t["system"] != "Email":
                    assert users[a["account_id"]] not in scim.members(groups[a["entitlement"]])
        assert all(bystander in scim.members(g) for g in groups.values())
        webhook_bodies = [r["body"] for r in hook.received]
        assert len(hook.effective) == sum(1 for t in plan if t["system"] == "Payments")

        # ---- rerun of the night: no new tickets, no new requests, same files
        folder = out / "tickets" / L.isoformat()
        files = {p: p.read_bytes() for p in folder.iterdir()}
        seen = len(scim.requests)
        assert create_tickets(url, L, run_id, out=out, config_path=cfg)["created"] == 0
        assert deliver_tickets(url, cfg, out=out, run_id="deliver__demo2")["claimed"] == 0
        assert len(scim.requests) == seen and {p: p.read_bytes() for p in folder.iterdir()} == files

    # ---- the written tickets validate and carry the night's evidence
    schema = json.loads((REPO / "docs" / "tickets.schema.json").read_text())
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    lines = (folder / "revocations.jsonl").read_text().splitlines()
    assert len(lines) == len(plan)
    ledger = {r[0]: r[1] for r in dw.query(
        "SELECT source_file, source_sha256 FROM raw._vigil_loads l WHERE feed IN ('hr', 'iam') AND feed_date = "
        "(SELECT max(feed_date) FROM raw._vigil_loads m WHERE m.feed = l.feed AND m.table_name = l.table_name "
        "AND m.feed_date <= ?)", [L])}
    for line in lines:
        doc = json.loads(line)
        validator.validate(doc)
        assert doc["evidence"]["input_hashes"] == ledger and doc["run_id"] == run_id
    with open(folder / "revocations.csv", newline="") as fh:
        assert len(list(csv.DictReader(fh))) == len(plan)

    # ---- the next IAM snapshot shows the accounts disabled: the tickets close
    nxt = L + dt.timedelta(days=1)
    wh = Warehouse.open(url)
    ticketed = {(t["system"], a) for t in plan for a in t["account_ids"]}
    notice_ents = {(c["system"], c["account_id"], c["entitlement"]) for c in notice}
    with wh.transaction() as con:
        con.execute("INSERT INTO raw.iam__accounts SELECT * REPLACE (CAST(%s AS DATE) AS _feed_date) "
                    "FROM raw.iam__accounts WHERE _feed_date = %s", (nxt, L))
        con.execute("INSERT INTO raw.iam__entitlements SELECT * REPLACE (CAST(%s AS DATE) AS _feed_date) "
                    "FROM raw.iam__entitlements WHERE _feed_date = %s", (nxt, L))
        for system, account in ticketed:
            if (system, account) not in {(s, a) for s, a, _ in notice_ents}:
                con.execute("UPDATE raw.iam__accounts SET status = 'disabled', disabled_at = %s "
                            "WHERE _feed_date = %s AND system = %s AND account_id = %s",
                            (dt.datetime.combine(nxt, dt.time(9), tzinfo=dt.timezone.utc), nxt, system, account))
        for system, account, ent in notice_ents:
            con.execute("DELETE FROM raw.iam__entitlements WHERE _feed_date = %s AND system = %s AND account_id = %s "
                        "AND entitlement = %s", (nxt, system, account, ent))
    closed = close_tickets(url, nxt)
    assert closed["closed"] == len(plan) and closed["still_open"] == 0
    assert {r["status"] for r in query(url, "SELECT status FROM tickets.tickets")} == {"closed"}

    # ---- no PII from the feeds anywhere Vigil wrote
    pii = raw_pii_values(dw.landing, min_length=6)
    assert len(pii) > 100
    written = [p.read_text() for p in out.rglob("*") if p.is_file()]
    written += [b.decode() for b in webhook_bodies]
    written += [json.dumps(query(url, f"SELECT * FROM {t}"), default=str)
                for t in ("tickets.tickets", "tickets.outbox", "tickets.delivery_attempts", "audit.audit_log")]
    blob = "\n".join(written)
    assert not [v for v in pii if v in blob]
