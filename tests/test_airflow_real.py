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
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from conftest import REPO, TEST_KEY, fresh_database, minimal_night_as_of, write_night

pytestmark = [pytest.mark.airflow, pytest.mark.slow, pytest.mark.realairflow, pytest.mark.postgres]

BIN = Path(sys.executable).parent
AIRFLOW = str(BIN / "airflow")
DAG_ID = "vigil_nightly"
D_LOCAL = dt.date(2026, 3, 2)
D_CELERY = dt.date(2026, 3, 3)
REDIS = ("127.0.0.1", 6379)
RUN_TIMEOUT = 480  # seconds for one DAG run (measured: well under half of that)
TIMINGS: dict[str, float] = {}


# --------------------------------------------------------------------------- helpers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


class Process:
    """A long-running Airflow component in its own process group, output to a log file."""

    def __init__(self, name: str, args: list[str], env: dict, logs: Path):
        self.name = name
        self.log = logs / f"{name}.log"
        self._fh = open(self.log, "wb")
        self.popen = subprocess.Popen(args, env=env, stdout=self._fh, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, start_new_session=True, cwd=logs)

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, grace: float = 20.0) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                pass
        # The group may hold children that outlive the leader (gunicorn/uvicorn workers, task runners).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(5)
        self._fh.close()

    def tail(self, lines: int = 60) -> str:
        text = self.log.read_text(errors="replace").splitlines()
        return f"--- {self.name} ({self.log}) ---\n" + "\n".join(text[-lines:])


