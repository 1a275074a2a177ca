"""Optional feeds (the ITSM's case events): absent is a quiet night, present is read as strictly as any feed."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from fixtures.nights import D, write_csv, write_night
from vigil.ingest.contract import FEEDS, OPTIONAL_FEEDS, table
from vigil.ingest.reader import FeedError
from vigil.ingest.sources import LandingSource
from vigil.pipeline import extract_feed, feed_ready, load_feed, wait_for_feed
from vigil.store.warehouse import Warehouse

UTC = dt.timezone.utc
EVENTS = table("cases", "case_events")


def _events(landing, rows, date=D):
    return write_csv(Path(landing) / "cases" / date.isoformat() / "case_events.csv", list(EVENTS.column_names), rows)


def test_only_the_cases_and_incidents_feeds_are_optional_and_their_tables_are_incremental():
    assert OPTIONAL_FEEDS == {"cases", "incidents"} and set(OPTIONAL_FEEDS) < set(FEEDS)
    assert all(t.mode == "incremental" and not t.required
               for t in (table("cases", "case_events"), table("incidents", "incidents")))


def test_an_absent_optional_feed_is_ready_and_loads_nothing(settings):
    write_night(settings.landing)  # the four required feeds, no cases/ folder
    deadline = dt.datetime(2026, 3, 3, tzinfo=UTC)
    assert feed_ready(settings, "cases", D) is True
    assert wait_for_feed(settings, "cases", D, deadline, now=deadline + dt.timedelta(days=1)) is True
    extracted = extract_feed(settings, "cases", D, "run-1")
    assert extracted["tables"] == [] and extracted["warnings"] == []
    loaded = load_feed(settings, extracted)
    assert loaded["tables"] == []


def test_an_absent_required_feed_is_still_an_error(settings):
    write_night(settings.landing, feeds=("hr", "iam", "complaints"))
    with pytest.raises(FeedError, match="crm/2026-03-02/: no delivery"):
        LandingSource(settings.landing).files_for("crm", D)


def test_a_delivered_optional_feed_is_loaded(settings):
    write_night(settings.landing)
    _events(settings.landing, [
        dict(event_id="EV1", case_id="VCS-" + "a" * 32, event="acknowledged", event_at="2026-03-02T09:00:00Z", actor_id="000103"),
        dict(event_id="EV2", itsm_ref="INC0012345", event="resolved", event_at="2026-03-02T15:30:00Z", outcome="fixed"),
        dict(event_id="EV3", case_id="VCS-" + "b" * 32, event="contacted", event_at="2026-03-02T16:00:00Z",
             actor_id="000104", outcome="reached", channel="phone"),
    ])
    loaded = load_feed(settings, extract_feed(settings, "cases", D, "run-1"))
    assert [(t["table"], t["rows"]) for t in loaded["tables"]] == [("case_events", 3)]
    wh = Warehouse.open(settings.warehouse)
    with wh.transaction() as con:
        rows = con.execute("SELECT event_id, event, _source_line FROM raw.cases__case_events ORDER BY event_id").fetchall()
    assert rows == [("EV1", "acknowledged", 2), ("EV2", "resolved", 3), ("EV3", "contacted", 4)]


@pytest.mark.parametrize("row, column", [
    (dict(event_id="EV1", case_id="VCS-x", event="closed", event_at="2026-03-02T09:00:00Z"), "event"),
    (dict(event_id="EV1", case_id="VCS-x", event="resolved", event_at="2 March"), "event_at"),
    (dict(event_id="", case_id="VCS-x", event="resolved", event_at="2026-03-02T09:00:00Z"), "event_id"),
    # a contact with a complainant: the channel is one of the contacts' channels
    (dict(event_id="EV1", case_id="VCS-x", event="contacted", event_at="2026-03-02T09:00:00Z", channel="fax"), "channel"),
])
def test_a_bad_case_event_names_file_line_and_column(settings, row, column):
    write_night(settings.landing)
    _events(settings.landing, [dict(event_id="EV0", case_id="VCS-y", event="assigned", event_at="2026-03-02T08:00:00Z"), row])
    with pytest.raises(FeedError) as e:
        extract_feed(settings, "cases", D, "run-1")
    assert "cases/2026-03-02/case_events.csv" in str(e.value) and "line 3" in str(e.value) and column in str(e.value)


def test_vigil_run_says_an_optional_feed_was_not_sent():
    from vigil.steps import STEP_BY_ID, NOT_SENT

    assert STEP_BY_ID["extract"].describe({"tables": []}) == NOT_SENT
    assert STEP_BY_ID["load"].describe({"tables": []}) == NOT_SENT
    assert STEP_BY_ID["load"].describe({"tables": [{"table": "case_events", "action": "loaded", "stale": False}]}) \
        == "case_events loaded"
