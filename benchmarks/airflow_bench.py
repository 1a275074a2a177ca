"""The nightly DAG under a real Airflow: what Airflow adds to a night, and whether it grows with the data.

benchmarks/nightly_bench.py runs the pipeline's steps in one process, so it measures the data path alone. Issue 8's
first target excludes "Airflow's fixed per-task overhead, which must not grow with the data"; this
benchmark measures that overhead, at two or more scales, so that "fixed" is a measurement:

1. for each scale: night 1 of the demo feeds (generated, or an existing landing folder reused with
   --landing), a fresh DuckDB warehouse and output folder;
2. a real Airflow 3 (benchmarks/airflow_harness.py: api-server, scheduler and dag-processor as
   processes, LocalExecutor, a scratch PostgreSQL metadata database per scale) runs the
   nightly DAG for that night, triggered with the CLI;
3. from the metadata database: every task instance's start, end and duration, and the seconds its
   step reported in its return value (each pipeline step returns its own wall time, vigil.pipeline.timed_step).

Airflow's part of a task is its duration minus its step's seconds (starting the task process,
importing, XCom, reporting back); the sensors (`wait_*`) count whole, a poke being a few file
checks. Airflow's part of the night is the run's wall time minus the step seconds along its
critical path (walked back from the last task through the upstream that ended last): task
overheads plus the scheduler's gaps between a task's upstream ending and it starting.

    .venv/bin/python benchmarks/airflow_bench.py [--scales small,medium] [--landing SCALE=DIR ...]
                                                 [--work DIR] [--json PATH] [--no-append] [--markdown PATH]

Not a timed test: tests/dags/test_airflow_real.py runs the same harness and checks what it measures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from airflow_harness import DAG_ID, REPO, Airflow  # noqa: E402
from nightly_bench import machine, scratch_database  # noqa: E402

DOCS = REPO / "docs" / "benchmarks.md"
START = dt.date(2026, 3, 2)  # night 1 of the demo feeds, as in nightly_bench.py
SENSOR_PREFIX = "wait_"
RUN_TIMEOUT = 3600


def upstreams() -> dict[str, set[str]]:
    """Each task's upstream task ids, from the DAG as the dag-processor parses it."""
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags"))
    if bag.import_errors:
        raise RuntimeError(f"DAG import errors: {bag.import_errors}")
    return {t.task_id: set(t.upstream_task_ids) for t in bag.dags[DAG_ID].tasks}  # get_dag() asks a database


def airflow_share(tasks: list[dict], ups: dict[str, set[str]], run_wall: float) -> dict:
    """Per task: Airflow's part (duration - step seconds) and the scheduler's gap before it
    (its start - the end of its last upstream); per run: the critical path and Airflow's part of it."""
    by_id = {t["task_id"]: t for t in tasks}
    for t in tasks:
        sensor = t["task_id"].startswith(SENSOR_PREFIX)
        step = 0.0 if sensor else t["step_seconds"]
        t["airflow_seconds"] = round(t["duration"] - step, 3) if step is not None else None
        ready = max((by_id[u]["ended_at"] for u in ups.get(t["task_id"], ()) if u in by_id), default=0.0)
        t["gap_before"] = round(t["started_at"] - ready, 3)
    # The critical path, walked back from the task that ended last.
    path, current = [], max(tasks, key=lambda t: t["ended_at"])
    while current is not None:
        path.append(current)
        prior = [by_id[u] for u in ups.get(current["task_id"], ()) if u in by_id]
        current = max(prior, key=lambda t: t["ended_at"]) if prior else None
    path.reverse()
    work = sum(t["step_seconds"] or 0.0 for t in path if not t["task_id"].startswith(SENSOR_PREFIX))
    overheads = [t["airflow_seconds"] for t in tasks if t["airflow_seconds"] is not None]
    gaps = [t["gap_before"] for t in path]
    return {
        "tasks": len(tasks),
        "critical_path": [t["task_id"] for t in path],
        "critical_path_tasks": len(path),
        "run_wall_seconds": round(run_wall, 3),
        "critical_path_step_seconds": round(work, 3),
        "airflow_seconds": round(run_wall - work, 3),
        "airflow_seconds_per_critical_task": round((run_wall - work) / len(path), 3),
        "task_overhead_median": round(statistics.median(overheads), 3) if overheads else None,
        "task_overhead_max": round(max(overheads), 3) if overheads else None,
        "critical_gaps_seconds": round(sum(gaps), 3),
        "untimed_tasks": sorted(t["task_id"] for t in tasks if t["airflow_seconds"] is None),
    }