class Airflow:
    """Airflow components as processes on one metadata database; the DAG run polled in that database."""

    def __init__(self, home: Path, metadata_url: str, vigil_env: dict[str, str], executor: str,
                 extra: dict[str, str] | None = None):
        self.home = home
        self.metadata_url = metadata_url
        self.port = free_port()
        self.processes: list[Process] = []
        self.logs = home / "process-logs" / executor
        self.logs.mkdir(parents=True, exist_ok=True)
        base = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "VIGIL_", "_AIRFLOW"))}
        self.env = base | {
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": executor,
            "AIRFLOW__CORE__PARALLELISM": "8",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_url.replace("postgresql://", "postgresql+psycopg2://", 1),
            # Airflow's default async driver for PostgreSQL is asyncpg, which is not in the lock: psycopg 3 is.
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": metadata_url.replace("postgresql://", "postgresql+psycopg://", 1),
            "AIRFLOW__CORE__FERNET_KEY": _fernet_key(home),
            "AIRFLOW__API_AUTH__JWT_SECRET": _secret(home, "jwt"),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{self.port}",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{self.port}/execution/",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
            # Only the run the test triggers: no scheduled run of "yesterday" competing with it.
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        } | vigil_env | (extra or {})

    # -- processes ------------------------------------------------------------------------------
    def cli(self, *args: str, timeout: float = 300) -> str:
        done = subprocess.run([AIRFLOW, *args], env=self.env, capture_output=True, text=True, timeout=timeout,
                              cwd=self.home)
        if done.returncode != 0:
            pytest.fail(f"airflow {' '.join(args)} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}")
        return done.stdout

    def start(self, name: str, *args: str) -> Process:
        p = Process(name, [AIRFLOW, *args], self.env, self.logs)
        self.processes.append(p)
        return p

    def stop(self) -> None:
        for p in reversed(self.processes):
            p.stop()
        self.processes.clear()

    def check_alive(self) -> None:
        dead = [p for p in self.processes if not p.alive()]
        if dead:
            pytest.fail("Airflow component(s) exited: " + ", ".join(p.name for p in dead) + "\n"
                        + "\n".join(p.tail() for p in dead))

    def wait_for_api(self, timeout: float = 180) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            with contextlib.suppress(httpx.HTTPError):
                r = httpx.get(f"http://127.0.0.1:{self.port}/api/v2/monitor/health", timeout=5)
                if r.status_code == 200:
                    return
            time.sleep(1)
        pytest.fail("the api-server did not answer its health check\n" + "\n".join(p.tail() for p in self.processes))

    # -- metadata database ----------------------------------------------------------------------
    def query(self, sql: str, params=()) -> list[tuple]:
        import psycopg

        with psycopg.connect(self.metadata_url, autocommit=True) as con:
            return con.execute(sql, params).fetchall()

    def wait_for_dag(self, timeout: float = 240) -> None:
        """Until the dag-processor has parsed and serialised the DAG (fails at once on an import error)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            errors = self.query("SELECT filename, stacktrace FROM import_error")
            if errors:
                pytest.fail("DAG import errors:\n" + "\n".join(f"{f}:\n{s}" for f, s in errors))
            if self.query("SELECT 1 FROM serialized_dag WHERE dag_id = %s", (DAG_ID,)):
                return
            time.sleep(2)
        pytest.fail(f"{DAG_ID} was not parsed in {timeout}s\n" + "\n".join(p.tail() for p in self.processes))

    def task_states(self, run_id: str) -> dict[str, tuple[str | None, int]]:
        return {t: (s, n) for t, s, n in self.query(
            "SELECT task_id, state, try_number FROM task_instance WHERE dag_id = %s AND run_id = %s ORDER BY task_id",
            (DAG_ID, run_id))}

    def task_log(self, run_id: str, task_id: str, try_number: int) -> str:
        folder = self.home / "logs" / f"dag_id={DAG_ID}" / f"run_id={run_id}" / f"task_id={task_id}"
        files = sorted(folder.glob("attempt=*.log")) if folder.exists() else []
        if not files:
            return f"(no log for {task_id} under {folder})"
        return f"--- log of {task_id} ({files[-1].name}) ---\n" + files[-1].read_text(errors="replace")[-6000:]

    def wait_for_run(self, run_id: str, timeout: float = RUN_TIMEOUT) -> dict[str, tuple[str | None, int]]:
        deadline = time.monotonic() + timeout
        state = None
        while time.monotonic() < deadline:
            self.check_alive()
            rows = self.query("SELECT state FROM dag_run WHERE dag_id = %s AND run_id = %s", (DAG_ID, run_id))
            state = rows[0][0] if rows else None
            tasks = self.task_states(run_id)
            bad = {t: s for t, (s, _) in tasks.items() if s in ("failed", "up_for_retry", "upstream_failed")}
            if bad or state == "failed":
                logs = "\n".join(self.task_log(run_id, t, tasks[t][1]) for t, s in bad.items() if s != "upstream_failed")
                pytest.fail(f"run {run_id} failed: {bad or state}\n{logs}")
            if state == "success":
                return tasks
            time.sleep(2)
        tasks = self.task_states(run_id)
        pytest.fail(f"run {run_id} still {state} after {timeout}s: {tasks}\n" + "\n".join(p.tail() for p in self.processes))

    def trigger(self, run_id: str, date: dt.date) -> None:
        self.cli("dags", "trigger", DAG_ID, "--logical-date", f"{date.isoformat()}T00:00:00+00:00", "--run-id", run_id)
        self.cli("dags", "unpause", DAG_ID)


def _secret(home: Path, name: str) -> str:
    """One secret per Airflow home, the same for every component (they must agree on it)."""
    path = home / f".{name}"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(32))
    return path.read_text()


def _fernet_key(home: Path) -> str:
    path = home / ".fernet"
    if not path.exists():
        from cryptography.fernet import Fernet

        path.write_text(Fernet.generate_key().decode())
    return path.read_text()


def _vigil_env(landing: Path, warehouse: str, out: Path) -> dict[str, str]:
    return {
        "VIGIL_LANDING": str(landing),
        "VIGIL_WAREHOUSE": warehouse,
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
    try:
        t0 = time.perf_counter()
        af.start("api-server", "api-server")
        af.start("scheduler", "scheduler")
        af.start("dag-processor", "dag-processor")
        af.wait_for_api()
        af.wait_for_dag()
        _report("local: components up and DAG parsed", time.perf_counter() - t0)
        t1 = time.perf_counter()
        af.trigger(run_id, D_LOCAL)
        tasks = af.wait_for_run(run_id)
        _report(f"local: triggered run to success ({len(tasks)} tasks)", time.perf_counter() - t1)
    finally:
        af.stop()

    _assert_all_succeeded(tasks)
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
        from vigil.roles import ROLES, apply_roles, role_url

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
        try:
            t0 = time.perf_counter()
            af.start("api-server", "api-server")
            af.start("scheduler", "scheduler")
            af.start("dag-processor", "dag-processor")
            af.start("celery-worker", "celery", "worker", "--without-gossip", "--without-mingle", "--skip-serve-logs")
            af.wait_for_api()
            af.wait_for_dag()
            _report("celery: components up and DAG parsed", time.perf_counter() - t0)
            t1 = time.perf_counter()
            af.trigger(run_id, D_CELERY)
            tasks = af.wait_for_run(run_id)
            _report(f"celery: triggered run to success ({len(tasks)} tasks)", time.perf_counter() - t1)
            worker_log = (af.logs / "celery-worker.log").read_text(errors="replace")
        finally:
            af.stop()

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
