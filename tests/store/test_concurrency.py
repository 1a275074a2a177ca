"""Issue 19 items 10 and 11: processes sharing one DuckDB warehouse, with real `vigil` processes.

DuckDB lets one process write a file (or any number read it). A command that finds the file
locked waits, retrying, up to VIGIL_LOCK_WAIT_SECONDS, then exits 4 with one line naming the
holder; two `vigil run` on one warehouse: the second stops at once, naming the first; kill -9 of
a run takes its dbt child with it, and an orphaned dbt that does hold the file is named at once.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from fixtures.nights import D, TEST_KEY, write_night

VIGIL = str(Path(sys.executable).with_name("vigil"))

HOLDER = textwrap.dedent("""
    import select, sys, duckdb
    con = duckdb.connect(sys.argv[1])          # the write lock, as a night's step holds it
    con.execute("CREATE TABLE IF NOT EXISTS held (a INT)") if "create" in sys.argv else None
    print("locked", flush=True)
    select.select([sys.stdin], [], [], float(sys.argv[2]))   # until told (stdin closed) or timed out
    con.close()
""")


def _env(tmp_path: Path, **extra) -> dict:
    return {**os.environ, "VIGIL_LANDING": str(tmp_path / "landing"), "VIGIL_WAREHOUSE": str(tmp_path / "wh.duckdb"),
            "VIGIL_OUT": str(tmp_path / "out"), "VIGIL_PSEUDONYMISATION_KEY": TEST_KEY.decode(), **extra}


def _hold(path: Path, seconds: float, *, create: bool = False) -> subprocess.Popen:
    """A process holding the warehouse's write lock for `seconds` or until its stdin is closed
    (`create`: it also creates an empty table `held`); returns once it holds the lock."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(path), str(seconds), *(["create"] if create else [])],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def _vigil(args: list[str], env: dict, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([VIGIL, *args], env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def warehouse(tmp_path) -> Path:
    """An existing Vigil warehouse (vigil init) with its ticket tables (an empty delivery made them)."""
    from vigil.actions.tickets import deliver_tickets
    from vigil.store.warehouse import init_warehouse

    path = tmp_path / "wh.duckdb"
    init_warehouse(str(path))
    deliver_tickets(str(path), None, out=tmp_path / "out", run_id="fixture")
    return path


