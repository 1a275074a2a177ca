"""The review pack's Response section (docs/review-pack.md, section 9; docs/cases.md): SLA per kind,
the oldest open cases per owner team and the per-department KPIs, from crafted published cases."""

from __future__ import annotations

import datetime as dt

from vigil.reports.data import ReviewData, _Reader, _response
from vigil.reports.quarter import Quarter
from vigil.store.warehouse import Warehouse

A = dt.date(2026, 3, 31)
Q = Quarter.parse("2026Q1")


def _case(n, kind, team, opened, due, status="open", closed=None):
    return (A, f"VCS-{n:032x}", kind, team, opened, due, "P2", status, closed)


def test_response_tables_count_what_was_published_on_the_as_of_night(tmp_path):
    url = str(tmp_path / "wh.duckdb")
    d = dt.date
    rows = [
        _case(1, "orphan_account", "iam", d(2026, 3, 1), d(2026, 3, 3)),                               # open, overdue
        _case(2, "orphan_account", "iam", d(2026, 3, 30), d(2026, 4, 1)),                              # open, not yet due
        _case(3, "orphan_account", "iam", d(2026, 2, 1), d(2026, 2, 3), "closed_verified", d(2026, 2, 3)),  # day 0: on time
        _case(4, "orphan_account", "iam", d(2026, 2, 1), d(2026, 2, 3), "closed_verified", d(2026, 2, 4)),  # +1: late
        _case(5, "orphan_account", "iam", d(2025, 12, 1), d(2025, 12, 3), "closed_verified", d(2025, 12, 31)),  # last quarter
        _case(6, "leaver", "hr", d(2026, 3, 31), d(2026, 3, 31), "resolved_claimed"),                  # due today: not overdue
    ] + [_case(10 + i, "dormant_account", "iam", d(2026, 1, 1 + i), d(2026, 6, 1)) for i in range(6)]
    wh = Warehouse.open(url)
    with wh.transaction() as con:
        con.execute("CREATE SCHEMA publish")
        # the quarter-end slice the pack reads (pub_review_cases); a slice of another night must not count
        con.execute("CREATE TABLE publish.pub_review_cases (snapshot_date DATE, case_id VARCHAR, kind VARCHAR, "
                    "owner_team VARCHAR, opened_on DATE, due_by DATE, priority VARCHAR, status VARCHAR, closed_at DATE)")
        for r in rows + [(d(2025, 12, 31), *_case(99, "orphan_account", "iam", d(2025, 12, 1), d(2025, 12, 3))[1:])]:
            con.execute("INSERT INTO publish.pub_review_cases VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)", r)
    data = ReviewData(quarter=Q, as_of=A, complete=True, engine="duckdb", run_id="r", generated_at=dt.datetime.now(),
                      viewer_role=None, identified=False)
    with wh.connection() as con:
        _response(_Reader(wh, con), data)
    sla = {row[0]: row[1:] for row in data.tables["Response SLA"].rows}
    # kind: open, overdue, claimed_unverified, closed_in_quarter, closed_within_sla, share
    assert sla["orphan_account"] == (2, 1, 0, 2, 1, 0.5)
    assert sla["leaver"] == (1, 0, 1, 0, 0, None)
    assert list(sla) == ["leaver", "orphan_account", "dormant_account"]  # the policy's order of kinds
    oldest = data.tables["Oldest open cases"].rows
    iam = [r for r in oldest if r[0] == "iam"]
    assert len(iam) == 5 and [r[3] for r in iam] == sorted(r[3] for r in iam)  # five oldest, oldest first
    assert iam[0][2] == "dormant_account" and iam[0][7] == (A - d(2026, 1, 1)).days
    assert data.tables["Response by department"].rows == []  # no response KPIs built in this warehouse
