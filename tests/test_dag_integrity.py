"""DAG integrity: the nightly DAG imports cleanly, has the agreed shape, and does no I/O at import."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from conftest import REPO

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
        assert t.retries >= 1 or t.task_id.startswith("extract_"), t.task_id


def test_every_feed_is_extracted_before_anything_loads(dagbag):
    dag = dagbag.dags["vigil_nightly"]
    extracts = {f"extract_{f}" for f in ("hr", "iam", "crm", "complaints")}
    loads = [f"load_{f}" for f in ("hr", "iam", "crm", "complaints")]
    assert extracts | set(loads) | {"audit_raw", "dbt_build"} == set(dag.task_ids)
    for load in loads:
        assert extracts <= dag.get_task(load).upstream_task_ids | dag.get_task(load).get_flat_relative_ids(upstream=True)


def test_loads_never_run_concurrently(dagbag):
    """DuckDB allows one writing process: every pair of loads must be ordered."""
    dag = dagbag.dags["vigil_nightly"]
    loads = [f"load_{f}" for f in ("hr", "iam", "crm", "complaints")]
    for earlier, later in zip(loads, loads[1:]):
        assert earlier in dag.get_task(later).get_flat_relative_ids(upstream=True)
    assert set(loads) <= dag.get_task("audit_raw").get_flat_relative_ids(upstream=True)


def test_models_are_built_only_after_the_raw_gate(dagbag):
    dag = dagbag.dags["vigil_nightly"]
    assert "audit_raw" in dag.get_task("dbt_build").upstream_task_ids


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