def test_deliver_waits_for_a_briefly_held_lock(tmp_path, warehouse):
    """Before: an IOException traceback at once. Now: it waits while another process writes, and
    delivers once the lock is released."""
    holder = _hold(warehouse, 60)
    deliver = subprocess.Popen([VIGIL, "-v", "deliver"], env=_env(tmp_path, VIGIL_LOCK_WAIT_SECONDS="60"),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    waiting = deliver.stderr.readline()
    assert "waiting up to 60 s for the warehouse" in waiting and f"pid {holder.pid}" in waiting
    holder.stdin.close()  # the step that held it finishes
    holder.wait(timeout=30)
    out, err = deliver.communicate(timeout=60)
    assert deliver.returncode == 0, err
    assert "Traceback" not in err and "claimed=0" in out


@pytest.mark.parametrize("wait", ["0", "0.5"])
def test_deliver_gives_up_after_the_lock_wait_with_one_line_and_exit_4(tmp_path, warehouse, wait):
    holder = _hold(warehouse, 60)
    try:
        done = _vigil(["deliver"], _env(tmp_path, VIGIL_LOCK_WAIT_SECONDS=wait))
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    assert done.returncode == 4, done.stderr
    [line] = done.stderr.strip().splitlines()
    assert f"(pid {holder.pid}: python" in line and f"waited {wait} s" in line and "VIGIL_LOCK_WAIT_SECONDS" in line


def test_a_reader_waits_for_a_writer_and_a_writer_for_a_reader(tmp_path, warehouse):
    """Library level, both directions: a read-only connection (vigil review, plan) waits for a step
    that writes, and a step that writes waits for a reader, each up to VIGIL_LOCK_WAIT_SECONDS."""
    from vigil.store.warehouse import Warehouse

    wh = Warehouse.open(str(warehouse))
    holder = _hold(warehouse, 1.0, create=True)  # lets go after 1 s by itself
    with wh.connection() as con:  # read-only: waits for the writer
        assert con.execute("SELECT count(*) FROM held").fetchall() == [(0,)]
    holder.wait(timeout=30)
    reader = subprocess.Popen(
        [sys.executable, "-c", "import sys, time, duckdb; c = duckdb.connect(sys.argv[1], read_only=True); "
                               "print('locked', flush=True); time.sleep(1.0)", str(warehouse)],
        stdout=subprocess.PIPE, text=True)
    assert reader.stdout.readline().strip() == "locked"
    with wh.transaction() as con:  # writes: waits for the reader
        con.execute("INSERT INTO held VALUES (1)")
    reader.wait(timeout=30)


def test_a_second_run_on_the_same_warehouse_stops_at_once_naming_the_first(tmp_path):
    """The run lock (<warehouse>.run.lock) held by a live run: the second says who and since when,
    exits 4 within seconds, and touches nothing (not even the night's summary)."""
    from vigil.store.warehouse import hold_run_lock

    write_night(tmp_path / "landing")
    warehouse = tmp_path / "wh.duckdb"
    first = subprocess.Popen(
        [sys.executable, "-c", "import sys, time, datetime as dt; from pathlib import Path; "
                               "from vigil.store.warehouse import hold_run_lock\n"
                               "with hold_run_lock(Path(sys.argv[1]), dt.date(2026, 3, 2)):\n"
                               "    print('locked', flush=True); time.sleep(30)", str(warehouse)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert first.stdout.readline().strip() == "locked"
        t0 = time.monotonic()
        done = _vigil(["run", "--date", D.isoformat(), "--no-actions", "--create-warehouse"], _env(tmp_path))
        assert time.monotonic() - t0 < 20
        assert done.returncode == 4, (done.stdout, done.stderr)
        assert f"another Vigil run holds the warehouse (pid {first.pid}, since 20" in done.stderr
        assert "Traceback" not in done.stderr
        assert not warehouse.exists() and not (tmp_path / "out" / "runs").exists()
    finally:
        first.kill()
        first.wait()
    # the kernel released the lock with the process: the next run gets it
    with hold_run_lock(warehouse, D):
        pass


def test_an_orphaned_dbt_holding_the_warehouse_is_named_at_once(tmp_path, warehouse):
    """A dbt left running by a killed run (re-parented away from Vigil) never lets go: the next
    command says so at once (exit 4, pid to kill), rather than wait for it."""
    fake_dbt = tmp_path / "bin" / "dbt"
    fake_dbt.parent.mkdir()
    fake_dbt.write_text(f"#!{sys.executable}\n{HOLDER}")
    fake_dbt.chmod(0o755)
    # started through a shell that exits at once, so the "dbt" is re-parented, as after kill -9
    out = subprocess.run(["sh", "-c", f'sleep 60 2>/dev/null | "{fake_dbt}" "{warehouse}" 60 > "{tmp_path}/dbt.out" 2>&1 & echo $!'],
                         capture_output=True, text=True, check=True)
    orphan = int(out.stdout.strip())
    try:
        deadline = time.monotonic() + 60
        while "locked" not in (tmp_path / "dbt.out").read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "locked" in (tmp_path / "dbt.out").read_text()
        t0 = time.monotonic()
        done = _vigil(["deliver"], _env(tmp_path, VIGIL_LOCK_WAIT_SECONDS="60"))
        assert time.monotonic() - t0 < 20
        assert done.returncode == 4, done.stderr
        [line] = done.stderr.strip().splitlines()
        assert f"orphaned dbt process (pid {orphan}" in line and f"kill {orphan}" in line
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(orphan, signal.SIGKILL)


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@pytest.mark.slow
def test_kill_9_of_a_run_takes_its_dbt_child_with_it(tmp_path):
    """kill -9 of `vigil run` while `dbt build` runs: dbt dies too (PR_SET_PDEATHSIG), so the
    warehouse is free for the immediate rerun. Before: dbt kept the lock and the rerun failed."""
    write_night(tmp_path / "landing")
    env = _env(tmp_path, VIGIL_LOCK_WAIT_SECONDS="1")
    run = subprocess.Popen([VIGIL, "run", "--date", D.isoformat(), "--no-actions", "--create-warehouse"], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    dbt = None
    try:
        deadline = time.monotonic() + 180
        while dbt is None and time.monotonic() < deadline and run.poll() is None:
            dbt = next((c for c in _children(run.pid) if " build " in _cmdline(c)), None)
            time.sleep(0.05)
        assert dbt is not None, "dbt build never started"
        os.kill(run.pid, signal.SIGKILL)
        run.wait(timeout=10)
        deadline = time.monotonic() + 10
        while Path(f"/proc/{dbt}").exists() and "dbt" in _cmdline(dbt) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "dbt" not in _cmdline(dbt), "dbt outlived the killed run"
    finally:
        if run.poll() is None:
            run.kill()
        if dbt is not None and "dbt" in _cmdline(dbt):  # the failure case: do not leave it running
            with contextlib.suppress(ProcessLookupError):
                os.kill(dbt, signal.SIGKILL)
    done = _vigil(["deliver"], env)  # the immediate next command gets the warehouse
    assert done.returncode == 0, done.stderr


@pytest.mark.slow
def test_vigil_plan_during_a_nights_write_waits_for_it(demo_warehouse, tmp_path):
    """A read-only report (`vigil plan`; `vigil review` reads the same way) started while a step of
    the night holds the write lock waits for it and then answers, with no traceback; given up
    after VIGIL_LOCK_WAIT_SECONDS, exit 4 with one line."""
    import shutil

    warehouse = tmp_path / "wh.duckdb"
    shutil.copy(demo_warehouse.settings.warehouse, warehouse)
    env = _env(tmp_path, VIGIL_WAREHOUSE=str(warehouse), VIGIL_LOCK_WAIT_SECONDS="120")
    day = demo_warehouse.last.isoformat()

    holder = _hold(warehouse, 120)
    plan = subprocess.Popen([VIGIL, "-v", "plan", "--date", day, "--json"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert "waiting up to 120 s for the warehouse" in plan.stderr.readline()
    holder.stdin.close()
    holder.wait(timeout=30)
    out, err = plan.communicate(timeout=120)
    assert plan.returncode == 0, err
    assert '"breakers"' in out and "Traceback" not in err

    holder = _hold(warehouse, 120)
    try:
        done = _vigil(["plan", "--date", day], {**env, "VIGIL_LOCK_WAIT_SECONDS": "1"})
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    assert done.returncode == 4 and len(done.stderr.strip().splitlines()) == 1, done.stderr
