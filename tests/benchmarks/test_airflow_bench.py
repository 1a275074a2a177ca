"""benchmarks/airflow_bench.py's arithmetic: Airflow's part of a night from task timings.

A synthetic run (no Airflow): source -> wait -> (extract_a, extract_b) -> load -> last. The
critical path goes through the extract that ended last, the sensor counts whole, and Airflow's
part is the run's wall time minus the steps' own seconds on that path.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from airflow_bench import airflow_share  # noqa: E402

UPSTREAMS = {"source": set(), "wait_x": {"source"}, "extract_a": {"wait_x"}, "extract_b": {"wait_x"},
             "load": {"extract_a", "extract_b"}, "last": {"load"}}


def task(task_id, started, ended, step):
    return {"task_id": task_id, "started_at": started, "ended_at": ended, "duration": ended - started,
            "step_seconds": step}


def timeline(extract_b_ends: float) -> list[dict]:
    return [
        task("source", 1.0, 3.0, 0.5),       # 1 s after the run started; 1.5 s of Airflow inside
        task("wait_x", 4.0, 5.0, None),      # a sensor: all of it is Airflow's
        task("extract_a", 6.0, 10.0, 3.0),
        task("extract_b", 6.0, extract_b_ends, 2.0),
        task("load", max(10.0, extract_b_ends) + 1.0, max(10.0, extract_b_ends) + 4.0, 2.5),
        task("last", max(10.0, extract_b_ends) + 5.0, max(10.0, extract_b_ends) + 6.0, 0.5),
    ]


def test_the_critical_path_goes_through_the_upstream_that_ended_last():
    s = airflow_share(timeline(extract_b_ends=9.0), UPSTREAMS, run_wall=16.0)
    assert s["critical_path"] == ["source", "wait_x", "extract_a", "load", "last"]
    s = airflow_share(timeline(extract_b_ends=12.0), UPSTREAMS, run_wall=18.0)
    assert s["critical_path"] == ["source", "wait_x", "extract_b", "load", "last"]


def test_airflow_part_is_the_wall_minus_the_steps_on_the_critical_path():
    tasks = timeline(extract_b_ends=9.0)
    s = airflow_share(tasks, UPSTREAMS, run_wall=16.0)
    assert s["critical_path_step_seconds"] == pytest.approx(0.5 + 0 + 3.0 + 2.5 + 0.5)
    assert s["airflow_seconds"] == pytest.approx(16.0 - 6.5)
    assert s["airflow_seconds_per_critical_task"] == pytest.approx(9.5 / 5)
    # gaps: source starts 1 s in, wait 1 s after source, extract_a 1 s, load 1 s, last 1 s
    assert s["critical_gaps_seconds"] == pytest.approx(5.0)
    by_id = {t["task_id"]: t for t in tasks}
    assert by_id["wait_x"]["airflow_seconds"] == pytest.approx(1.0)  # the sensor, whole
    assert by_id["source"]["airflow_seconds"] == pytest.approx(1.5)
    assert by_id["extract_b"]["gap_before"] == pytest.approx(1.0)


def test_a_step_that_reports_no_seconds_is_listed_not_guessed():
    tasks = timeline(extract_b_ends=9.0)
    tasks[2]["step_seconds"] = None  # extract_a
    s = airflow_share(tasks, UPSTREAMS, run_wall=16.0)
    assert s["untimed_tasks"] == ["extract_a"]
    assert {t["task_id"]: t["airflow_seconds"] for t in tasks}["extract_a"] is None
