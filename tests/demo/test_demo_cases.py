"""The demo ITSM export (vigil_demo.cases): read under the strict `cases` contract, naming the cases
dbt opens for the planted orphan accounts, one of them claimed resolved."""

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
