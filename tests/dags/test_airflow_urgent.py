"""A real Airflow reacts to HR events (issue 24): a message on Redis leads to a SCIM PATCH, and an
event published while the triggerer is down is not lost.

Airflow 3.3 as processes (benchmarks/airflow_harness.py: api-server, scheduler, dag-processor, plus
the triggerer) on a fresh PostgreSQL metadata database, LocalExecutor. `vigil_urgent` is scheduled on
the asset `vigil_hr_events`, whose watchers (Redis pub/sub through common-messaging, the landing
folder's doorbell) run in the triggerer. The IAM system is a loopback scim2-server.

1. An event written to the landing folder and published on the channel: the account is disabled
   (SCIM PATCH active=false accepted); the seconds it took are printed. The 60 s target is measured
   by benchmarks/urgent_bench.py on a quiet machine (docs/benchmarks.md), not asserted here, where the
   test shares two cores with the rest of the suite.
2. The triggerer is stopped; an event is written and published (nobody listens: the message is
   gone) and the doorbell rung; the triggerer is started again: the event is acted on all the same.

Run it alone:  .venv/bin/python -m pytest tests/dags/test_airflow_urgent.py -s
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from pathlib import Path

import pytest

from fixtures.events import build_estate, event
from fixtures.nights import REPO
from fixtures.postgres import fresh_database
from fixtures.tickets import ScimServer, write_config
from vigil.ingest import events as ev

sys.path.insert(0, str(REPO / "benchmarks"))
from airflow_harness import Airflow  # noqa: E402

pytestmark = [pytest.mark.airflow, pytest.mark.slow, pytest.mark.realairflow, pytest.mark.postgres]

TOKEN = "scim-test-token-0123456789"


def wait_until(check, timeout: float, af: Airflow, what: str) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        af.check_alive()
        if check():
            return time.monotonic() - started
        time.sleep(0.2)
    raise AssertionError(f"{what} did not happen in {timeout}s\n" + "\n".join(p.tail(80) for p in af.processes))


def test_a_redis_message_leads_to_a_scim_patch_and_a_triggerer_restart_loses_nothing(tmp_path, monkeypatch):
    import redis

    channel = f"vigil.hr_events.test.{uuid.uuid4().hex[:8]}"
    landing, out = tmp_path / "landing", tmp_path / "out"
    warehouse = str(tmp_path / "warehouse" / "vigil.duckdb")
    build_estate(warehouse)
    bus = redis.Redis(host="127.0.0.1", port=6379)
    with ScimServer(token=TOKEN) as scim, fresh_database("vigil_af_urgent") as meta:
        users = {a: scim.add_user(a) for a in ("ad-100", "pay-100", "ad-400")}
        config = write_config(tmp_path / "delivery.yml", {
            "version": 1, "defaults": {"max_attempts": 3, "backoff_base_seconds": 0.01, "timeout_seconds": 5},
            "channels": {"iam_scim": {"type": "scim", "base_url": scim.base_url, "token_env": "TEST_SCIM_TOKEN"}},
            "default": "iam_scim"})
        env = {"VIGIL_LANDING": str(landing), "VIGIL_WAREHOUSE": warehouse, "VIGIL_OUT": str(out),
               "VIGIL_MODE": "demo", "VIGIL_DELIVERY_CONFIG": str(config), "TEST_SCIM_TOKEN": TOKEN,
               "VIGIL_DUCKDB_MEMORY_LIMIT": "1GB", "VIGIL_HR_EVENTS_CHANNEL": channel,
               "AIRFLOW_CONN_VIGIL_REDIS": "redis://127.0.0.1:6379/0",
           # asset-triggered runs are created by the scheduler's job schedule, which the harness turns off
           "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "True"}
        ev.events_dir(landing).mkdir(parents=True)
        af = Airflow(tmp_path / "airflow", meta, env, "LocalExecutor")
        af.cli("db", "migrate", timeout=600)
        with af.components(("triggerer",)):
            af.wait_for_dag(dag_id="vigil_urgent")
            af.cli("dags", "unpause", "vigil_urgent")
            wait_until(lambda: dict(bus.pubsub_numsub(channel)).get(channel.encode(), 0) >= 1, 180, af,
                       "the triggerer subscribing to the channel")

            # 1. the file first (the record of truth), then the message
            first = event("af-1", "dismissal", "E100")
            ev.land_event(landing, first, ring=False)
            t0 = time.monotonic()
            assert bus.publish(channel, json.dumps(first)) >= 1
            seconds = wait_until(lambda: scim.user(users["ad-100"])["active"] is False, 240, af,
                                 "the SCIM PATCH of the dismissal")
            print(f"\n[timing] event on Redis -> SCIM PATCH accepted: {seconds:.1f}s", flush=True)
            assert scim.user(users["pay-100"])["active"] is False

            # 2. nobody listens while the triggerer is down: the message is gone, the file is not
            af.stop_component("triggerer")
            wait_until(lambda: dict(bus.pubsub_numsub(channel)).get(channel.encode(), 0) == 0, 60, af,
                       "the channel losing its subscriber")
            second = event("af-2", "dismissal", "E400")
            ev.land_event(landing, second)  # writes the file and rings the doorbell
            assert bus.publish(channel, json.dumps(second)) == 0  # no receiver: lost on the channel
            time.sleep(3)
            assert scim.user(users["ad-400"])["active"] is True
            af.start("triggerer-again", "triggerer")
            wait_until(lambda: scim.user(users["ad-400"])["active"] is False, 240, af,
                       "the event published while the triggerer was down")

    import duckdb

    with duckdb.connect(warehouse, read_only=True) as con:
        rows = con.execute("SELECT event_id, status, received_via FROM urgent.events ORDER BY event_id").fetchall()
    assert rows == [("af-1", "acted", "airflow"), ("af-2", "acted", "airflow")]
