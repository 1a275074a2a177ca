"""A real Airflow deployment runs the nightly DAG: not `dag.test()`, but the processes production runs.

Airflow 3.3 with a PostgreSQL metadata database (a fresh one, dropped afterwards): `airflow db
migrate`, then the api-server (on a free port), the scheduler and the dag-processor as separate
processes. The nightly DAG is triggered for a logical date with the CLI (`airflow dags trigger`,
`airflow dags unpause`) and polled in the metadata database until it finishes:

1. LocalExecutor, DuckDB warehouse (the embedded default);
2. CeleryExecutor with an `airflow celery worker` on the local Redis (a free database number) and the
   Celery result backend in the metadata database, PostgreSQL warehouse with the least-privilege
   roles and their VIGIL_WAREHOUSE_URL_<ROLE> set (the docker-compose layout).

Production settings: VIGIL_MODE=production with a VIGIL_PSEUDONYMISATION_KEY. The scheduler creates no
scheduled runs (`[scheduler] use_job_schedule = False`): only the triggered run executes. The test
asserts that the run and every one of its task instances succeeded, whatever the DAG's task list is
today. A failure fails at once (a task going up_for_retry counts) with that task's log. Every process
is started in its own process group and killed with it, whatever happens.

Run it alone:  .venv/bin/python -m pytest -m realairflow -s   (-s prints the timings of each phase)
"""

from __future__ import annotations

import contextlib
import datetime as dt
import socket
import sys
import time
import uuid
from pathlib import Path

import pytest

from fixtures.nights import REPO, TEST_KEY, minimal_night_as_of, write_night

from fixtures.postgres import fresh_database

sys.path.insert(0, str(REPO / "benchmarks"))  # the harness is shared with benchmarks/airflow_bench.py
from airflow_harness import DAG_ID, Airflow  # noqa: E402

pytestmark = [pytest.mark.airflow, pytest.mark.slow, pytest.mark.realairflow, pytest.mark.postgres]

D_LOCAL = dt.date(2026, 3, 2)
D_CELERY = dt.date(2026, 3, 3)
REDIS = ("127.0.0.1", 6379)
TIMINGS: dict[str, float] = {}


# --------------------------------------------------------------------------- helpers


def _redis_command(sock, *args: str):
    """A minimal RESP client (one command, one reply): enough to find and reserve a database."""
    payload = f"*{len(args)}\r\n" + "".join(f"${len(a.encode())}\r\n{a}\r\n" for a in args)
    sock.sendall(payload.encode())
    data = b""
    while not data.endswith(b"\r\n"):
        data += sock.recv(4096)
    kind, rest = data[:1], data[1:-2].decode()
    if kind == b"-":
        raise RuntimeError(rest)
    return int(rest) if kind == b":" else rest


@contextlib.contextmanager
def redis_database():
    """A Redis database number nobody uses: empty, and reserved with a key only this run holds."""
    token = uuid.uuid4().hex
    chosen = None
    with socket.create_connection(REDIS, timeout=5) as sock:
        databases = 16
        with contextlib.suppress(Exception):
            databases = int(_redis_command(sock, "CONFIG", "GET", "databases") or 16)  # pragma: no cover
        for db in range(databases - 1, 0, -1):  # from the top: 0 and the low numbers are everyone's default
            _redis_command(sock, "SELECT", str(db))
            if _redis_command(sock, "DBSIZE") != 0:
                continue
            if _redis_command(sock, "SET", "vigil-test-reservation", token, "NX", "EX", "3600") == "OK":
                chosen = db
                break
    if chosen is None:
        pytest.fail("no empty Redis database to run the Celery worker on")
    try:
        yield chosen
    finally:
        with socket.create_connection(REDIS, timeout=5) as sock:
            _redis_command(sock, "SELECT", str(chosen))
            # Only what this run put there: the database was empty and reserved for it.
            _redis_command(sock, "FLUSHDB")


def _vigil_env(landing: Path, warehouse: str, out: Path) -> dict[str, str]:
    return {
        "VIGIL_LANDING": str(landing),
        "VIGIL_WAREHOUSE": warehouse,
        "VIGIL_CREATE_WAREHOUSE": "true",  # the first night starts the warehouse
        "VIGIL_OUT": str(out),
        "VIGIL_MODE": "production",
        "VIGIL_PSEUDONYMISATION_KEY": TEST_KEY.decode(),
        "VIGIL_DUCKDB_MEMORY_LIMIT": "1GB",
        "VIGIL_FEED_WAIT_SECONDS": "0",  # the landing is there; a missing feed would fail at once
    }


def _report(phase: str, seconds: float) -> None:
    TIMINGS[phase] = round(seconds, 1)
    print(f"\n[timing] {phase}: {seconds:.1f}s", flush=True)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def metadata(tmp_path_factory):
    """A fresh PostgreSQL metadata database, migrated once for both executors."""
    home = tmp_path_factory.mktemp("airflow-home")
    with fresh_database("vigil_af_meta") as url:
        af = Airflow(home, url, {}, "LocalExecutor")
        t0 = time.perf_counter()
        af.cli("db", "migrate", timeout=600)
        _report("airflow db migrate (PostgreSQL metadata)", time.perf_counter() - t0)
        yield home, url
    print("\n[timing] summary: " + ", ".join(f"{k} {v}s" for k, v in TIMINGS.items()), flush=True)


