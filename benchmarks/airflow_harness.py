"""A real Airflow deployment as processes: what the real-Airflow tests and the Airflow benchmark run.

Airflow 3.3 on a PostgreSQL metadata database: the api-server (on a free port), the scheduler and
the dag-processor as separate processes, each in its own process group, output to a log file. The
nightly DAG is triggered with the CLI and polled in the metadata database until it finishes. The
scheduler creates no scheduled runs (`[scheduler] use_job_schedule = False`): only triggered runs
execute.

Used by tests/dags/test_airflow_real.py and benchmarks/airflow_bench.py; not part of the package.
A failure raises AirflowFailure (an AssertionError, so pytest reports it as a test failure) with
the logs that explain it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
AIRFLOW = str(BIN / "airflow")
DAG_ID = "vigil_nightly"
RUN_TIMEOUT = 480  # seconds for one DAG run at the tests' scale (measured: well under half of that)


class AirflowFailure(AssertionError):
    """A component died, the DAG did not parse, or a run failed or timed out."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
            raise AirflowFailure(f"airflow {' '.join(args)} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}")
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
            raise AirflowFailure("Airflow component(s) exited: " + ", ".join(p.name for p in dead) + "\n"
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
        raise AirflowFailure("the api-server did not answer its health check\n" + "\n".join(p.tail() for p in self.processes))

    # -- metadata database ----------------------------------------------------------------------
    def query(self, sql: str, params=()) -> list[tuple]:
        import psycopg

        with psycopg.connect(self.metadata_url, autocommit=True) as con:
            return con.execute(sql, params).fetchall()

    def wait_for_dag(self, timeout: float = 240, dag_id: str = DAG_ID) -> None:
        """Until the dag-processor has parsed and serialised the DAG (fails at once on an import error)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            errors = self.query("SELECT filename, stacktrace FROM import_error")
            if errors:
                raise AirflowFailure("DAG import errors:\n" + "\n".join(f"{f}:\n{s}" for f, s in errors))
            if self.query("SELECT 1 FROM serialized_dag WHERE dag_id = %s", (dag_id,)):
                return
            time.sleep(2)
        raise AirflowFailure(f"{dag_id} was not parsed in {timeout}s\n" + "\n".join(p.tail() for p in self.processes))

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
                raise AirflowFailure(f"run {run_id} failed: {bad or state}\n{logs}")
            if state == "success":
                return tasks
            time.sleep(2)
        tasks = self.task_states(run_id)
        raise AirflowFailure(f"run {run_id} still {state} after {timeout}s: {tasks}\n" + "\n".join(p.tail() for p in self.processes))

    def trigger(self, run_id: str, date: dt.date) -> None:
        self.cli("dags", "trigger", DAG_ID, "--logical-date", f"{date.isoformat()}T00:00:00+00:00", "--run-id", run_id)
        self.cli("dags", "unpause", DAG_ID)

    def stop_component(self, name: str) -> None:
        """Stop one component (e.g. the triggerer, to show what a restart loses); start it again with
        `start` under another name (its log is kept)."""
        proc = next(p for p in self.processes if p.name == name)
        proc.stop()
        self.processes.remove(proc)

    @contextlib.contextmanager
    def components(self, *extra: tuple[str, ...]):
        """The api-server, scheduler and dag-processor (and any `extra` commands, e.g. a Celery
        worker) running, the API answering and the DAG parsed; all stopped afterwards."""
        try:
            self.start("api-server", "api-server")
            self.start("scheduler", "scheduler")
            self.start("dag-processor", "dag-processor")
            for args in extra:
                self.start("-".join(args[:2]), *args)
            self.wait_for_api()
            self.wait_for_dag()
            yield self
        finally:
            self.stop()

    def task_timings(self, run_id: str) -> list[dict]:
        """Every task instance of the run: when it was queued, started and ended (seconds from the
        run's start), its duration, and the seconds its step reported in its return value (XCom
        `return_value["seconds"]`; None where the task returns none)."""
        (run_start,) = self.query("SELECT start_date FROM dag_run WHERE dag_id = %s AND run_id = %s", (DAG_ID, run_id))[0]
        xcoms = {}
        for task_id, value in self.query(
                "SELECT task_id, value FROM xcom WHERE dag_id = %s AND run_id = %s AND key = 'return_value'",
                (DAG_ID, run_id)):
            while isinstance(value, str):  # stored as JSON, sometimes as a JSON string of JSON
                try:
                    value = json.loads(value)
                except ValueError:
                    break
            xcoms[task_id] = value
        rows = self.query(
            "SELECT task_id, state, try_number, queued_dttm, start_date, end_date FROM task_instance "
            "WHERE dag_id = %s AND run_id = %s ORDER BY start_date", (DAG_ID, run_id))
        out = []
        for task_id, state, tries, queued, started, ended in rows:
            value = xcoms.get(task_id)
            step = value.get("seconds") if isinstance(value, dict) else None
            out.append({
                "task_id": task_id, "state": state, "try_number": tries,
                "queued_at": _since(run_start, queued), "started_at": _since(run_start, started),
                "ended_at": _since(run_start, ended),
                "duration": _since(started, ended) if started and ended else None,
                "step_seconds": float(step) if isinstance(step, (int, float)) else None,
            })
        return out


def _since(origin, instant) -> float | None:
    return round((instant - origin).total_seconds(), 3) if origin and instant else None


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
