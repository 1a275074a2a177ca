"""The planted key complainants and incidents (docs/demo-data.md, case 16) come out of the session's demo
warehouse (tests/fixtures/demo.py: tiny demo, every night through the whole pipeline on DuckDB)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def wh(demo_warehouse):
    return demo_warehouse


def _by(rows, key):
    return {r[key]: r for r in rows}


def test_one_person_under_two_ids_is_high_and_missed_a_contact(wh):
    case = wh.cases("key_complainant_missed_contact")[0]
    plans = _by(wh.rows("select * from publish.pub_complainant_handling"), "person_key")
    p = plans[case["person_key"]]
    assert p["complainant_ids"] == ", ".join(case["complainant_ids"]) and p["n_complainant_ids"] == 2
    assert (p["tier"], p["is_go_live"], p["legal_linkage"]) == ("high", True, True)
    assert (p["last_contact_date"].isoformat(), p["next_contact_due"].isoformat(), p["is_contact_overdue"]) == (
        case["last_contact"], case["next_contact_due"], True)
    ids = _by(wh.rows("select complainant_id, tier from publish.pub_complainant_tiers"), "complainant_id")
    assert {ids[c]["tier"] for c in case["complainant_ids"]} == {"medium"}  # apart, neither id is high


def test_the_insider_by_token_is_high_with_every_contact_on_time(wh):
    case = wh.cases("key_complainant_on_time")[0]
    p = _by(wh.rows("select * from publish.pub_complainant_handling"), "person_key")[case["person_key"]]
    assert (p["tier"], p["insider_link"], p["is_contact_overdue"]) == ("high", True, False)
    persons = _by(wh.rows("select * from marts.fct_complainant_persons"), "person_key")
    assert persons[case["person_key"]]["insider_by_token"] is True
    assert {k for k, r in persons.items() if r["insider_by_token"]} == {case["person_key"]}
    dues = wh.rows(f"select * from marts.fct_complainant_contact_dues where person_key = '{case['person_key']}'")
    assert dues and all(d["is_on_time"] for d in dues)
    # the feed never said so: the id-level tier (CT-01) knows nothing of the token match
    assert _by(wh.rows("select * from publish.pub_complainant_tiers"), "complainant_id")[
        case["person_key"]]["has_insider_link"] is False


def test_the_only_missed_contact_is_the_planted_one(wh):
    overdue = {r["person_key"] for r in wh.rows("select person_key from publish.pub_complainant_handling "
                                                 "where is_contact_overdue")}
    assert overdue == {wh.cases("key_complainant_missed_contact")[0]["person_key"]}


def test_the_planted_surge_is_linked_to_its_incident_and_opens_no_surge_case(wh):
    linked = wh.cases("incident_with_surge")[0]
    links = wh.rows("select * from marts.fct_complaint_surge_incidents")
    assert [(r["branch_id"], r["surge_date"].isoformat(), r["linked_incident_id"]) for r in links] == [
        (linked["branch_id"], linked["surge_date"], linked["incident_id"])]
    assert wh.rows("select * from intermediate.int_response__findings_incident where kind = 'complaint_surge'") == []
    inc = _by(wh.rows("select * from publish.pub_incidents"), "incident_id")
    assert inc[linked["incident_id"]]["n_linked_surges"] == 1 and inc[linked["incident_id"]]["is_severe"] is True


def test_the_incident_without_a_surge_reported_late_and_reviewed_late(wh):
    case = wh.cases("incident_without_surge")[0]
    i = _by(wh.rows("select * from publish.pub_incidents"), "incident_id")[case["incident_id"]]
    assert (i["n_linked_surges"], i["report_on_time"], i["post_review_due_date"].isoformat()) == (
        0, False, case["post_review_due"])
    # reviewed on F + 2 (the re-delivered row), after its due date: late, no longer overdue
    assert (i["post_review_at"].date().isoformat(), i["review_on_time"], i["is_review_overdue"]) == (
        case["post_review_at"], False, False)


def test_the_itsm_contact_keeps_the_on_time_complainants_cadence_next_to_the_contact_log(wh):
    case = wh.cases("key_complainant_on_time")[0]
    [itsm] = wh.planted["itsm_case_events"]["contacted"]
    assert itsm["person_key"] == case["person_key"] and itsm["date"] == wh.last.isoformat()
    contacts = wh.rows("select contact_id, source, contacted_date, keeps_cadence from "
                       f"intermediate.int_complainants__contacts where person_key = '{case['person_key']}'")
    assert {c["source"] for c in contacts} == {"complaints", "cases"}  # both contact sources
    [from_itsm] = [c for c in contacts if c["source"] == "cases"]
    assert (from_itsm["contact_id"], from_itsm["contacted_date"], from_itsm["keeps_cadence"]) == (
        "cases:DEMO-KC00-CONTACT", wh.last, True)
    p = _by(wh.rows("select * from publish.pub_complainant_handling"), "person_key")[case["person_key"]]
    assert p["last_contact_date"] == wh.last  # the ITSM's contact is the latest
    assert wh.rows("select * from marts.fct_case_event_quarantine where event_id = 'DEMO-KC00-CONTACT'") == []