def _assert_all_succeeded(tasks: dict) -> None:
    assert tasks, "the run has no task instances"
    assert {t: s for t, (s, _) in tasks.items() if s != "success"} == {}
    # Every task the DAG declares ran in this run (none skipped or missing from the run).
    assert len(tasks) >= 10


# --------------------------------------------------------------------------- tests


def test_local_executor_runs_the_nightly_dag_to_success(metadata, tmp_path):
    import duckdb

    home, url = metadata
    landing = write_night(tmp_path / "landing", D_LOCAL)
    warehouse = tmp_path / "warehouse" / "vigil.duckdb"
    af = Airflow(home, url, _vigil_env(landing, str(warehouse), tmp_path / "out"), "LocalExecutor")
    run_id = f"realtest_local_{uuid.uuid4().hex[:8]}"
    t0 = time.perf_counter()
    with af.components():
        _report("local: components up and DAG parsed", time.perf_counter() - t0)
        t1 = time.perf_counter()
        af.trigger(run_id, D_LOCAL)
        tasks = af.wait_for_run(run_id)
        _report(f"local: triggered run to success ({len(tasks)} tasks)", time.perf_counter() - t1)

    _assert_all_succeeded(tasks)
    # What benchmarks/airflow_bench.py measures from such a run: every task timed, and every step
    # but the sensors reporting its own seconds, which fit inside its task's duration.
    timings = {t["task_id"]: t for t in af.task_timings(run_id)}
    assert set(timings) == set(tasks)
    for t in timings.values():
        assert 0 <= t["started_at"] < t["ended_at"] and t["duration"] > 0, t
    untimed = {k for k, t in timings.items() if t["step_seconds"] is None}
    assert untimed == {k for k in timings if k.startswith("wait_")}
    assert all(0 <= t["step_seconds"] <= t["duration"] for k, t in timings.items() if k not in untimed)
    row = af.query("SELECT state, run_type, logical_date FROM dag_run WHERE run_id = %s", (run_id,))[0]
    assert row[0] == "success" and row[1] == "manual"
    assert row[2].date() == D_LOCAL
    # Only the triggered run ran: the scheduler created no scheduled run beside it.
    assert af.query("SELECT count(*) FROM dag_run WHERE dag_id = %s AND run_type = 'scheduled'", (DAG_ID,))[0][0] == 0
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        assert con.execute("SELECT DISTINCT _feed_date FROM raw.hr__employees").fetchall() == [(D_LOCAL,)]
        cells = {str(v) for row in con.execute("SELECT * FROM raw.hr__employees").fetchall() for v in row}
        assert len(cells) > 10
        # production mode: PII is pseudonymised on the way in (names, national ids, e-mails)
        assert not cells & {"Anna Smith", "AB123456C", "anna@bank.test", "CANARY-NID-9001"}
        published = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'publish'").fetchall()
        assert published[0][0] > 0
    finally:
        con.close()


def test_celery_executor_runs_the_nightly_dag_on_a_worker(metadata, tmp_path):
    import psycopg

    home, url = metadata
    landing = write_night(tmp_path / "landing", D_CELERY, minimal_night_as_of(D_CELERY))
    with fresh_database("vigil_af_wh") as warehouse, redis_database() as redis_db:
        from vigil.store.roles import ROLES, apply_roles, role_url

        # As docker-compose.yml deploys it: the least-privilege roles exist and each step that is
        # wired to its role (Settings.warehouse_for) connects as that role.
        apply_roles(warehouse, passwords={name: None for name in ROLES})
        extra = {
            "AIRFLOW__CELERY__BROKER_URL": f"redis://{REDIS[0]}:{REDIS[1]}/{redis_db}",
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + url.replace("postgresql://", "postgresql+psycopg2://", 1),
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": "4",
        } | {f"VIGIL_WAREHOUSE_URL_{name.upper()}": role_url(warehouse, name) for name in ROLES}
        af = Airflow(home, url, _vigil_env(landing, warehouse, tmp_path / "out"), "CeleryExecutor", extra)
        run_id = f"realtest_celery_{uuid.uuid4().hex[:8]}"
        t0 = time.perf_counter()
        worker = ("celery", "worker", "--without-gossip", "--without-mingle", "--skip-serve-logs")
        with af.components(worker):
            _report("celery: components up and DAG parsed", time.perf_counter() - t0)
            t1 = time.perf_counter()
            af.trigger(run_id, D_CELERY)
            tasks = af.wait_for_run(run_id)
            _report(f"celery: triggered run to success ({len(tasks)} tasks)", time.perf_counter() - t1)
            worker_log = (af.logs / "celery-worker.log").read_text(errors="replace")

        _assert_all_succeeded(tasks)
        # Every task instance went through Celery: one successful result per try in the result backend.
        results = af.query("SELECT status, count(*) FROM celery_taskmeta GROUP BY status")
        assert dict(results).get("SUCCESS", 0) >= len(tasks), results
        assert "celery@" in worker_log
        with psycopg.connect(warehouse) as con:
            assert con.execute("SELECT DISTINCT _feed_date FROM raw.hr__employees").fetchall() == [(D_CELERY,)]
            published = con.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'publish'").fetchone()[0]
            assert published > 0
