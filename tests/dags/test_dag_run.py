"""The nightly DAG really runs under Airflow (dag.test) on demo data and builds the warehouse."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from fixtures.nights import REPO, TEST_KEY

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

D = dt.date(2026, 3, 1)


@pytest.fixture(scope="module")
def airflow_db():
    airflow = Path(sys.executable).parent / "airflow"
    subprocess.run([str(airflow), "db", "migrate"], check=True, env=os.environ.copy(), capture_output=True)


def test_dag_test_runs_one_night_end_to_end(airflow_db, tmp_path, monkeypatch):
    from fixtures.nights import minimal_night_as_of, write_night

    landing = write_night(tmp_path / "landing", D, minimal_night_as_of(D))  # one leaver: under every breaker
    warehouse = tmp_path / "warehouse" / "vigil.duckdb"
    monkeypatch.setenv("VIGIL_LANDING", str(landing))
    monkeypatch.setenv("VIGIL_WAREHOUSE", str(warehouse))
    monkeypatch.setenv("VIGIL_CREATE_WAREHOUSE", "true")  # a first night: it starts the warehouse
    monkeypatch.setenv("VIGIL_OUT", str(tmp_path / "out"))
    monkeypatch.setenv("VIGIL_PSEUDONYMISATION_KEY", TEST_KEY.decode())

    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(REPO / "dags")).dags["vigil_nightly"]
    run = dag.test(logical_date=dt.datetime(D.year, D.month, D.day, tzinfo=dt.timezone.utc))
    assert run.state == "success", [(ti.task_id, ti.state) for ti in run.get_task_instances()]
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    from vigil.steps import task_graph

    # every task of the night ran and succeeded: one per feed (six, the optional ones absent) per per-feed step
    assert set(states.values()) == {"success"} and set(states) == set(task_graph()) and len(states) == 32

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        assert con.execute("SELECT DISTINCT _feed_date FROM raw.hr__employees").fetchall() == [(D,)]
        assert con.execute("SELECT count(*) FROM marts.dim_employees").fetchall()[0][0] == 3
        assert con.execute("SELECT count(*) FROM publish.pub_leaver_access_exposure").fetchall()[0][0] == 1
        assert con.execute("SELECT count(*) FROM tickets.tickets").fetchall()[0][0] >= 1
    finally:
        con.close()


def test_dag_run_with_bad_input_fails_in_extract_and_loads_nothing(airflow_db, tmp_path, monkeypatch):
    from vigil_demo import generate

    landing = tmp_path / "landing"
    generate(landing, D, 1, scale="tiny", seed=3)
    (landing / "iam" / D.isoformat() / "accounts.csv").write_bytes(b"")  # the extract failed upstream
    warehouse = tmp_path / "warehouse" / "vigil.duckdb"
    monkeypatch.setenv("VIGIL_LANDING", str(landing))
    monkeypatch.setenv("VIGIL_WAREHOUSE", str(warehouse))
    monkeypatch.setenv("VIGIL_CREATE_WAREHOUSE", "true")  # a first night: it starts the warehouse
    monkeypatch.setenv("VIGIL_OUT", str(tmp_path / "out"))
    monkeypatch.setenv("VIGIL_PSEUDONYMISATION_KEY", TEST_KEY.decode())

    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(REPO / "dags")).dags["vigil_nightly"]
    run = dag.test(logical_date=dt.datetime(D.year, D.month, D.day, tzinfo=dt.timezone.utc))
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert run.state == "failed"
    assert states["extract_iam"] == "failed"
    assert all(states[f"load_{f}"] == "upstream_failed" for f in ("hr", "iam", "crm", "complaints"))
    assert states["audit_raw"] == states["dbt_build"] == "upstream_failed"
    assert all(states[t] == "upstream_failed" for t in ("publish", "create_tickets", "deliver_tickets", "send_alerts"))
    assert not (tmp_path / "out" / "tickets").exists()


def test_a_feed_missing_past_its_deadline_fails_the_wait_and_nothing_runs(airflow_db, tmp_path, monkeypatch):
    """A missing folder is a source error, never an empty night: the wait fails at the deadline."""
    from fixtures.nights import minimal_night_as_of, write_night

    landing = write_night(tmp_path / "landing", D, minimal_night_as_of(D), feeds=("hr", "iam", "complaints"))  # no CRM
    warehouse = tmp_path / "warehouse" / "vigil.duckdb"
    monkeypatch.setenv("VIGIL_LANDING", str(landing))
    monkeypatch.setenv("VIGIL_WAREHOUSE", str(warehouse))
    monkeypatch.setenv("VIGIL_CREATE_WAREHOUSE", "true")  # a first night: it starts the warehouse
    monkeypatch.setenv("VIGIL_OUT", str(tmp_path / "out"))
    monkeypatch.setenv("VIGIL_PSEUDONYMISATION_KEY", TEST_KEY.decode())
    monkeypatch.setenv("VIGIL_FEED_WAIT_SECONDS", "0")  # the deadline (end of D) has long passed

    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(REPO / "dags")).dags["vigil_nightly"]
    run = dag.test(logical_date=dt.datetime(D.year, D.month, D.day, tzinfo=dt.timezone.utc))
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert run.state == "failed"
    assert states["wait_crm"] == "failed" and states["wait_hr"] == "success"
    assert states["extract_crm"] == "upstream_failed"
    assert all(states[f"load_{f}"] == "upstream_failed" for f in ("hr", "iam", "crm", "complaints"))
    con = duckdb.connect(str(warehouse), read_only=True)
    try:  # source_freshness created the empty raw schema; nothing was loaded
        assert con.execute("SELECT count(*) FROM raw._vigil_loads").fetchall() == [(0,)]
    finally:
        con.close()


def test_the_drill_dag_plans_the_next_nights_drill(airflow_db, tmp_path, monkeypatch):
    import json

    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("VIGIL_LANDING", str(tmp_path))
    dag = DagBag(dag_folder=str(REPO / "dags")).dags["vigil_drill"]
    end = dt.datetime(2026, 4, 1, 12, tzinfo=dt.timezone.utc)
    run = dag.test(logical_date=end)
    assert run.state == "success"
    planned = json.loads((tmp_path / "drills" / "2026-04-01" / "drill.json").read_text())
    assert planned["drill_id"].startswith("DRILL-") and planned["employee_id"].startswith("DRILL-")
    assert planned["run_date"] == "2026-04-01"
