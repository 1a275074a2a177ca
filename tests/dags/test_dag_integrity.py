"""DAG integrity: the nightly DAG imports cleanly, has the agreed shape, and does no I/O at import."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import time

import pytest

from fixtures.nights import REPO
from vigil.ingest.contract import FEEDS  # cases and incidents are optional: an absent folder is a quiet night

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


GATES = ("audit_raw", "audit_publish", "check_breakers")
ACTIONS = ("publish", "write_cases", "close_tickets", "hr_events", "create_tickets", "deliver_tickets", "deliver_cases",
           "send_alerts", "follow_drill")


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
    assert "hr_events" in upstream(dag, "create_tickets")  # an event's tickets are the night's own: no second one
    assert "deliver_tickets" in upstream(dag, "send_alerts")  # dead-lettered tickets are alerted


def test_the_dag_is_the_one_list_of_steps(dagbag):
    """Task ids and edges are what vigil.steps.STEPS says, which `vigil run` runs too."""
    from vigil.steps import task_graph

    dag = dagbag.dags["vigil_nightly"]
    assert {t: set(dag.get_task(t).upstream_task_ids) for t in dag.task_ids} == task_graph()


NO_RETRY = {"wait_hr": "FeedMissing", "extract_crm": "FeedError", "audit_raw": "QualityGateFailed",
            "audit_publish": "QualityGateFailed", "check_breakers": "BreakerHold"}


def _fail_with(monkeypatch, dag, task_id: str, exc: BaseException):
    """Run the task's callable with its step's library call raising exc."""
    import importlib

    from vigil.config import Settings
    from vigil.steps import Night

    module = importlib.import_module(dag.get_task(task_id).python_callable.__module__)
    night = Night(Settings(), dt.date(2026, 3, 1), "test", interval_end=dt.datetime(2026, 3, 2, tzinfo=dt.timezone.utc))
    monkeypatch.setattr(module, "_night", lambda: night)
    step = task_id.rsplit("_", 1)[0] if task_id.startswith(("wait_", "extract_")) else task_id
    fn = {"wait": "wait_for_feed", "extract": "extract_feed", "audit_raw": "audit_raw",
          "audit_publish": "audit_publish", "check_breakers": "check_breakers", "dbt_build": "build_models"}[step]

    def boom(*args, **kwargs):
        raise exc
    monkeypatch.setattr(f"vigil.pipeline.{fn}", boom)
    feed = task_id.rsplit("_", 1)[1] if step in ("wait", "extract") else None
    return dag.get_task(task_id).python_callable(feed, [])


@pytest.mark.parametrize("task_id", sorted(NO_RETRY))
def test_data_and_gate_failures_fail_the_task_without_retries(dagbag, monkeypatch, task_id):
    """An error of the data (a retry cannot fix it) raises AirflowFailException; any other error
    propagates as it is, and Airflow retries it."""
    from airflow.sdk.exceptions import AirflowFailException

    from vigil.gates.breakers import BreakerHold
    from vigil.gates.quality.results import QualityGateFailed
    from vigil.ingest.reader import FeedError
    from vigil.pipeline import FeedMissing

    dag = dagbag.dags["vigil_nightly"]
    data_error = {
        "FeedMissing": lambda: FeedMissing("hr feed for 2026-03-01 had not arrived"),
        "FeedError": lambda: FeedError("crm", "crm/2026-03-01/clients.csv", "line 2, column x: bad"),
        # built without their results: only the class decides whether the task retries
        "QualityGateFailed": lambda: QualityGateFailed.__new__(QualityGateFailed),
        "BreakerHold": lambda: BreakerHold.__new__(BreakerHold),
    }[NO_RETRY[task_id]]()
    with pytest.raises(AirflowFailException):
        _fail_with(monkeypatch, dag, task_id, data_error)
    with pytest.raises(OSError):  # e.g. a network blip: retried
        _fail_with(monkeypatch, dag, task_id, OSError("connection reset"))


def test_a_failure_of_a_step_without_data_errors_is_retried(dagbag, monkeypatch):
    from vigil.ingest.reader import FeedError

    dag = dagbag.dags["vigil_nightly"]
    with pytest.raises(FeedError):  # dbt_build declares no data errors: whatever it raises is retried
        _fail_with(monkeypatch, dag, "dbt_build", FeedError("hr", "f.csv", "x"))


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


def test_the_urgent_dag_is_scheduled_on_an_asset_watched_in_the_triggerer(dagbag):
    """vigil_urgent runs when a watcher fires (Redis pub/sub through common-messaging, the landing
    folder's doorbell), not on a schedule or a polling sensor; one thin task (docs/events.md)."""
    dag = dagbag.dags["vigil_urgent"]
    assert dag.task_ids == ["react"] and dag.max_active_runs == 1 and dag.catchup is False
    assert type(dag.timetable).__name__ == "AssetTriggeredTimetable"
    (asset,) = dag.timetable.asset_condition.objects
    triggers = {w.name: w.trigger for w in asset.watchers}
    assert set(triggers) == {"hr_events_redis", "hr_events_folder"}
    classpath, kwargs = triggers["hr_events_redis"].serialize()
    assert classpath.endswith("redis_await_message.AwaitMessageTrigger") and kwargs["channels"] == ["vigil.hr_events"]
    classpath, kwargs = triggers["hr_events_folder"].serialize()
    assert classpath.endswith("DirectoryFileDeleteTrigger") and kwargs["filename"] == "_READY"
    assert kwargs["directory"].endswith("hr_events")


def test_the_drill_dag_is_monthly_thin_and_documented(dagbag):
    """vigil_drill plans one drill a month (docs/drills.md): one task, its doc the module's, no I/O at import."""
    dag = dagbag.dags["vigil_drill"]
    assert dag.task_ids == ["plan_drill"] and dag.max_active_runs == 1 and dag.catchup is False
    assert dag.timetable.expression == "0 12 1 * *"
    assert "Vigil drill" in dag.doc_md and "dry-run sink" in dag.doc_md
    from vigil.ingest.drills import KINDS

    assert dag.params["kind"] == "leaver"  # the default stays the leaver drill; incident is the other kind
    assert dag.params.get_param("kind").schema["enum"] == list(KINDS)
    code = (f"import sys, builtins\nsys.path.insert(0, {str(REPO / 'dags')!r})\nopened = []\n"
            "real_open = builtins.open\nimport airflow.sdk\n"
            "builtins.open = lambda f, *a, **k: (opened.append(str(f)), real_open(f, *a, **k))[1]\n"
            "import vigil_drill\nprint([o for o in opened if 'landing' in o or 'drill.json' in o])\n"
            "print([m for m in ('duckdb', 'vigil.ingest.drills') if m in sys.modules])\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out[-2:] == ["[]", "[]"]

