"""One list of a night's steps (vigil.steps.STEPS): `vigil run` runs exactly it, in order, and the DAG
is built from it (tests/dags/test_dag_integrity.py checks the DAG's tasks and edges against it)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib

import pytest

from fixtures.nights import TEST_KEY
from vigil import pipeline
from vigil.config import Settings
from vigil.ingest.contract import FEEDS
from vigil.steps import STEPS, task_graph

D = dt.date(2026, 3, 1)

#: The night as an operator knows it (docs/architecture.md, the DAG's doc): task -> what it waits for.
EXPECTED_GRAPH = {
    **{f"wait_{f}": set() for f in FEEDS},
    **{f"extract_{f}": {f"wait_{f}"} for f in FEEDS},
    "source_freshness": set(),
    **{f"load_{f}": {*(f"extract_{g}" for g in FEEDS), "source_freshness"} | ({f"load_{p}"} if p else set())
       for f, p in zip(FEEDS, (None, *FEEDS))},
    "audit_raw": {f"load_{f}" for f in FEEDS},
    "dbt_build": {"audit_raw"},
    "audit_publish": {"dbt_build"},
    "check_breakers": {"audit_publish"},
    "publish": {"check_breakers"},
    "write_cases": {"publish"},
    "close_tickets": {"check_breakers", "write_cases"},
    "hr_events": {"close_tickets"},
    "create_tickets": {"check_breakers", "hr_events"},
    "deliver_tickets": {"create_tickets"},
    "deliver_cases": {"deliver_tickets", "write_cases"},
    "send_alerts": {"check_breakers", "create_tickets", "deliver_tickets", "deliver_cases"},
    "follow_drill": {"send_alerts"},
}

#: What `vigil run` prints and summary.json records, in order (vigil status and the benchmark read these names).
IN_PROCESS = [*(f"extract {f}" for f in FEEDS), "source freshness", *(f"load {f}" for f in FEEDS), "audit raw",
              "dbt build", "audit publish", "circuit breakers", "publish", "cases", "close tickets", "hr events", "create tickets",
              "deliver tickets", "deliver cases", "alerts", "drill"]


def test_the_steps_make_the_night_everyone_knows():
    assert task_graph() == EXPECTED_GRAPH
    assert FEEDS == ("hr", "iam", "crm", "complaints", "cases", "incidents")  # the loads' order above (optional feeds last)


def test_the_steps_are_listed_in_an_order_that_runs_each_after_what_it_needs():
    graph, seen = task_graph(), set()
    for s in STEPS:
        for task_id, _ in s.instances():
            assert graph[task_id] <= seen, task_id
            seen.add(task_id)


def test_every_no_retry_error_names_an_exception_class():
    named = set()
    for s in STEPS:
        for ref in s.no_retry:
            module, cls = ref.rsplit(".", 1)
            assert issubclass(getattr(importlib.import_module(module), cls), Exception), ref
            named.add(cls)
    assert named == {"FeedMissing", "FeedError", "DrillFileError", "QualityGateFailed", "BreakerHold",
                     "WarehouseMissing"}


def _settings(tmp_path) -> Settings:
    return Settings(landing=str(tmp_path / "landing"), warehouse=str(tmp_path / "vigil.duckdb"), out=tmp_path / "out",
                    mode="production", pseudonymisation_key=TEST_KEY, create_warehouse=True)


@pytest.fixture
def recorded(monkeypatch):
    """Replace the library calls behind the steps with recorders: (function, feed or its input) per call."""
    calls: list[tuple] = []

    def recorder(name, result=None):
        def fn(*args, **kwargs):
            feed = next((a for a in args if a in FEEDS), None)
            extracted = next((a for a in args if isinstance(a, dict) and "feed" in a), None)
            calls.append((name, feed or (extracted or {}).get("feed"), kwargs))
            return {"feed": feed, "date": D.isoformat(), "warnings": [], **(result or {})}
        return fn

    for name in ("extract_feed", "check_source_freshness", "load_feed", "audit_raw", "build_models", "audit_publish",
                 "publish_night", "write_night_cases", "close_revocations", "reconcile_events", "issue_tickets", "deliver",
                 "deliver_night_cases", "nightly_alerts", "follow_night_drill"):
        monkeypatch.setattr(pipeline, name, recorder(name, {"created": 2} if name == "issue_tickets" else None))
    monkeypatch.setattr(pipeline, "check_breakers", recorder("check_breakers", {"held": ["alert:x"]}))
    # the real steps, each describing its result in one word (the results above are not real ones)
    monkeypatch.setattr(pipeline, "STEPS", tuple(dataclasses.replace(s, describe=lambda out: "ok") for s in STEPS))
    return calls


def test_run_nightly_runs_exactly_the_steps_in_order(tmp_path, recorded):
    summary = pipeline.run_nightly(_settings(tmp_path), D)
    assert summary.status == "published", summary.error
    assert [st.name for st in summary.steps] == IN_PROCESS
    assert [(name, feed) for name, feed, _ in recorded] == [
        *(("extract_feed", f) for f in FEEDS), ("check_source_freshness", None), *(("load_feed", f) for f in FEEDS),
        ("audit_raw", None), ("build_models", None), ("audit_publish", None), ("check_breakers", None),
        ("publish_night", None), ("write_night_cases", None), ("close_revocations", None), ("reconcile_events", None),
        ("issue_tickets", None), ("deliver", None), ("deliver_night_cases", None), ("nightly_alerts", None),
        ("follow_night_drill", None)]
    alerts = recorded[-2][2]  # the alerts get the tickets' and the breakers' results
    assert alerts["created"]["created"] == 2 and alerts["breakers_out"]["held"] == ["alert:x"]


def test_no_actions_stops_after_publish_and_the_gates_do_not_alert(tmp_path, recorded):
    summary = pipeline.run_nightly(_settings(tmp_path), D, actions=False)
    assert [st.name for st in summary.steps] == IN_PROCESS[:IN_PROCESS.index("publish") + 1]
    assert all(kw.get("alert") is False for name, _, kw in recorded if name in ("audit_raw", "audit_publish",
                                                                                  "check_breakers"))


def test_a_failed_step_stops_the_night_there(tmp_path, recorded, monkeypatch):
    def fails(*args, **kwargs):
        raise RuntimeError("dbt build failed: model x")
    monkeypatch.setattr(pipeline, "build_models", fails)
    summary = pipeline.run_nightly(_settings(tmp_path), D, full_refresh=True)
    assert summary.status == "failed" and summary.failed_step == "dbt build"
    assert [st.name for st in summary.steps] == IN_PROCESS[:IN_PROCESS.index("dbt build")]
    assert [name for name, _, _ in recorded][-1] == "audit_raw"


def test_full_refresh_reaches_the_build(tmp_path, recorded):
    pipeline.run_nightly(_settings(tmp_path), D, full_refresh=True)
    assert [kw for name, _, kw in recorded if name == "build_models"] == [{"full_refresh": True}]
    pipeline.run_nightly(_settings(tmp_path), D)
    assert [kw for name, _, kw in recorded if name == "build_models"][-1] == {"full_refresh": False}


def test_source_freshness_is_skipped_only_while_nothing_is_loaded(tmp_path, monkeypatch):
    """The first night ever has only empty sources, which dbt calls stale: 0 loads skip the check
    (no warning), 1 load runs it."""
    from vigil.store.warehouse import init_warehouse

    from fixtures.nights import MINIMAL_NIGHT, write_night

    settings = _settings(tmp_path)
    init_warehouse(settings.warehouse)
    ran = []
    monkeypatch.setattr(pipeline, "run_dbt", lambda args, **kw: ran.append(args) or
                        dataclasses.make_dataclass("R", ["nodes"])([]))
    out = pipeline.check_source_freshness(settings, D)
    assert (out["sources"], out["stale"], out["warnings"], ran) == (0, 0, [], [])
    assert "nothing loaded yet" in out["skipped"]

    write_night(tmp_path / "landing", D, MINIMAL_NIGHT)
    pipeline.load_feed(settings, pipeline.extract_feed(settings, "hr", D, "r1"))
    out = pipeline.check_source_freshness(settings, D)
    assert ran == [["source", "freshness"]] and "skipped" not in out


def test_every_step_has_exactly_one_runner_in_the_pipeline():
    from vigil.pipeline import RUNNERS

    assert set(RUNNERS) == {s.task_id for s in STEPS}


def test_the_dags_first_writing_steps_never_start_a_warehouse_at_a_mistyped_path(tmp_path):
    """Under Airflow (Settings.from_env) source freshness and the loads are the first steps that write:
    without VIGIL_CREATE_WAREHOUSE they refuse a missing warehouse and create nothing; with it they start one."""
    from vigil.store.warehouse import WarehouseMissing

    from fixtures.nights import MINIMAL_NIGHT, write_night

    typo = tmp_path / "typo" / "vigil.duckdb"
    env = {"VIGIL_LANDING": str(tmp_path / "landing"), "VIGIL_WAREHOUSE": str(typo), "VIGIL_OUT": str(tmp_path / "out"),
           "VIGIL_MODE": "production", "VIGIL_PSEUDONYMISATION_KEY": TEST_KEY.decode()}
    write_night(tmp_path / "landing", D, MINIMAL_NIGHT)
    settings = Settings.from_env(env)
    assert settings.create_warehouse is False
    extracted = pipeline.extract_feed(settings, "hr", D, "r1")  # reads files only: no warehouse needed
    with pytest.raises(WarehouseMissing, match="VIGIL_CREATE_WAREHOUSE"):
        pipeline.check_source_freshness(settings, D)
    with pytest.raises(WarehouseMissing, match=str(typo)):
        pipeline.load_feed(settings, extracted)
    assert not typo.parent.exists()
    first_night = Settings.from_env(env | {"VIGIL_CREATE_WAREHOUSE": "true"})
    assert first_night.create_warehouse is True
    pipeline.load_feed(first_night, extracted)
    assert typo.is_file()
    pipeline.load_feed(settings, extracted)  # it exists now: a later night needs no flag
