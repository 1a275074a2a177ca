"""A past quarter's pack is reproducible: built again after later nights were loaded, it gives the
same numbers, because it reads the quarter's own slices (pub_review_* keep the latest slice of every
quarter) and never "the latest" state. Also: the slices' retention and carry-forward in dbt, and the
vigil_quarterly DAG under Airflow.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from fixtures.demo import approve_held_night

from fixtures.nights import REPO, TEST_KEY
from test_review_pack import numbers_only, pdf_pages, table_of, without_run_lines, workbook_rows
from vigil.reports import build_review_pack

pytestmark = pytest.mark.slow

Q1_END = dt.date(2026, 3, 31)
NEXT = dt.date(2026, 4, 1)


def run_night(settings, day: dt.date) -> None:
    """One night as the demo fixture runs it; a night held by a breaker is approved and released
    (as `vigil approve` and clearing check_breakers would), without rebuilding it."""
    from vigil.pipeline import check_breakers, publish_night, run_nightly

    summary = run_nightly(settings, day, actions=False)
    if summary.status == "held":
        approve_held_night(settings, day)
        check_breakers(settings, day, summary.run_id, alert=False)
        publish_night(settings, day, summary.run_id)
    else:
        assert summary.ok, summary.error


def query(path: str, sql: str) -> list[tuple]:
    con = duckdb.connect(path, read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def across_quarters(tmp_path_factory):
    """Demo feeds for 2026-03-31 (Q1's last day) and 2026-04-01: the Q1 pack is built after the first
    night, then the second night is loaded and the Q1 pack built again."""
    from vigil.config import Settings
    from vigil_demo import generate

    base = tmp_path_factory.mktemp("across-quarters")
    generate(base / "landing", Q1_END, 2, scale="tiny", seed=11)
    s = Settings(landing=str(base / "landing"), warehouse=str(base / "warehouse" / "vigil.duckdb"), out=base / "out",
                 mode="production", pseudonymisation_key=TEST_KEY, duckdb_memory_limit="1GB", create_warehouse=True)
    run_night(s, Q1_END)
    before = build_review_pack(s.warehouse, "2026Q1", out=base / "before", run_id="review__before", landing=s.landing)
    state_before = query(s.warehouse, "select exception_id from publish.pub_access_exceptions union all "
                                      "select ticket_key from publish.pub_leaver_access_exposure")
    run_night(s, NEXT)
    after = build_review_pack(s.warehouse, "2026Q1", out=base / "after", run_id="review__after", landing=s.landing)
    q2 = build_review_pack(s.warehouse, "2026Q2", out=base / "after", run_id="review__q2", landing=s.landing)
    return {"settings": s, "before": before, "after": after, "q2": q2, "state_before": state_before}


def test_a_past_quarter_rebuilt_after_later_nights_gives_the_same_numbers(across_quarters):
    before, after = across_quarters["before"], across_quarters["after"]
    assert before["as_of_date"] == after["as_of_date"] == Q1_END.isoformat()
    assert before["complete"] is after["complete"] is True
    assert after["counts"] == before["counts"]
    assert numbers_only(Path(after["xlsx"])) == numbers_only(Path(before["xlsx"]))
    assert without_run_lines(pdf_pages(Path(after["pdf"]))) == without_run_lines(pdf_pages(Path(before["pdf"])))
    assert "Provisional" not in pdf_pages(Path(after["pdf"]))[0]


def test_the_state_did_move_on_so_reading_latest_would_differ(across_quarters):
    """The test above can fail: the published current state of 04-01 is not Q1's last state."""
    s = across_quarters["settings"]
    now = query(s.warehouse, "select exception_id from publish.pub_access_exceptions union all "
                             "select ticket_key from publish.pub_leaver_access_exposure")
    assert sorted(now) != sorted(across_quarters["state_before"])
    slices = query(s.warehouse, "select snapshot_date, count(*) from publish.pub_review_findings group by all "
                                "order by 1")
    assert [d for d, _ in slices] == [Q1_END, NEXT]  # the latest slice of each quarter
    keys = {d: {k for k, in query(s.warehouse, f"select finding_key from publish.pub_review_findings "
                                                f"where snapshot_date = date '{d}'")} for d, _ in slices}
    assert keys[Q1_END] != keys[NEXT]
    q2 = across_quarters["q2"]
    assert q2["as_of_date"] == NEXT.isoformat() and q2["complete"] is False
    q1_leavers = table_of(workbook_rows(Path(across_quarters["after"]["xlsx"])), "Leavers overdue")[1]
    q2_leavers = table_of(workbook_rows(Path(q2["xlsx"])), "Leavers overdue")[1]
    assert q1_leavers != q2_leavers


def test_the_kpi_scorecard_of_a_complete_quarter_is_final(across_quarters):
    header, rows = table_of(workbook_rows(Path(across_quarters["after"]["xlsx"])), "KPI trend")
    assert header[2] == "period" and header[9] == "is_complete"
    assert {(r[2], r[9]) for r in rows if r[2] in ("2026-Q1", "2026-03")} == {("2026-Q1", True), ("2026-03", True)}


# --------------------------------------------------------------------------- retention in dbt


def test_slices_keep_one_per_quarter_and_carry_surges_forward(demo_warehouse, tmp_path):
    """dbt alone on a copy of the demo warehouse: within a quarter only the latest slice stays; a
    surge that left the 90-day window stays listed for the rest of its quarter; a backfill of an
    earlier night leaves the quarter's later slice alone."""
    from vigil.build.dbt_runner import run_dbt

    wh = str(tmp_path / "copy.duckdb")
    shutil.copy(demo_warehouse.settings.warehouse, wh)
    last = demo_warehouse.last
    surge = demo_warehouse.cases("complaint_surge")[0]
    key = f"CH-02:{surge['branch_id']}:{surge['category']}:{surge['date']}"

    def slices():
        return query(wh, "select snapshot_date, count(*) from publish_candidate.pub_review_findings "
                         "group by all order by 1")

    def run(day: dt.date):
        run_dbt(["run", "-s", "pub_review_findings"], warehouse=wh, run_date=day, work_dir=tmp_path / "dbt")

    assert [d for d, _ in slices()] == [last]  # the demo's five nights left one slice
    con = duckdb.connect(wh)
    con.execute("delete from publish_candidate.pub_complaint_surges")  # as if it aged out of the window
    con.close()
    later = last + dt.timedelta(days=1)
    run(later)
    assert [d for d, _ in slices()] == [later]
    carried = query(wh, f"select snapshot_date, n_items from publish_candidate.pub_review_findings "
                        f"where finding_key = '{key}'")
    assert carried == [(later, surge["count"])]
    run(NEXT)  # a new quarter: Q1's latest slice stays, nothing of Q1 is carried into Q2
    assert [d for d, _ in slices()] == [later, NEXT]
    assert query(wh, f"select snapshot_date from publish_candidate.pub_review_findings "
                     f"where finding_key = '{key}'") == [(later,)]
    before = query(wh, f"select * from publish_candidate.pub_review_findings where snapshot_date = date '{later}' "
                       f"order by finding_key")
    run(last - dt.timedelta(days=2))  # backfill of an earlier Q1 night
    assert [d for d, _ in slices()] == [later, NEXT]
    assert query(wh, f"select * from publish_candidate.pub_review_findings where snapshot_date = date '{later}' "
                     f"order by finding_key") == before


# --------------------------------------------------------------------------- under Airflow


@pytest.mark.airflow
def test_quarterly_dag_builds_the_pack_of_the_quarter_that_ended(across_quarters, tmp_path, monkeypatch):
    airflow = Path(sys.executable).parent / "airflow"
    subprocess.run([str(airflow), "db", "migrate"], check=True, env=os.environ.copy(), capture_output=True)
    s = across_quarters["settings"]
    monkeypatch.setenv("VIGIL_WAREHOUSE", s.warehouse)
    monkeypatch.setenv("VIGIL_OUT", str(tmp_path / "out"))
    monkeypatch.setenv("VIGIL_LANDING", s.landing)
    monkeypatch.setenv("VIGIL_PSEUDONYMISATION_KEY", TEST_KEY.decode())

    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert bag.import_errors == {}
    dag = bag.dags["vigil_quarterly"]
    from vigil.reports import Quarter, last_published_night

    # the sensor passes at its first poke (dag.test would otherwise wait for the next one, 30 min on)
    assert last_published_night(s.warehouse, Quarter.parse("2026Q1")) == Q1_END
    # run at 2026-04-01 06:00: the interval ending then is the first quarter's
    run = dag.test(logical_date=dt.datetime(2026, 4, 1, 6, tzinfo=dt.timezone.utc))
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert run.state == "success", states
    assert states == {"wait_for_quarter_end": "success", "build_review_pack": "success"}
    pack = tmp_path / "out" / "reviews" / "2026Q1"
    assert (pack / "review_pack.pdf").exists() and (pack / "review_pack.xlsx").exists()
    assert numbers_only(pack / "review_pack.xlsx") == numbers_only(Path(across_quarters["after"]["xlsx"]))
