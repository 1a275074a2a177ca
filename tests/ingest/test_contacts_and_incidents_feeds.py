"""Key-complainant contacts (complaints/<D>/contacts.csv, optional table) and the incident register
(incidents/<D>/incidents.csv, optional feed): absent is a quiet night, present is read strictly, and a
bad row names the file, line and column (docs/feeds.md)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from fixtures.nights import D, write_csv, write_night
from vigil.ingest.contract import table
from vigil.ingest.reader import FeedError
from vigil.pipeline import extract_feed, feed_ready, load_feed
from vigil.store.warehouse import Warehouse

CONTACTS = table("complaints", "contacts")
INCIDENTS = table("incidents", "incidents")

GOOD_CONTACT = dict(contact_id="CT1", complainant_id="P1", contacted_at="2026-03-02T09:00:00Z", channel="phone",
                    outcome="reached", handler_id="000103")
GOOD_INCIDENT = dict(incident_id="INC1", kind="cyber", started_at="2026-03-01T22:00:00Z",
                     reported_at="2026-03-01T22:40:00Z", location_type="channel", location="online",
                     services_affected="online banking", customers_affected="1200", severity="critical",
                     activated_at="2026-03-01T23:00:00Z")


def _contacts(landing, rows):
    return write_csv(Path(landing) / "complaints" / D.isoformat() / "contacts.csv", list(CONTACTS.column_names), rows)


def _incidents(landing, rows):
    return write_csv(Path(landing) / "incidents" / D.isoformat() / "incidents.csv", list(INCIDENTS.column_names), rows)


def _raw(settings, sql):
    wh = Warehouse.open(settings.warehouse)
    with wh.transaction() as con:
        return con.execute(sql).fetchall()


def test_contacts_are_optional_and_loaded_when_delivered(settings):
    write_night(settings.landing)
    loaded = load_feed(settings, extract_feed(settings, "complaints", D, "run-1"))
    assert "contacts" not in [t["table"] for t in loaded["tables"]]
    _contacts(settings.landing, [GOOD_CONTACT, dict(GOOD_CONTACT, contact_id="CT2", outcome="no_answer", handler_id="")])
    loaded = load_feed(settings, extract_feed(settings, "complaints", D, "run-2"))
    assert ("contacts", 2) in [(t["table"], t["rows"]) for t in loaded["tables"]]
    rows = _raw(settings, "SELECT contact_id, outcome, handler_id, _source_line FROM raw.complaints__contacts "
                          "ORDER BY contact_id")
    assert rows == [("CT1", "reached", "000103", 2), ("CT2", "no_answer", None, 3)]


def test_an_absent_incident_register_is_a_quiet_night_and_a_delivered_one_loads(settings):
    write_night(settings.landing)
    assert feed_ready(settings, "incidents", D) is True
    assert extract_feed(settings, "incidents", D, "run-1")["tables"] == []
    _incidents(settings.landing, [GOOD_INCIDENT, dict(GOOD_INCIDENT, incident_id="INC2", location_type="bank_wide",
                                                      location="", customers_affected="", severity="low")])
    loaded = load_feed(settings, extract_feed(settings, "incidents", D, "run-2"))
    assert [(t["table"], t["rows"]) for t in loaded["tables"]] == [("incidents", 2)]
    rows = _raw(settings, "SELECT incident_id, kind, location_type, customers_affected FROM raw.incidents__incidents "
                          "ORDER BY incident_id")
    assert rows == [("INC1", "cyber", "channel", 1200), ("INC2", "cyber", "bank_wide", None)]


@pytest.mark.parametrize("change, column", [
    (dict(outcome="answered"), "outcome"),
    (dict(channel="carrier pigeon"), "channel"),
    (dict(contacted_at="yesterday"), "contacted_at"),
    (dict(contact_id=""), "contact_id"),
    (dict(complainant_id=""), "complainant_id"),
])
def test_a_bad_contact_names_file_line_and_column(settings, change, column):
    write_night(settings.landing)
    _contacts(settings.landing, [GOOD_CONTACT, {**GOOD_CONTACT, "contact_id": "CT2", **change}])
    with pytest.raises(FeedError) as e:
        extract_feed(settings, "complaints", D, "run-1")
    msg = str(e.value)
    assert "complaints/2026-03-02/contacts.csv" in msg and "line 3" in msg and column in msg, msg
    assert "Traceback" not in msg


@pytest.mark.parametrize("change, column", [
    (dict(kind="meteor"), "kind"),
    (dict(severity="severe"), "severity"),
    (dict(location_type="district"), "location_type"),
    (dict(started_at="1 March"), "started_at"),
    (dict(reported_at=""), "reported_at"),
    (dict(customers_affected="-1"), "customers_affected"),
    (dict(effectiveness="0"), "effectiveness"),
    (dict(effectiveness="6"), "effectiveness"),
])
def test_a_bad_incident_names_file_line_and_column(settings, change, column):
    write_night(settings.landing)
    _incidents(settings.landing, [GOOD_INCIDENT, {**GOOD_INCIDENT, "incident_id": "INC2", **change}])
    with pytest.raises(FeedError) as e:
        extract_feed(settings, "incidents", D, "run-1")
    msg = str(e.value)
    assert "incidents/2026-03-02/incidents.csv" in msg and "line 3" in msg and column in msg, msg


@pytest.mark.parametrize("value", ["0", "1", "5"])
def test_effectiveness_and_customers_affected_at_their_bounds_are_accepted(settings, value):
    write_night(settings.landing)
    eff = value if value != "0" else "1"
    _incidents(settings.landing, [dict(GOOD_INCIDENT, customers_affected=value, effectiveness=eff)])
    assert [t["rows"] for t in extract_feed(settings, "incidents", D, "run-1")["tables"]] == [1]
