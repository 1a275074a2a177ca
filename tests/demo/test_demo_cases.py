"""The demo ITSM export (vigil_demo.cases): read under the strict `cases` contract, naming the cases
dbt opens for the planted orphan accounts, one of them claimed resolved; and the demo's cases (issue 22):
every kind, closed on time, claimed but not verified, and the planted reopened orphan."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

from fixtures.nights import D, write_night
from vigil.pipeline import extract_feed
from vigil_demo.cases import write_case_events

PLANTED = {"cases": {"orphan_accounts": [{"key": "OR2", "system": "CoreBanking", "account_id": "cb9"},
                                         {"key": "OR1", "system": "AD", "account_id": "ad7"}]}}


def test_the_export_is_a_valid_delivery_of_the_last_day_naming_real_case_ids(settings):
    write_night(settings.landing)
    out = write_case_events(settings.landing, D - dt.timedelta(days=2), 3, PLANTED)
    ad = "VCS-" + hashlib.md5(b"orphan_account|account|AD:ad7").hexdigest()
    cb = "VCS-" + hashlib.md5(b"orphan_account|account|CoreBanking:cb9").hexdigest()
    assert out == {"file": f"cases/{D.isoformat()}/case_events.csv", "acknowledged": [ad, cb], "resolved_claimed": [ad],
                   "contacted": []}
    extracted = extract_feed(settings, "cases", D, "run-1")
    [events] = extracted["tables"]
    assert (events["table"], events["rows"], events["rejected_rows"]) == ("case_events", 3, 0)


def test_the_itsm_contacts_the_on_time_key_complainant_on_its_handling_case(settings):
    write_night(settings.landing)
    planted = {"cases": {**PLANTED["cases"], "key_complainant_on_time": [{"person_key": "P98000003"}]}}
    out = write_case_events(settings.landing, D - dt.timedelta(days=2), 3, planted)
    handling = "VCS-" + hashlib.md5(b"complainant_handling|complainant|P98000003").hexdigest()
    assert out["contacted"] == [{"case_id": handling, "person_key": "P98000003", "date": D.isoformat()}]
    lines = (Path(str(settings.landing)) / out["file"]).read_text(encoding="utf-8").splitlines()
    assert f"DEMO-KC00-CONTACT,{handling},INC9500,contacted,{D.isoformat()}T09:30:00Z,,reached,phone" in lines
    [events] = extract_feed(settings, "cases", D, "run-1")["tables"]
    assert (events["rows"], events["rejected_rows"]) == (4, 0)
    # without orphan accounts the contact is still exported (and no resolution is claimed)
    assert write_case_events(settings.landing, D, 1, {"cases": {"key_complainant_on_time": [{"person_key": "P1"}]}})[
        "resolved_claimed"] == []


def test_no_planted_orphans_no_export(settings):
    assert write_case_events(settings.landing, D, 1, {"cases": {}}) == {}
    assert extract_feed(settings, "cases", D, "run-1")["tables"] == []


# --------------------------------------------------------------------------- the demo's cases (issue 22)

#: The kinds of the response loop (docs/cases.md, "Kinds, owners, SLAs and verification").
KINDS = {"leaver", "sod_conflict", "orphan_account", "dormant_account", "access_creep", "revocation_overdue",
         "departure_risk_high"}


def test_the_demo_opens_a_case_of_every_kind_and_ends_them_every_way(demo_warehouse):
    cases = demo_warehouse.rows("select * from publish.pub_cases")
    assert {c["as_of_date"] for c in cases} == {demo_warehouse.last}
    assert KINDS <= {c["kind"] for c in cases}
    closed = [c for c in cases if c["status"] == "closed_verified"]
    assert any(c["closed_at"] <= c["due_by"] for c in closed), "no case closed on time"
    assert any(c["closed_at"] > c["due_by"] for c in closed), "no case closed late"
    assert any(c["status"] == "resolved_claimed" and c["closed_at"] is None for c in cases)
    assert any(c["status"] == "reopened" for c in cases)


def test_the_planted_orphan_is_closed_on_day_3_and_reopened_on_day_5(demo_warehouse):
    [planted] = demo_warehouse.cases("case_reopened")
    start = demo_warehouse.start
    assert (planted["opened_on"], planted["closed_at"], planted["reopened_on"]) == (
        start.isoformat(), (start + dt.timedelta(days=2)).isoformat(), (start + dt.timedelta(days=4)).isoformat())
    [case] = demo_warehouse.rows(f"select * from publish.pub_cases where case_id = '{planted['case_id']}'")
    assert (case["kind"], case["status"], case["closed_at"]) == ("orphan_account", "reopened", None)
    assert case["opened_on"].isoformat() == planted["opened_on"]
    [history] = demo_warehouse.rows(f"select * from marts.fct_cases where case_id = '{planted['case_id']}'")
    assert history["n_reopened"] == 1 and history["episode_started_on"].isoformat() == planted["reopened_on"]
    # its history: present on the first nights, closed the night IAM showed it disabled, back on day 5
    episodes = demo_warehouse.rows(
        f"select * from intermediate.int_response__case_episodes where case_id = '{planted['case_id']}' order by episode_no")
    assert [(e["started_on"].isoformat(), e["closed_on"] and e["closed_on"].isoformat()) for e in episodes] == [
        (planted["opened_on"], planted["closed_at"]), (planted["reopened_on"], None)]


def test_the_leaver_frozen_late_is_a_leaver_case_closed_the_night_iam_showed_it_frozen_after_its_due_day(
        demo_warehouse):
    [planted] = demo_warehouse.cases("leaver_frozen_late")
    frozen, term = dt.date.fromisoformat(planted["frozen_on"]), dt.date.fromisoformat(planted["termination_date"])
    assert term < demo_warehouse.start < frozen <= demo_warehouse.last  # a go-live leaver, frozen within the demo
    leavers = [c for c in demo_warehouse.rows("select * from publish.pub_cases where kind = 'leaver'")
               if c["status"] == "closed_verified" and c["closed_at"] == frozen]
    assert len(leavers) == 1, leavers
    [case] = leavers
    assert case["opened_on"] == demo_warehouse.start and case["due_by"] < frozen  # due termination + SLA
    assert case["verified_by"]
    [item] = demo_warehouse.rows(f"select * from publish.pub_case_items where case_id = '{case['case_id']}'")
    assert (item["item"], item["status"]) == ("access_frozen", "closed_verified")
