"""DAG integrity: the nightly DAG imports cleanly, has the agreed shape, and does no I/O at import."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from fixtures.nights import REPO

pytestmark = pytest.mark.airflow


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO / "dags"))


def test_every_dag_imports_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert "vigil_nightly" in dagbag.dags


def test_nightly_dag_properties(dagbag):
    dag = dagbag.dags["vigil_nightly"]
    assert dag.catchup is False
    assert dag.max_active_runs == 1
    assert dag.doc_md and "Vigil nightly" in dag.doc_md
    assert {"vigil", "nightly"} <= set(dag.tags)
    assert type(dag.timetable).__name__ == "CronDataIntervalTimetable"  # logical date = the business day D
    assert dag.timetable.expression == "0 0 * * *"
    for t in dag.tasks:
        assert t.retries >= 1, t.task_id


FEEDS = ("hr", "iam", "crm", "complaints")
GATES = ("audit_raw", "audit_publish", "check_breakers")
ACTIONS = ("publish", "write_cases", "close_tickets", "create_tickets", "deliver_tickets", "send_alerts")


def upstream(dag, task_id: str) -> set[str]:
    return dag.get_task(task_id).get_flat_relative_ids(upstream=True)


def test_the_nightly_tasks(dagbag):
    dag = dagbag.dags["vigil_nightly"]
    per_feed = {f"{step}_{f}" for step in ("wait", "extract", "load") for f in FEEDS}
    assert set(dag.task_ids) == per_feed | {"source_freshness", "dbt_build", *GATES, *ACTIONS}


def test_source_freshness_ends_before_the_first_warehouse_write_and_runs_beside_the_extracts(dagbag):
    dag = dagbag.dags["vigil_nightly"]
    assert not dag.get_task("source_freshness").upstream_task_ids
    # Everything from the first load on opens the warehouse: freshness (which opens it too) comes first.
    beside = {f"{step}_{f}" for step in ("wait", "extract") for f in FEEDS}
    for t in set(dag.task_ids) - beside - {"source_freshness"}:
        assert "source_freshness" in upstream(dag, t), t
    # The waits and extracts never open the warehouse, so they do not wait for it.
    assert not any("source_freshness" in upstream(dag, t) for t in beside)


def test_every_feed_is_waited_for_and_extracted_before_anything_loads(dagbag):
    dag = dagbag.dags["vigil_nightly"]
    extracts = {f"extract_{f}" for f in FEEDS}
    for f in FEEDS:
        assert f"wait_{f}" in dag.get_task(f"extract_{f}").upstream_task_ids
        assert extracts <= upstream(dag, f"load_{f}")


def test_loads_never_run_concurrently(dagbag):
    """DuckDB allows one writing process: every pair of loads must be ordered."""
    dag = dagbag.dags["vigil_nightly"]
    loads = [f"load_{f}" for f in FEEDS]
    for earlier, later in zip(loads, loads[1:]):
        assert earlier in upstream(dag, later)
    assert set(loads) <= upstream(dag, "audit_raw")


def test_write_audit_publish_order(dagbag):
    """Models after the raw gate; the publish gate after the models; every action after every gate
    and the breakers — nothing reaches people or IAM systems from an unchecked night."""
    dag = dagbag.dags["vigil_nightly"]
    assert "audit_raw" in upstream(dag, "dbt_build")
    assert "dbt_build" in upstream(dag, "audit_publish")
    assert "audit_publish" in upstream(dag, "check_breakers")
    for action in ACTIONS:
        assert set(GATES) | {"dbt_build"} <= upstream(dag, action), action
    for action in ACTIONS[1:]:
        assert "publish" in upstream(dag, action), action
    assert "create_tickets" in upstream(dag, "deliver_tickets")
    assert "deliver_tickets" in upstream(dag, "send_alerts")  # dead-lettered tickets are alerted


def test_data_and_gate_failures_are_not_retried(dagbag):
    """The tasks that fail on bad data raise AirflowFailException (see the DAG); the rest retry."""
    import inspect

    dag = dagbag.dags["vigil_nightly"]
    source = inspect.getsource(inspect.getmodule(dag.get_task("audit_raw").python_callable))
    for error in ("FeedMissing", "FeedError", "QualityGateFailed", "BreakerHold"):
        assert f", {error})" in source, error


def test_dag_file_does_no_io_and_imports_fast():
    """Parsing runs every few seconds in the dag-processor: no warehouse, file or network access there."""
    code = (
        "import builtins, time, sys\n"
        "opened = []\n"
        "real_open = builtins.open\n"
        "def spy(f, *a, **k):\n"
        "    opened.append(str(f)); return real_open(f, *a, **k)\n"
        "import airflow.sdk\n"
        "builtins.open = spy\n"
        "t0 = time.perf_counter()\n"
        f"sys.path.insert(0, {str(REPO / 'dags')!r})\n"
        "import vigil_nightly\n"
        "print(time.perf_counter() - t0)\n"
        "print([o for o in opened if 'landing' in o or '.duckdb' in o or '.csv' in o])\n"
        "print([m for m in ('duckdb', 'great_expectations', 'dbt', 'pandas') if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    assert float(out[-3]) < 2.0
    assert out[-2] == "[]"
    assert out[-1] == "[]", "heavy libraries must be imported inside tasks"
