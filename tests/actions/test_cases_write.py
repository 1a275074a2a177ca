"""The night's cases out to the ITSM (<out>/cases/<D>/cases.jsonl, docs/cases.schema.json) and the
case alerts (go-live digest per owner team; overdue and claimed-unverified per case, once).

The published tables are crafted by hand from their dbt contracts (no dbt run): each night is the
pub_cases / pub_case_items / pub_case_escalations rows of that run date, on DuckDB and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import json

import jsonschema
import pytest
import yaml

from fixtures.nights import REPO
from vigil.actions.alerts import derive_alerts
from vigil.actions.cases.write import cases_path, write_cases
from vigil.store.warehouse import Warehouse

D0 = dt.date(2026, 3, 2)
D1 = D0 + dt.timedelta(days=1)
SCHEMA = json.loads((REPO / "docs" / "cases.schema.json").read_text())
CONTRACT = {m["name"]: m for m in yaml.safe_load(
    (REPO / "dbt_project" / "models" / "marts" / "publish" / "response" / "_publish_response__models.yml").read_text()
)["models"]}
A, B, C, E = ("VCS-" + c * 32 for c in "abce")
NOW = dt.datetime(2026, 3, 3, 1, 0, tzinfo=dt.timezone.utc)


def case(case_id, kind="orphan_account", owner="iam", status="open", priority="P2", due=D0 + dt.timedelta(days=2),
         opened=D0, as_of=D0, closed=None):
    return dict(case_id=case_id, kind=kind, subject_type="account", subject_id=f"AD:{case_id[-4:]}", owner_team=owner,
                opened_on=opened, due_by=due, priority=priority, status=status, acknowledged_at=None,
                closed_at=closed, verified_by="pub_access_exceptions:AL-04" if closed else None,
                policy_version="2026.11-1", as_of_date=as_of)


def _ddl_type(t: str) -> str:
    return {"text": "VARCHAR"}.get(t, t)


def publish(url: str, night: dt.date, cases: list[dict], items: list[dict] = (), escalations: list[dict] = ()) -> None:
    wh = Warehouse.open(url)
    with wh.transaction() as con:
        con.execute("CREATE SCHEMA IF NOT EXISTS publish")
        for name, rows in (("pub_cases", cases), ("pub_case_items", items), ("pub_case_escalations", escalations)):
            cols = [(c["name"], _ddl_type(c["data_type"])) for c in CONTRACT[name]["columns"]]
            con.execute(f"CREATE TABLE IF NOT EXISTS publish.{name} ({', '.join(f'{n} {t}' for n, t in cols)})")
            con.execute(f"DELETE FROM publish.{name}")
            for r in rows:
                con.execute(f"INSERT INTO publish.{name} VALUES ({', '.join(['%s'] * len(cols))})",
                            tuple({**r, "as_of_date": night}.get(n) for n, _ in cols))


def lines(out, night) -> list[dict]:
    return [json.loads(x) for x in cases_path(out, night).read_text().splitlines()]




def test_go_live_writes_every_open_case_once_with_a_valid_document_and_one_digest_per_team(url, tmp_path):
    leaver = case(C, kind="leaver", owner="hr")
    leaver["subject_type"], leaver["subject_id"] = "employee", "000102"
    publish(url, D0, [case(A), case(B, owner="Payments", kind="access_creep"), leaver,
                      case(E, status="closed_verified", closed=D0)],
            items=[dict(case_id=C, item="access_frozen", owner_team="iam", status="open", opened_on=D0, due_by=D0),
                   dict(case_id=C, item="assets_returned", owner_team="it_assets", status="closed_verified",
                        opened_on=D0, due_by=D1, closed_at=D0, verified_by="fct_unreturned_assets:AL-08")])
    out = write_cases(url, D0, "run-0", out=tmp_path, now=NOW)
    docs = lines(tmp_path, D0)
    assert (out["written"], out["new"], out["changed"]) == (3, 3, 0)
    assert [d["case_id"] for d in docs] == [A, B, C]  # the closed, never-sent case E is not written
    for d in docs:
        jsonschema.validate(d, SCHEMA)
        assert d["revision"] == 1 and d["created_at"] == "2026-03-03T01:00:00Z"
    assert docs[2]["items"] == [{"item": "access_frozen", "owner_team": "iam", "status": "open"},
                                {"item": "assets_returned", "owner_team": "it_assets", "status": "closed_verified"}]
    alerts = [a for a in derive_alerts(url, D0, "run-0") if a.kind.startswith("case")]
    assert sorted((a.kind, a.subject_id, a.facts["n_open"]) for a in alerts) == [
        ("cases_digest", "Payments", 1), ("cases_digest", "hr", 1), ("cases_digest", "iam", 1)]


def test_later_nights_write_only_changes_and_a_rerun_writes_the_same_file(url, tmp_path):
    publish(url, D0, [case(A), case(B)])
    write_cases(url, D0, "run-0", out=tmp_path, now=NOW)
    first = cases_path(tmp_path, D0).read_bytes()
    # D1: A unchanged, B escalated to P1, a new case C, A's twin E closed before it was ever written
    publish(url, D1, [case(A, as_of=D1), case(B, priority="P1", as_of=D1), case(C, opened=D1, as_of=D1)])
    out = write_cases(url, D1, "run-1", out=tmp_path, now=NOW + dt.timedelta(days=1))
    docs = {d["case_id"]: d for d in lines(tmp_path, D1)}
    assert (out["new"], out["changed"]) == (1, 1)
    assert {k: (d["revision"], d["priority"]) for k, d in docs.items()} == {B: (2, "P1"), C: (1, "P2")}
    # rerun of D1: nothing new, byte-identical file; D0's file untouched
    before = cases_path(tmp_path, D1).read_bytes()
    again = write_cases(url, D1, "run-1b", out=tmp_path, now=NOW + dt.timedelta(days=2))
    assert (again["new"], again["changed"]) == (0, 0)
    assert cases_path(tmp_path, D1).read_bytes() == before and cases_path(tmp_path, D0).read_bytes() == first
    # D2: B verified closed: written once more, with its closure
    d2 = D1 + dt.timedelta(days=1)
    publish(url, d2, [case(A, as_of=d2), case(B, status="closed_verified", closed=d2, as_of=d2),
                      case(C, opened=D1, as_of=d2)])
    write_cases(url, d2, "run-2", out=tmp_path, now=NOW)
    [b] = lines(tmp_path, d2)
    assert (b["case_id"], b["revision"], b["status"], b["closed_at"], b["verified_by"]) == (
        B, 3, "closed_verified", d2.isoformat(), "pub_access_exceptions:AL-04")
    jsonschema.validate(b, SCHEMA)


def test_a_backfilled_earlier_night_never_reuses_a_revision_nor_sends_an_older_state(url, tmp_path):
    """D0 and D2 ran; D1 was missed and is backfilled afterwards. The ITSM already holds D2's state, so
    D1 sends no case the later night has written (no revision number taken twice, no regression to an
    older state), and still sends a case that only it knows of."""
    d2 = D1 + dt.timedelta(days=1)
    publish(url, D0, [case(A)])
    write_cases(url, D0, "run-0", out=tmp_path, now=NOW)
    publish(url, d2, [case(A, priority="P1", as_of=d2)])
    write_cases(url, d2, "run-2", out=tmp_path, now=NOW)
    # the backfill: A at P3 that night (differs from both), and C, seen on D1 only
    publish(url, D1, [case(A, priority="P3", as_of=D1), case(C, opened=D1, as_of=D1)])
    out = write_cases(url, D1, "run-1", out=tmp_path, now=NOW)
    assert [(d["case_id"], d["revision"]) for d in lines(tmp_path, D1)] == [(C, 1)]
    assert out["superseded"] == 1
    assert [(d["case_id"], d["revision"], d["priority"]) for d in lines(tmp_path, d2)] == [(A, 2, "P1")]
    wh = Warehouse.open(url)
    with wh.transaction() as con:
        revisions = [tuple(r) for r in con.execute(
            "SELECT revision, run_date FROM audit.cases_written WHERE case_id = %s ORDER BY revision", (A,)).fetchall()]
    assert revisions == [(1, D0), (2, d2)]
    # D3 after the backfill: A changes again and gets the next number after the latest, not after D1's
    d3 = d2 + dt.timedelta(days=1)
    publish(url, d3, [case(A, priority="P2", as_of=d3), case(C, opened=D1, as_of=d3)])
    write_cases(url, d3, "run-3", out=tmp_path, now=NOW)
    assert {d["case_id"]: d["revision"] for d in lines(tmp_path, d3)} == {A: 3}


def test_after_go_live_each_escalation_is_one_alert_to_the_owner_team_with_a_stable_id(url, tmp_path):
    publish(url, D0, [case(A)])
    escalation = dict(alert_key=f"CASE-OD:{A}:2026-03-04", case_id=A, kind="orphan_account", owner_team="iam",
                      escalation="overdue", due_by=dt.date(2026, 3, 4), days=1, priority="P1", is_go_live=False,
                      policy_version="2026.11-1")
    claim = dict(escalation, alert_key=f"CASE-CU:{A}:2026-03-02", escalation="claim_unverified", days=3)
    d3, d4 = dt.date(2026, 3, 5), dt.date(2026, 3, 6)
    publish(url, d3, [case(A, as_of=d3)], escalations=[escalation, claim])
    alerts = {a.kind: a for a in derive_alerts(url, d3, "run-3") if a.kind.startswith("case")}
    assert set(alerts) == {"case_overdue", "case_claim_unverified"}
    assert all(a.subject_type == "case" and a.subject_id == A and a.facts["owner_team"] == "iam"
               for a in alerts.values())
    assert alerts["case_overdue"].severity == "high"
    # the next night the same escalation (days grown) keeps its id: the ledger sends it once
    publish(url, d4, [case(A, as_of=d4)], escalations=[dict(escalation, days=2)])
    [again] = [a for a in derive_alerts(url, d4, "run-4") if a.kind == "case_overdue"]
    assert again.alert_id == alerts["case_overdue"].alert_id
    text = json.dumps([a.to_dict() for a in alerts.values()])
    assert "@" not in text  # ids, teams and dates only