def run_scale(scale: str, work: Path, metadata_url: str, airflow_home: Path, landing: Path | None,
              memory_limit: str, ups: dict[str, set[str]], say=print) -> dict:
    from vigil_demo import SCALES, generate

    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
    folder = work / scale
    for stale in ("warehouse", "out"):
        shutil.rmtree(folder / stale, ignore_errors=True)
    generated = None
    if landing is None:
        landing = folder / "landing"
        if not (landing / "_demo" / "planted.json").exists():
            say(f"{scale}: generating night 1 of the demo feeds in {landing}")
            t0 = time.perf_counter()
            generate(landing, START, 1, scale=scale, seed=42, workers=1 if SCALES[scale].employees < 50_000 else 2)
            generated = round(time.perf_counter() - t0, 2)
    planted = json.loads((landing / "_demo" / "planted.json").read_text())
    if planted.get("scale") != scale or planted.get("start") != START.isoformat():
        raise ValueError(f"{landing} holds {planted.get('scale')} feeds from {planted.get('start')}, "
                         f"not {scale} from {START}")
    vigil_env = {
        "VIGIL_LANDING": str(landing), "VIGIL_WAREHOUSE": str(folder / "warehouse" / "vigil.duckdb"), "VIGIL_CREATE_WAREHOUSE": "true",
        "VIGIL_OUT": str(folder / "out"), "VIGIL_MODE": "demo", "VIGIL_DUCKDB_MEMORY_LIMIT": memory_limit,
        "VIGIL_FEED_WAIT_SECONDS": "0",
    }
    af = Airflow(airflow_home, metadata_url, vigil_env, "LocalExecutor")
    run_id = f"bench_{scale}_{uuid.uuid4().hex[:8]}"
    t0 = time.perf_counter()
    with af.components():
        up = round(time.perf_counter() - t0, 2)
        say(f"{scale}: Airflow up and the DAG parsed in {up}s; triggering night 1 ({START})")
        af.trigger(run_id, START)
        af.wait_for_run(run_id, timeout=RUN_TIMEOUT)
    (start, end), = af.query("SELECT start_date, end_date FROM dag_run WHERE dag_id = %s AND run_id = %s",
                             (DAG_ID, run_id))
    tasks = af.task_timings(run_id)
    share = airflow_share(tasks, ups, (end - start).total_seconds())
    say(f"{scale}: run {share['run_wall_seconds']}s, of which Airflow {share['airflow_seconds']}s "
        f"on {share['critical_path_tasks']} critical tasks")
    return {"scale": scale, "landing": str(landing), "generate_seconds": generated, "components_up_seconds": up,
            "run_id": run_id, "summary": share, "tasks": tasks}


def run(scales: list[str], *, work: Path | None, landings: dict[str, Path], memory_limit: str,
        json_path: Path | None, markdown: Path | None, say=print) -> dict:
    sys.path.insert(0, str(HERE))

    own = work is None
    work = Path(work or tempfile.mkdtemp(prefix="vigil-airflow-bench-", dir="/tmp"))
    work.mkdir(parents=True, exist_ok=True)
    result = {"machine": machine(), "executor": "LocalExecutor", "metadata": "PostgreSQL (scratch database)",
              "duckdb_memory_limit": memory_limit, "night": START.isoformat(), "scales": []}
    ups = upstreams()
    try:
        for scale in scales:
            # A metadata database per scale: each scale's run is night 1, and a DAG has one run per logical date.
            with scratch_database("vigil_af_bench") as url:
                home = work / "airflow-home" / scale
                shutil.rmtree(home, ignore_errors=True)
                home.mkdir(parents=True)
                t0 = time.perf_counter()
                Airflow(home, url, {}, "LocalExecutor").cli("db", "migrate", timeout=900)
                migrated = round(time.perf_counter() - t0, 2)
                say(f"{scale}: `airflow db migrate` {migrated}s")
                one = run_scale(scale, work, url, home, landings.get(scale), memory_limit, ups, say=say)
                result["scales"].append(one | {"db_migrate_seconds": migrated})
    finally:
        if own:
            shutil.rmtree(work, ignore_errors=True)
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    if markdown is not None:
        with Path(markdown).open("a", encoding="utf-8") as f:
            f.write("\n" + render_markdown(result))
    return result


