"""Key-complainant handling and the incident register (docs/models.md, "Rules: key complainants and
incidents"), on small hand-made nights (tests/fixtures/complainants.py).

The scenario: a first night D (2026-03-02) delivers the complainants, complaints and incidents; contacts
arrive on the nights after; dbt builds the models as of D and then as of L = D + 8. Every expected value
below is worked out by hand from the policy (seed complainant_tier_handling: high every 7 days;
seed incident_policy_targets). The same raw layer on PostgreSQL gives the same tables.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from fixtures.complainants import (DAY, D, build, complainant, complaint, contact, first_night, load_night, rows)
from fixtures.nights import TEST_KEY
from vigil.actions.alerts.derive import derive_alerts

L = D + 8 * DAY
S = D - DAY  # the surge day

MARTS = ("marts.fct_complainant_persons", "marts.fct_complainant_handling", "marts.fct_complainant_contact_dues",
         "marts.fct_incidents", "marts.fct_complaint_surge_incidents",
         "intermediate.int_response__findings_complainant_handling", "intermediate.int_response__findings_incident")
FINDING_COLUMNS = ["kind", "subject_type", "subject_id", "severity", "detected_on", "owner_team", "department",
                   "detected_by_team", "item"]


def _high(cid: str, on: dt.date) -> dict:
    """A fraud complaint (severity high: 2 points) that came through the regulator (escalation: 4): tier high."""
    return complaint(f"K-{cid}", cid, on, channel="regulator")


def _incident(iid, start, *, loc="B1", location_type="branch", severity="critical", reported=None, activated="",
              restored="", review="", effectiveness=""):
    return dict(incident_id=iid, kind="internal_failure", started_at=start, reported_at=reported or start,
                location_type=location_type, location=loc, services_affected="branch services",
                customers_affected="100", severity=severity, activated_at=activated, restored_at=restored,
                post_review_at=review, effectiveness=effectiveness)


def scenario_nights(settings) -> None:
    complaints = [
        complaint("KA1", "HA", D - 3 * DAY), complaint("KA2", "HA", D - 2 * DAY), complaint("KB1", "HB", D - DAY),
        complaint("KI1", "INS", D - DAY, category="fees"),
        _high("X0", D - DAY), _high("XP", D - DAY), _high("XM", D - DAY), _high("XN", D - DAY), _high("XG", D - DAY),
        complaint("KM1", "MV", D - 3 * DAY), complaint("KM2", "MV", D - 2 * DAY),
    ]
    # five service complaints at each of five branches on S (a surge each: nothing before them)
    for b in ("B1", "B2", "B3", "B4", "B5"):
        complaints += [complaint(f"{b}-{i}", f"Q{b}{i}", S, category="service", branch=b, satisfaction="2")
                       for i in range(5)]
    complaints.append(complaint("B1-old", "QB1old", S - 10 * DAY, category="service", branch="B1", satisfaction="4",
                                status="resolved"))
    complainants = [complainant("HA", "NID-H"), complainant("HB", "nid h"),  # one person, two ids
                    complainant("INS", "AB 123456C")]  # employee 000101's national id, not flagged by the feed
    data = first_night(complaints, complainants)
    # XG was last called 10 days before go-live: the bank's history carries on, so it is overdue on night 1
    data["complaints"]["contacts"] = [contact("C-XM", "XM", D), contact("C-XG", "XG", D - 10 * DAY)]
    data["incidents"] = {"incidents": [
        # I1: critical, at B1 from S 08:00, reported in 30 min (target 1 h), activated 2 h later (target 1 h), open
        _incident("I1", f"{S}T08:00:00Z", reported=f"{S}T08:30:00Z", activated=f"{S}T10:30:00Z"),
        # I2: B2, starts the day after the surge: the surge is outside its window
        _incident("I2", f"{D}T08:00:00Z", loc="B2"),
        # I3: B3, restored on the surge day (inside); I4: B4, restored the day before (outside)
        _incident("I3", f"{S - 2 * DAY}T08:00:00Z", loc="B3", severity="low", restored=f"{S}T20:00:00Z"),
        _incident("I4", f"{S - 3 * DAY}T08:00:00Z", loc="B4", severity="low", restored=f"{S - DAY}T20:00:00Z"),
        # I6: the online channel at the time of the surges: a channel incident links no branch surge
        _incident("I6", f"{S}T08:00:00Z", loc="online", location_type="channel", severity="medium"),
        # I7: high, restored 40 days before L, never reviewed (target 30 days): overdue on L
        _incident("I7", f"{L - 45 * DAY}T08:00:00Z", loc="", location_type="bank_wide", severity="high",
                  activated=f"{L - 45 * DAY}T09:00:00Z", restored=f"{L - 40 * DAY}T08:00:00Z"),
    ]}
    load_night(settings, D, data)
    nights = {
        D + DAY: [contact("C-X0", "X0", D + DAY)],
        D + 2 * DAY: [contact("C-XP", "XP", D + 2 * DAY), contact("C-XN1", "XN", D + 2 * DAY)],
        D + 3 * DAY: [contact("C-MV", "MV", D + 3 * DAY)],
        D + 5 * DAY: [contact("C-XN2", "XN", D + 5 * DAY, outcome="no_answer")],
    }
    for day, contacts in nights.items():
        load_night(settings, day, {"complaints": {"complaints": [], "contacts": contacts}})
    # MV's third complaint (L - 1): 3 complaints (repeat, 3) + fraud (2) = 5: medium -> high
    load_night(settings, L - DAY, {"complaints": {"complaints": [complaint("KM3", "MV", L - DAY)]}})


@pytest.fixture(scope="module")
def duck(tmp_path_factory):
    from vigil.config import Settings

    base = tmp_path_factory.mktemp("complainants")
    s = Settings(landing=str(base / "landing"), warehouse=str(base / "wh" / "vigil.duckdb"), out=base / "out",
                 mode="production", pseudonymisation_key=TEST_KEY, duckdb_memory_limit="1GB", create_warehouse=True)
    scenario_nights(s)
    build(s.warehouse, D, base / "dbt")
    first = {t: rows(s.warehouse, f"select * from {t}") for t in MARTS}
    first["alerts"] = derive_alerts(s.warehouse, D, "run-D", schema="publish_candidate")
    build(s.warehouse, L, base / "dbt")
    return s, first


def _by(table_rows, key="person_key"):
    return {r[key]: r for r in table_rows}


def _q(duck, sql):
    return rows(duck[0].warehouse, sql)


# --------------------------------------------------------------------------- one person, one complainant


def test_ids_sharing_a_national_id_token_are_one_person_with_combined_points(duck):
    persons = _by(_q(duck, "select * from marts.fct_complainant_persons"))
    h = persons["HA"]
    assert "HB" not in persons  # HB is HA's second id, not a person of its own
    assert (h["complainant_ids"], h["n_complainant_ids"], h["is_linked"]) == ("HA, HB", 2, True)
    # 2 + 1 fraud complaints: repeat (3 points) + high severity (2) = 5 -> high; alone HA is medium, HB low
    assert (h["n_complaints_window"], h["points_frequency"], h["points_severity"], h["total_points"], h["tier"]) == (
        3, 3, 2, 5, "high")
    ids = _by(_q(duck, "select * from marts.fct_complainant_risk_tiers"), "complainant_id")
    assert (ids["HA"]["tier"], ids["HB"]["tier"]) == ("medium", "low")
    assert all(not p["is_linked"] for k, p in persons.items() if k != "HA")


def test_vigil_sets_insider_link_when_a_national_id_token_matches_an_employee(duck):
    persons = _by(_q(duck, "select * from marts.fct_complainant_persons"))
    ins = persons["INS"]
    # the feed said insider_link false; the token equals employee 000101's: fees (1) + insider (4) = 5
    assert (ins["insider_by_token"], ins["insider_link"], ins["points_insider"], ins["tier"]) == (True, True, 4, "high")
    assert {k for k, p in persons.items() if p["insider_by_token"]} == {"INS"}


def test_no_token_or_name_reaches_the_handling_marts(duck):
    for table in ("marts.fct_complainant_persons", "marts.fct_complainant_handling"):
        cols = _q(duck, f"select * from {table} limit 1")[0].keys()
        assert not [c for c in cols if c in ("national_id_token", "phone_token", "full_name_token", "full_name")], table


# --------------------------------------------------------------------------- the handling plan


def test_contact_due_boundaries_on_L(duck):
    """High: every 7 days. X0 last contact L-7 (due L: day 0), XP L-6 (due L+1), XM L-8 (due L-1: overdue)."""
    plans = _by(_q(duck, "select * from marts.fct_complainant_handling"))
    got = {k: (plans[k]["last_contact_date"], plans[k]["next_contact_due"], plans[k]["days_to_contact_due"],
               plans[k]["is_contact_overdue"]) for k in ("X0", "XP", "XM")}
    assert got == {
        "X0": (L - 7 * DAY, L, 0, False),
        "XP": (L - 6 * DAY, L + DAY, 1, False),
        "XM": (D, L - DAY, -1, True),
    }


def test_an_unanswered_call_does_not_keep_the_cadence(duck):
    xn = _by(_q(duck, "select * from marts.fct_complainant_handling"))["XN"]
    assert (xn["last_contact_date"], xn["last_attempt_outcome"], xn["next_contact_due"]) == (
        D + 2 * DAY, "no_answer", D + 9 * DAY)


def test_a_tier_move_replans_from_the_tier_entry(duck):
    mv = _by(_q(duck, "select * from marts.fct_complainant_handling"))["MV"]
    # medium on D (14 days), high on L: planned from L (7 days), its medium-tier contact of D+3 does not count
    assert (mv["tier"], mv["tier_entered_on"], mv["is_go_live"], mv["is_new_plan"]) == ("high", L, False, True)
    assert (mv["contact_every_days"], mv["next_contact_due"]) == (7, L + 7 * DAY)
    first = _by(duck[1]["marts.fct_complainant_handling"])["MV"]
    assert (first["tier"], first["contact_every_days"], first["next_contact_due"]) == ("medium", 14, D + 14 * DAY)


def test_the_go_live_population_is_planned_on_night_1(duck):
    first = _by(duck[1]["marts.fct_complainant_handling"])
    assert set(first) == {"HA", "INS", "X0", "XP", "XM", "XN", "XG", "MV"}  # P1 and the surge complainants: low
    assert all(p["is_go_live"] and p["is_new_plan"] and p["tier_entered_on"] == D for p in first.values())
    assert {k: p["next_contact_due"] for k, p in first.items() if p["tier"] == "high"} == {
        **{k: D + 7 * DAY for k in ("HA", "INS", "X0", "XP", "XM", "XN")}, "XG": D - 3 * DAY}
    xg = first["XG"]  # its last call before go-live starts the plan: due D - 3, overdue on night 1
    assert (xg["plan_start_date"], xg["days_to_contact_due"], xg["is_contact_overdue"]) == (D - 10 * DAY, -3, True)


def test_contact_dues_on_L(duck):
    dues = {(r["person_key"], r["due_date"]): (r["made_on"], r["is_on_time"])
            for r in _q(duck, "select * from marts.fct_complainant_contact_dues")}
    # a due date counts once it has passed (due on L is still in time); XM: due L-1, not made
    assert dues[("X0", D + 7 * DAY)] == (D + DAY, True)
    assert ("X0", L) not in dues
    assert dues[("XM", L - DAY)] == (None, False)
    assert dues[("HA", D + 7 * DAY)] == (None, False)
    assert dues[("XG", D - 3 * DAY)] == (None, False)
    assert dues[("XP", D + 7 * DAY)] == dues[("XN", D + 7 * DAY)] == (D + 2 * DAY, True)
    assert not [k for k in dues if k[0] in ("XP", "XN") and k[1] != D + 7 * DAY]  # next due L + 1, L + 2
    assert not [k for k in dues if k[0] == "MV"]  # re-planned on L: first due L + 7


def test_complainant_handling_findings(duck):
    f = {(r["subject_id"], r["item"]): r for r in _q(
        duck, "select * from intermediate.int_response__findings_complainant_handling")}
    plans = ("HA", "INS", "X0", "XP", "XM", "XN", "XG", "MV")
    assert set(f) == {(p, i) for p in plans for i in ("contact_plan", "legal_linkage")} | {
        (p, "missed_contact") for p in ("XM", "HA", "INS", "XG")}
    assert f[("XM", "missed_contact")]["detected_on"] == L and f[("XM", "missed_contact")]["severity"] == "high"
    assert f[("HA", "legal_linkage")]["owner_team"] == "legal"
    assert f[("MV", "contact_plan")]["detected_on"] == L
    assert list(next(iter(f.values())).keys()) == FINDING_COLUMNS


def test_the_item_policy_handles_a_high_tier_sooner_than_a_medium_one():
    """Every complainant_handling item is due per tier (seed case_item_policy): high strictly sooner."""
    import csv

    from fixtures.nights import REPO

    with (REPO / "dbt_project" / "seeds" / "response" / "case_item_policy.csv").open() as f:
        sla = {(r["item"], r["severity"]): int(r["sla_days"]) for r in csv.DictReader(f)
               if r["kind"] == "complainant_handling"}
    items = {item for item, _ in sla}
    assert items == {"contact_plan", "legal_linkage", "missed_contact"}
    for item in items:
        assert sla[(item, "high")] < sla[(item, "medium")], item


# --------------------------------------------------------------------------- incidents


def test_surges_link_to_an_incident_inside_its_window_and_place_only(duck):
    links = {r["branch_id"]: r["linked_incident_id"] for r in _q(duck, "select * from marts.fct_complaint_surge_incidents")}
    # B1: started on the surge day (inside); B2: started the day after (outside); B3: restored on the surge day
    # (inside); B4: restored the day before (outside); B5: no incident; the online channel incident links none
    assert links == {"B1": "I1", "B2": None, "B3": "I3", "B4": None, "B5": None}
    surge_findings = {r["subject_id"] for r in _q(
        duck, "select * from intermediate.int_response__findings_incident where kind = 'complaint_surge'")}
    assert surge_findings == {f"{b}:service:{S}" for b in ("B2", "B4", "B5")}


def test_incident_timeliness_against_the_policy_targets(duck):
    inc = _by(_q(duck, "select * from marts.fct_incidents"), "incident_id")
    i1 = inc["I1"]  # critical: report 1 h, activate 1 h, restore 24 h
    assert (i1["hours_to_report"], i1["report_on_time"], i1["hours_to_activate"], i1["activate_on_time"]) == (
        Decimal("0.50"), True, Decimal("2.00"), False)
    assert (i1["is_restored"], i1["restore_on_time"], i1["is_severe"]) == (False, False, True)  # 24 h passed long ago
    i7 = inc["I7"]  # high, restored L-40, review due within 30 days: overdue
    assert (i7["hours_to_restore"], i7["restore_on_time"], i7["post_review_due_date"], i7["is_review_overdue"]) == (
        Decimal("120.00"), False, L - 10 * DAY, True)
    assert (i7["review_on_time"], inc["I3"]["review_on_time"], inc["I3"]["is_review_overdue"]) == (False, None, False)
    f = {(r["subject_id"], r["item"]): r for r in _q(duck, "select * from intermediate.int_response__findings_incident "
                                                          "where kind = 'incident'")}
    assert f[("I7", "post_review_overdue")]["detected_on"] == L - 9 * DAY
    assert f[("I1", "activation")]["owner_team"] == "emergency_leadership"
    assert f[("I3", "activation")]["owner_team"] == "customer_service"
    assert not [k for k in f if k[1] == "post_review_overdue" and k[0] != "I7"]


def test_incident_customer_impact_against_the_baseline(duck):
    i1 = _by(_q(duck, "select * from marts.fct_incidents"), "incident_id")["I1"]
    # window S..L (not restored): 5 complaints in 10 days; baseline: 1 in the 28 days before S
    assert (i1["window_days"], i1["n_complaints_window"], i1["n_complaints_baseline"]) == (10, 5, 1)
    assert i1["volume_ratio"] == Decimal("14.00")  # (5 / 10) / (1 / 28)
    assert (i1["satisfaction_window"], i1["satisfaction_baseline"], i1["n_linked_surges"]) == (
        Decimal("2.00"), Decimal("4.00"), 1)


# --------------------------------------------------------------------------- KPIs


def test_kpis_against_a_hand_computation(duck):
    kpis = {(r["kpi"], r["period_type"], r["period_start"].isoformat()): (r["numerator"], r["denominator"])
            for r in _q(duck, "select * from marts.fct_complainant_incident_kpi_counts")}
    march, q1, feb = ("month", "2026-03-01"), ("quarter", "2026-01-01"), ("month", "2026-02-01")
    # contacts due 2026-03-09 (D + 7): X0, XP, XN made in time; HA, INS, XM not (XM's was on the entry day)
    assert kpis[("contact_cadence_kept_high", *march)] == (3, 6)
    assert kpis[("contact_cadence_kept_medium", *march)] == (0, 0)  # MV moved up, its dues went with the plan
    # X0, XP, XM, XN, XG came through the regulator on 2026-03-01
    assert kpis[("reputational_escalations", *march)] == kpis[("reputational_escalations", *q1)] == (5, None)
    assert kpis[("contact_cadence_kept_high", *feb)] == (0, 1)  # XG's, due 2026-02-27
    # steps count in the period of their deadline. March: I1 (report 03-01 in time, activation 03-01 late,
    # restoration 03-02 late), I2 (report in time, activation and restoration late), I6 (the same), I3 and
    # I4 (activation due 03-02 / 03-01 late, restoration due 03-06 / 03-05 in time): 5 of 13.
    # Q1 adds I3's and I4's reports (in time) and I7 (report, activation in time; restoration 120 h > 48 h
    # and the review due 02-28 late): 9 of 19. Reviews not yet due (I3, I4) and open steps in time count nowhere.
    assert kpis[("incident_timeliness", *march)] == (5, 13)
    assert kpis[("incident_timeliness", *q1)] == (9, 19)
    # the deadline cohort of March (deadline <= L): only B1-old (low, resolved the day it came)
    assert kpis[("complainant_resolution_rate_low", *march)] == (1, 1)
    assert kpis[("complainant_resolution_rate_high", *march)] == (0, 0)
    assert kpis[("complainant_satisfaction_low", *feb)] == (4, 1)


# --------------------------------------------------------------------------- alerts


def test_go_live_is_one_digest_and_later_nights_alert_new_plans_and_missed_contacts(duck):
    first = [a for a in duck[1]["alerts"] if a.kind.startswith("complainant_")]
    assert sorted((a.kind, a.subject_id) for a in first) == [  # 8 plans, one digest; XG overdue on night 1
        ("complainant_contact_overdue", "XG"), ("complainant_handling_planned", D.isoformat())]
    digest = next(a for a in first if a.kind == "complainant_handling_planned")
    assert (digest.facts["plans"], digest.facts["by_tier"], digest.facts["go_live"]) == (
        8, {"high": 7, "medium": 1}, True)
    assert digest.title.startswith("Go-live: 8 key complainants")
    later = derive_alerts(duck[0].warehouse, L, "run-L", schema="publish_candidate")
    missed = {a.subject_id: a for a in later if a.kind == "complainant_contact_overdue"}
    assert set(missed) == {"HA", "INS", "XM", "XG"}  # due L - 1 (XG: D - 3); X0 (due L), XP/XN (L + 1) in time
    assert missed["XM"].facts["days_overdue"] == 1 and missed["XM"].severity == "high"
    planned = [a for a in later if a.kind == "complainant_handling_planned"]
    assert [(a.facts["plans"], a.facts["person_keys"], a.facts["go_live"]) for a in planned] == [(1, ["MV"], False)]
    for a in later + duck[1]["alerts"]:  # pseudonymous ids and terms only
        assert "Person " not in a.to_json() and "NID-H" not in a.to_json()


def test_severe_incidents_alert_at_once_and_late_reviews_escalate(duck):
    first = {(a.kind, a.subject_id) for a in duck[1]["alerts"] if a.kind.startswith("incident_")}
    # D: I1, I2 critical; I7 high (bank-wide) and its review not yet late (due L - 10 = D - 2: already late)
    assert first == {("incident_severe", "I1"), ("incident_severe", "I2"), ("incident_severe", "I7"),
                     ("incident_review_overdue", "I7")}
    later = derive_alerts(duck[0].warehouse, L, "run-L", schema="publish_candidate")
    again = {(a.kind, a.subject_id): a.alert_id for a in later if a.kind.startswith("incident_")}
    assert again == {(a.kind, a.subject_id): a.alert_id for a in duck[1]["alerts"] if a.kind.startswith("incident_")}


def test_the_example_routing_sends_severe_incidents_to_the_emergency_leadership():
    import yaml

    from fixtures.nights import REPO

    from vigil.actions.alerts.config import load_config

    load_config(REPO / "config" / "alerting.example.yml")  # valid: every kind routed exists
    routing = yaml.safe_load((REPO / "config" / "alerting.example.yml").read_text())["routing"]
    assert "emergency-leadership" in routing["incident_severe"]
    assert routing["incident_review_overdue"] == ["emergency-leadership"]


# --------------------------------------------------------------------------- PostgreSQL


def _normal(rows_: list[dict]) -> list[tuple]:
    def v(x):
        if isinstance(x, (Decimal, float)):
            return round(float(x), 2)
        if isinstance(x, dt.datetime):
            return x.astimezone(dt.timezone.utc).isoformat()
        return x
    return sorted((tuple((k, v(x)) for k, x in sorted(r.items())) for r in rows_), key=repr)


@pytest.mark.postgres
@pytest.mark.slow
def test_postgres_builds_the_same_tables(duck, pg_url, tmp_path):
    from fixtures.postgres import copy_raw_layer

    s, first = duck
    copy_raw_layer(s.warehouse, pg_url)
    build(pg_url, D, tmp_path / "dbt")
    for t in MARTS:
        assert _normal(rows(pg_url, f"select * from {t}")) == _normal(first[t]), t
    build(pg_url, L, tmp_path / "dbt")
    for t in MARTS:
        assert _normal(rows(pg_url, f"select * from {t}")) == _normal(rows(s.warehouse, f"select * from {t}")), t
