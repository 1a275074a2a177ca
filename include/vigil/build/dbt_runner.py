"""Run Vigil's dbt project (dbt_project/) as a subprocess and report what happened, node by node.

dbt is started as its own process (the ``dbt`` executable next to ``sys.executable``) rather than
through ``dbtRunner``: dbt keeps global state between in-process invocations, and a subprocess
gives every run a clean slate, its own environment (connection settings travel as ``VIGIL_*``
environment variables read by dbt_project/profiles.yml, never on the command line) and output
that can be captured whole.

    result = run_dbt(["build"], warehouse="/data/vigil.duckdb", run_date=date(2024, 3, 31),
                     work_dir=Path("/tmp/run-2024-03-31"))
    for node in result.nodes: ...

``run_dbt`` raises :class:`DbtError` when dbt fails; the error names every failed node.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from vigil.config import ConfigError, WarehouseUrl, project_dir
from vigil.store.warehouse import lock_wait_seconds

log = logging.getLogger(__name__)

#: The repo's dbt project (also its profiles dir); env VIGIL_DBT_PROJECT_DIR overrides it.
DBT_PROJECT_DIR: Path = Path(
    os.environ.get("VIGIL_DBT_PROJECT_DIR") or project_dir() / "dbt_project"
).resolve()

#: Node statuses in run_results.json that mean the node failed (warn and skipped do not).
FAILED_STATUSES = frozenset({"error", "fail", "runtime error"})

#: dbt commands that reject --target-path (they get DBT_TARGET_PATH in the environment instead).
_NO_TARGET_PATH_COMMANDS = frozenset({"debug", "deps", "init"})
_OUTPUT_TAIL_LINES = 40

# Keep dbt quiet and offline: no usage tracking, no colour codes in captured output.
_DBT_FLAGS_ENV = {
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    "DBT_USE_COLORS": "false",
    "DBT_PRINTER_WIDTH": "120",
}


# --------------------------------------------------------------------------- environment


def dbt_env(warehouse: str) -> dict[str, str]:
    """The ``VIGIL_*`` environment variables profiles.yml reads, for a warehouse.

    ``warehouse`` is a DuckDB file path (``duckdb:///path`` is accepted too) or a PostgreSQL URL
    (``postgresql://user:password@host:port/dbname``, also ``postgres://`` and
    ``postgresql+psycopg://``; ``?sslmode=...`` is honoured). The result contains the password of
    a PostgreSQL URL: pass it to a subprocess' environment, never print it.
    """
    try:
        where = WarehouseUrl.parse(warehouse)  # the one parser of warehouse URLs (vigil.config)
    except ConfigError as exc:
        raise ValueError(str(exc)) from None
    if where.is_postgres:
        parts = urlsplit(where.dsn)
        dbname = unquote(parts.path.lstrip("/"))
        user = unquote(parts.username) if parts.username else _default_user()
        env = {
            "VIGIL_DBT_TARGET": "postgres",
            "VIGIL_PG_HOST": unquote(parts.hostname) if parts.hostname else "localhost",
            "VIGIL_PG_PORT": str(parts.port or 5432),
            "VIGIL_PG_USER": user,
            "VIGIL_PG_PASSWORD": unquote(parts.password) if parts.password else "",
            "VIGIL_PG_DBNAME": dbname or user,
        }
        sslmode = parse_qs(parts.query).get("sslmode")
        if sslmode:
            env["VIGIL_PG_SSLMODE"] = sslmode[-1]
        return env
    if str(where.path) == ":memory:":
        raise ValueError("an in-memory DuckDB cannot be shared with dbt's process: use a file")
    return {
        "VIGIL_DBT_TARGET": "duckdb",
        "VIGIL_DUCKDB_PATH": str(where.path.expanduser().resolve()),
    }


def _default_user() -> str:
    try:
        import getpass

        return getpass.getuser()
    except Exception:  # pragma: no cover - no user database entry
        return "postgres"


# --------------------------------------------------------------------------- results


@dataclass
class DbtNodeResult:
    """One node (model, test, unit test, seed ...) of a dbt invocation, from run_results.json."""

    unique_id: str
    status: str
    execution_time: float
    message: str | None
    failures: int | None

    @property
    def resource_type(self) -> str:
        """model, test, unit_test, seed, snapshot ... (the first part of unique_id)."""
        return self.unique_id.split(".", 1)[0]

    @property
    def name(self) -> str:
        """The node's name, e.g. ``stg_hr__employees`` (the last part of unique_id for models)."""
        parts = self.unique_id.split(".")
        if self.resource_type == "test" and len(parts) >= 4:
            return parts[2]  # test.vigil.<name>.<hash>
        return parts[-1]

    @property
    def failed(self) -> bool:
        return self.status in FAILED_STATUSES

    @property
    def warned(self) -> bool:
        return self.status == "warn"


@dataclass
class DbtResult:
    """The outcome of one dbt invocation."""

    command: list[str]
    success: bool
    returncode: int
    nodes: list[DbtNodeResult]
    elapsed: float
    target_path: Path
    log_path: Path
    output: str = field(default="", repr=False)  # dbt's stdout and stderr (secrets redacted)

    @property
    def failed_nodes(self) -> list[DbtNodeResult]:
        return [n for n in self.nodes if n.failed]

    @property
    def warned_nodes(self) -> list[DbtNodeResult]:
        return [n for n in self.nodes if n.warned]

    @property
    def skipped_nodes(self) -> list[DbtNodeResult]:
        return [n for n in self.nodes if n.status == "skipped"]

    def node(self, unique_id_or_name: str) -> DbtNodeResult:
        """The node with this unique_id, or else the only node with this name."""
        for n in self.nodes:
            if n.unique_id == unique_id_or_name:
                return n
        matches = [n for n in self.nodes if n.name == unique_id_or_name]
        if len(matches) == 1:
            return matches[0]
        raise KeyError(f"{len(matches)} dbt nodes named {unique_id_or_name!r}")

    def status_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for n in self.nodes:
            counts[n.status] = counts.get(n.status, 0) + 1
        return counts

    def test_counts(self) -> dict[str, int]:
        """Data and unit tests by outcome: passed, warned (a `warn` test that found rows: the build
        goes on, the night reports it), failed (fail/error) and skipped. They add up to the tests run."""
        tests = [n for n in self.nodes if n.resource_type in ("test", "unit_test")]
        warned = sum(1 for n in tests if n.warned)
        failed = sum(1 for n in tests if n.failed)
        skipped = sum(1 for n in tests if n.status == "skipped")
        return {"passed": len(tests) - warned - failed - skipped, "warned": warned, "failed": failed,
                "skipped": skipped}

    def output_tail(self, lines: int = _OUTPUT_TAIL_LINES) -> str:
        return "\n".join(self.output.rstrip().splitlines()[-lines:])


class DbtError(RuntimeError):
    """dbt failed; the message names every failed node and its message."""

    def __init__(self, message: str, result: DbtResult):
        super().__init__(message)
        self.result = result

    @property
    def failed_nodes(self) -> list[DbtNodeResult]:
        return self.result.failed_nodes


def parse_run_results(path: Path) -> list[DbtNodeResult]:
    """The per-node results of dbt's ``run_results.json`` (or ``sources.json`` of ``dbt source freshness``)."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    nodes = []
    for r in data.get("results", []):
        failures = r.get("failures")
        message = r.get("message")
        if message is None and "max_loaded_at" in r:  # a freshness result
            age_h = float(r.get("max_loaded_at_time_ago_in_s") or 0.0) / 3600
            message = f"max_loaded_at {r['max_loaded_at']} ({age_h:.1f} h ago)"
        if message is None and r.get("error"):
            message = r["error"]
        nodes.append(
            DbtNodeResult(
                unique_id=str(r.get("unique_id", "")),
                status=str(r.get("status", "")),
                execution_time=float(r.get("execution_time") or 0.0),
                message=message,
                failures=int(failures) if failures is not None else None,
            )
        )
    return nodes


def _error_message(result: DbtResult) -> str:
    words = []
    for a in result.command:  # the subcommand: "build", "source freshness", "run-operation x"
        if a.startswith("-"):
            break
        words.append(a)
    what = " ".join(words)
    head = f"dbt {what} failed (exit code {result.returncode})"
    failed = result.failed_nodes
    if failed:
        lines = [f"{head}: {len(failed)} node(s) failed:"]
        for n in failed:
            msg = " ".join((n.message or "").split())
            lines.append(f"  - {n.unique_id} [{n.status}]: {msg}")
        skipped = result.skipped_nodes
        if skipped:
            lines.append(f"  ({len(skipped)} downstream node(s) skipped)")
        return "\n".join(lines)
    return f"{head}; no failed node in run_results.json. Tail of dbt's output:\n{result.output_tail()}"


# --------------------------------------------------------------------------- running


def dbt_executable() -> str:
    """The ``dbt`` of this interpreter's environment (the one next to sys.executable)."""
    candidate = Path(sys.executable).parent / ("dbt.exe" if os.name == "nt" else "dbt")
    if candidate.exists():
        return str(candidate)
    found = shutil.which("dbt")
    if found:
        return found
    raise FileNotFoundError(f"no dbt executable next to {sys.executable} nor on PATH")


def _json_default(value: Any) -> str:
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot pass {type(value).__name__} as a dbt var")


def _redact(text: str, secrets: list[str]) -> str:
    for s in secrets:
        if s:
            text = text.replace(s, "****")
    return text


def _die_with_parent_hook():
    """A preexec_fn for the dbt child: before exec, ask the kernel to SIGKILL it when the process
    that started it dies, however it dies (kill -9 included), so an orphaned dbt never keeps the
    warehouse locked. Linux only (prctl); elsewhere None, and the rerun names the orphan instead
    (vigil.store.warehouse). Everything is looked up here, in the parent: the child between fork and exec
    only calls prctl (the run's progress display has threads, so the child must take no locks)."""
    import ctypes
    import signal

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent, sigkill, getppid, exit_now = os.getpid(), int(signal.SIGKILL), os.getppid, os._exit
    PR_SET_PDEATHSIG = 1

    def hook() -> None:
        prctl(PR_SET_PDEATHSIG, sigkill, 0, 0, 0)
        if getppid() != parent:  # the parent died before prctl took effect
            exit_now(1)

    return hook


def _lock_wait() -> float:
    return lock_wait_seconds()


def run_dbt(
    args: list[str],
    *,
    warehouse: str,
    run_date: date,
    work_dir: Path,
    extra_vars: dict | None = None,
    threads: int | None = None,
) -> DbtResult:
    """Run ``dbt <args>`` against ``warehouse`` for the logical date ``run_date``.

    ``args`` starts with the dbt command (``["build"]``, ``["test", "--select", "marts"]`` ...).
    dbt's target/ (manifest, run_results.json, compiled SQL) and logs/ go under ``work_dir``.
    ``run_date`` travels as the environment variable VIGIL_RUN_DATE (the run_date() macro reads it
    only while executing), ``extra_vars`` with ``--vars``: a --vars that changed every night would
    make dbt re-parse the whole project each night, where a stable one lets it reuse the parsed
    project kept in ``work_dir``/target (partial parsing).
    Returns the :class:`DbtResult`; raises :class:`DbtError` if dbt fails.
    """
    if not args:
        raise ValueError("args must start with a dbt command, e.g. ['build']")
    if isinstance(run_date, datetime) or not isinstance(run_date, date):
        raise TypeError(f"run_date must be a datetime.date, got {type(run_date).__name__}")
    args = [str(a) for a in args]
    if "--vars" in args:
        raise ValueError("pass dbt vars with extra_vars=, not --vars in args")

    work_dir = Path(work_dir).resolve()
    target_path = work_dir / "target"
    log_path = work_dir / "logs"
    target_path.mkdir(parents=True, exist_ok=True)
    log_path.mkdir(parents=True, exist_ok=True)
    # dbt source freshness writes sources.json; every other command run_results.json
    results_paths = [target_path / "run_results.json", target_path / "sources.json"]
    for p in results_paths:
        p.unlink(missing_ok=True)  # never read a previous invocation's results

    command = [
        *args,
        "--project-dir", str(DBT_PROJECT_DIR),
        "--profiles-dir", str(DBT_PROJECT_DIR),
        "--log-path", str(log_path),
    ]  # fmt: skip
    if extra_vars:
        command += ["--vars", json.dumps(extra_vars, default=_json_default, sort_keys=True)]
    if args[0] not in _NO_TARGET_PATH_COMMANDS:
        command += ["--target-path", str(target_path)]

    wh_env = dbt_env(warehouse)
    # DBT_TARGET_PATH too: commands without --target-path (debug, deps) still keep out of the repo
    env = {**os.environ, **_DBT_FLAGS_ENV, "DBT_TARGET_PATH": str(target_path), **wh_env,
           "VIGIL_RUN_DATE": run_date.isoformat()}
    if threads is not None:
        env["VIGIL_DBT_THREADS"] = str(int(threads))  # read by profiles.yml; works for every command
    secrets = [wh_env.get("VIGIL_PG_PASSWORD", "")]

    log.info("running dbt %s (target %s, run_date %s)", " ".join(args), wh_env["VIGIL_DBT_TARGET"], run_date)
    started = time.monotonic()
    wait_until = started + _lock_wait()
    die_with_parent = _die_with_parent_hook()
    delay = 0.5
    while True:
        proc = subprocess.run(
            [dbt_executable(), *command],
            cwd=work_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            check=False,
            preexec_fn=die_with_parent,  # kill -9 of the run: dbt dies too
        )
        # dbt could not open the DuckDB file because another process (a reader such as `vigil
        # review`) briefly holds it: nothing ran, so wait and try again, up to VIGIL_LOCK_WAIT_SECONDS.
        if proc.returncode == 0 or "Could not set lock" not in (proc.stdout or "") or time.monotonic() >= wait_until:
            break
        log.info("dbt %s: the warehouse is locked by another process; retrying", args[0])
        time.sleep(min(delay, max(0.0, wait_until - time.monotonic())))
        delay = min(delay * 2, 5.0)
    elapsed = time.monotonic() - started
    output = _redact(proc.stdout or "", secrets)

    nodes: list[DbtNodeResult] = []
    for results_path in results_paths:
        if results_path.exists():
            try:
                nodes += parse_run_results(results_path)
            except (OSError, ValueError) as exc:  # truncated or unreadable: fall back to the output
                log.warning("could not read %s: %s", results_path, exc)
    for n in nodes:
        if n.message:
            n.message = _redact(n.message, secrets)

    result = DbtResult(
        command=command,
        success=proc.returncode == 0 and not any(n.failed for n in nodes),
        returncode=proc.returncode,
        nodes=nodes,
        elapsed=elapsed,
        target_path=target_path,
        log_path=log_path,
        output=output,
    )
    log.info(
        "dbt %s finished in %.1fs with exit code %s: %s",
        args[0], elapsed, proc.returncode, result.status_counts() or "no run results",
    )  # fmt: skip
    if not result.success:
        raise DbtError(_error_message(result), result)
    return result
