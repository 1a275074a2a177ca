"""The HR event's quick schema check (vigil.ingest.events.obviously_valid): `vigil react` skips
importing jsonschema for an event it passes, so it must never pass an event the schema
(docs/hr_events.schema.json, checked by jsonschema) refuses."""

from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator

from fixtures.events import event
from vigil.ingest import events as ev

GOOD = event("wd-1", "dismissal", "000101")
TIME = "2026-03-03T09:00:00Z"


def valid(data) -> bool:
    return not list(Draft202012Validator(ev.schema()).iter_errors(data))


CASES = [
    GOOD,
    dict(GOOD, effective_at="2026-03-03T09:00:00.123456+01:00"),
    dict(GOOD, kind="rehire_cancel"),
    dict(GOOD, event_id="a" * 128), dict(GOOD, event_id="a" * 129),       # the length limit -0/+1
    dict(GOOD, employee_id="e" * 64), dict(GOOD, employee_id="e" * 65),
    dict(GOOD, kind="fired"), dict(GOOD, kind=1), dict(GOOD, kind=None),
    dict(GOOD, employee_id=101), dict(GOOD, employee_id=""), dict(GOOD, employee_id="-101"),
    dict(GOOD, event_id="wd 1"), dict(GOOD, source="work/day"),
    dict(GOOD, effective_at="2026-03-03 09:00:00Z"), dict(GOOD, effective_at="2026-03-03T09:00:00"),
    dict(GOOD, reported_at=TIME + "\n"),  # `$` before a final newline: what jsonschema's re.search decides
    dict(GOOD, reported_at="2026-03-03T09:00:00.1234567Z"),
    dict(GOOD, full_name="A Person"), {k: v for k, v in GOOD.items() if k != "source"},
    [GOOD], "text", None, {},
]


@pytest.mark.parametrize("data", CASES, ids=range(len(CASES)))
def test_the_quick_check_passes_only_what_the_schema_accepts(data):
    assert ev.obviously_valid(data) is valid(data)


def test_a_schema_with_a_keyword_the_quick_check_does_not_read_always_goes_to_jsonschema(monkeypatch):
    schema = dict(ev.schema(), minProperties=6)
    monkeypatch.setattr(ev, "schema", lambda: schema)
    ev._quick_rules.cache_clear()
    try:
        assert ev.obviously_valid(GOOD) is False
    finally:
        ev._quick_rules.cache_clear()
