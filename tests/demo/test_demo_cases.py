"""The demo ITSM export (vigil_demo.cases): read under the strict `cases` contract, naming the cases
dbt opens for the planted orphan accounts, one of them claimed resolved."""

from __future__ import annotations

import datetime as dt
import hashlib

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
    assert out == {"file": f"cases/{D.isoformat()}/case_events.csv", "acknowledged": [ad, cb], "resolved_claimed": [ad]}
    extracted = extract_feed(settings, "cases", D, "run-1")
    [events] = extracted["tables"]
    assert (events["table"], events["rows"], events["rejected_rows"]) == ("case_events", 3, 0)


def test_no_planted_orphans_no_export(settings):
    assert write_case_events(settings.landing, D, 1, {"cases": {}}) == {}
    assert extract_feed(settings, "cases", D, "run-1")["tables"] == []