def render_markdown(r: dict) -> str:
    m = r["machine"]
    scales = r["scales"]
    lines = [f"### Airflow's part of a night ({', '.join(s['scale'] for s in scales)}, {r['executor']}) — {m['date']}", "",
             f"Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gb']} GB RAM; Python {m['python']}, DuckDB {m['duckdb']}; "
             f"load average at start {', '.join(map(str, m['load_average_at_start']))}. Airflow 3 as processes "
             f"(api-server, scheduler, dag-processor), metadata on a scratch PostgreSQL database per scale "
             f"(`airflow db migrate` {', '.join(str(s['db_migrate_seconds']) for s in scales)} s). Night 1 ({r['night']}) of the demo feeds, a fresh DuckDB warehouse.", "",
             "| | " + " | ".join(s["scale"] for s in scales) + " |",
             "|---|" + "---:|" * len(scales)]
    rows = [
        ("DAG run, wall s", "run_wall_seconds"),
        ("steps' own seconds on the critical path", "critical_path_step_seconds"),
        ("**Airflow's part of the night, s**", "airflow_seconds"),
        ("critical-path tasks", "critical_path_tasks"),
        ("Airflow s per critical-path task", "airflow_seconds_per_critical_task"),
        ("scheduler gaps on the critical path, s", "critical_gaps_seconds"),
        ("per-task overhead (duration − step), median s", "task_overhead_median"),
        ("per-task overhead, max s", "task_overhead_max"),
    ]
    for label, key in rows:
        lines.append(f"| {label} | " + " | ".join(str(s["summary"][key]) for s in scales) + " |")
    lines += ["", "Per task (duration / step's own seconds / Airflow's part, s):", "",
              "| task | " + " | ".join(s["scale"] for s in scales) + " |", "|---|" + "---:|" * len(scales)]
    by_scale = [{t["task_id"]: t for t in s["tasks"]} for s in scales]
    for task_id in [t["task_id"] for t in scales[0]["tasks"]]:
        cells = []
        for tasks in by_scale:
            t = tasks.get(task_id)
            cells.append("–" if t is None else
                         " / ".join(_secs(t[k]) for k in ("duration", "step_seconds", "airflow_seconds")))
        lines.append(f"| {task_id} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _secs(v) -> str:
    return "–" if v is None else f"{v:.2f}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scales", default="small,medium", help="comma-separated demo scales (default small,medium)")
    p.add_argument("--landing", action="append", default=[], metavar="SCALE=DIR",
                   help="reuse demo feeds already generated for SCALE (e.g. a kept `nightly_bench.py --work` folder's landing/)")
    p.add_argument("--work", type=Path, help="folder for feeds, warehouses and Airflow's home, kept afterwards")
    p.add_argument("--memory-limit", default=os.environ.get("VIGIL_DUCKDB_MEMORY_LIMIT", "4GB"))
    p.add_argument("--json", type=Path)
    p.add_argument("--no-append", action="store_true", help="do not append a section to docs/benchmarks.md")
    p.add_argument("--markdown", type=Path, help="append the section to this file instead of docs/benchmarks.md")
    args = p.parse_args(argv)
    landings = {}
    for item in args.landing:
        scale, _, folder = item.partition("=")
        if not folder:
            p.error(f"--landing takes SCALE=DIR, not {item!r}")
        landings[scale] = Path(folder)
    markdown = None if args.no_append else (args.markdown or DOCS)
    r = run([s.strip() for s in args.scales.split(",") if s.strip()], work=args.work, landings=landings,
            memory_limit=args.memory_limit, json_path=args.json, markdown=markdown)
    print(render_markdown(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
