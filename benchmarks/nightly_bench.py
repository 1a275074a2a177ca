"""The nightly benchmark (issue 8): demo feeds at a scale, two nights, per-stage time, rows/s, memory.

    .venv/bin/python benchmarks/nightly_bench.py --scale small|medium|large|xl [--engine duckdb|postgresql]
        [--work DIR] [--nights N] [--keep] [--json PATH] [--stages floor,night1,night2,actions,review]
        [--no-append] [--markdown PATH] [--profile]

A script of the source checkout (benchmarks/ is not part of the installed package), run by path.

What it does:

1. generates two days of demo feeds for the scale (vigil_demo.generate; day 2 is the generator's
   own next day, see docs/benchmarks.md for how much of it changes), or ``--nights N`` days: the
   later nights show whether a night's cost grows with the history the warehouse keeps (stage
   ``night2`` covers every night after the first);
2. measures the **floor**: DuckDB reading every CSV file of a night once
   (``SELECT count(*) FROM read_csv(f, ...)`` per file, in the reader's CSV dialect with every
   column as text), nothing else; and, for comparison, the same read materialised into a
   temporary table (``floor_materialised``);
3. starts scim2-server on loopback with a user for every account the demo's planted cases hold,
   and points ticket delivery at it;
4. runs the real nightly pipeline (vigil.pipeline.run_nightly, in-process, the DAG's steps in the
   DAG's order) for night 1 and night 2 (to N), and the quarterly review pack after the last night;
5. while it runs, samples the resident memory of this process and all its children (dbt runs as
   a subprocess) every 50 ms, and attributes the peak to the step running at that moment.

Stages (pipeline steps grouped): extract (read + validate + pseudonymise + stage the four feeds),
freshness (dbt source freshness), load, gates (audit raw + audit publish), dbt build, breakers+publish,
tickets (close + create), delivery (to the SCIM server), report (alerts; the review pack is reported on its own line).
Rows/s of the data stages is the night's feed rows divided by the stage's wall time, so stages
compare with each other and with the floor; the gates also get rows x expectations / s (the sum of
every expectation's element_count over the gate's time).

Results: a JSON document (``--json``, default <work>/bench-<scale>-<engine>.json) and a section
appended to docs/benchmarks.md (``--markdown`` elsewhere, ``--no-append`` for none).
The data lives under --work (default a new folder in /tmp), deleted afterwards unless --keep.
PostgreSQL: a scratch database on VIGIL_BENCH_PG_DSN (default postgresql://postgres@127.0.0.1:5432/postgres),
created for the run and dropped afterwards (kept with --keep).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import platform
import re
import shutil
import sys
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs" / "benchmarks.md"
START = dt.date(2026, 3, 2)  # a Monday: night 2 is a weekday too, with a full day of logins
PG_ADMIN = os.environ.get("VIGIL_BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
SCIM_TOKEN_ENV = "VIGIL_BENCH_SCIM_TOKEN"
ALL_STAGES = ("floor", "night1", "night2", "actions", "review")

#: pipeline step name (vigil.pipeline.run_nightly) -> reported stage; unknown steps report under their own name.
STAGE_OF = {
    "extract": "extract", "source freshness": "freshness", "load": "load", "audit raw": "gates", "audit publish": "gates",
    "dbt build": "dbt build",
    "circuit breakers": "breakers+publish", "publish": "breakers+publish", "close tickets": "tickets",
    "create tickets": "tickets", "deliver tickets": "delivery", "alerts": "report",
}
STAGE_ORDER = ("extract", "freshness", "load", "gates", "dbt build", "breakers+publish", "tickets", "delivery",
               "report")

# Issue 8's targets, evaluated where the run can say something about them.
TARGET_MEDIUM_FIRST_NIGHT_S = 120
TARGET_XL_NIGHT_S = 15 * 60
TARGET_XL_PEAK_BYTES = 4 * 1024**3
TARGET_NIGHT2_SHARE = 0.20
TARGET_FLOOR_MULTIPLE = 5
TARGET_GATE_ROWS_PER_S = 5_000_000


def stage_of(step: str) -> str:
    for prefix in ("extract", "load"):
        if step.startswith(prefix + " "):
            return STAGE_OF[prefix]
    return STAGE_OF.get(step, step)


# --------------------------------------------------------------------------- memory


class MemorySampler:
    """Peak RSS of this process plus all its children, per labelled interval (a background thread)."""

    def __init__(self, interval: float = 0.05):
        import psutil

        self.proc = psutil.Process()
        self.interval = interval
        self.label: str | None = None
        self.peaks: dict[str, int] = {}
        self.overall = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def rss(self) -> int:
        import psutil

        total = self.proc.memory_info().rss
        for child in self.proc.children(recursive=True):
            try:
                total += child.memory_info().rss
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                pass
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def sample(self) -> None:
        rss = self.rss()
        self.overall = max(self.overall, rss)
        if self.label is not None:
            self.peaks[self.label] = max(self.peaks.get(self.label, 0), rss)

    def set(self, label: str | None) -> None:
        self.sample()  # close the previous interval with a final reading
        self.label = label
        if label is not None:
            self.sample()

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


# --------------------------------------------------------------------------- machine


def machine() -> dict:
    import duckdb
    import psutil

    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else (None, None, None)
    return {
        "cpu": cpu, "cores": os.cpu_count(), "ram_gb": round(psutil.virtual_memory().total / 1024**3, 1),
        "os": platform.platform(), "python": platform.python_version(), "duckdb": duckdb.__version__,
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "load_average_at_start": [round(x, 2) for x in load if x is not None],
    }


# --------------------------------------------------------------------------- data


def night_files(landing: Path, day: dt.date) -> list[tuple[Path, int]]:
    """(csv file, data rows from its manifest) for every feed file of night `day`."""
    out = []
    for manifest in sorted(landing.glob(f"*/{day.isoformat()}/_manifest.json")):
        files = json.loads(manifest.read_text())["files"]
        out += [(manifest.parent / name, int(meta["rows"])) for name, meta in sorted(files.items())]
    return out


def measure_floor(files: list[tuple[Path, int]], memory_limit: str) -> dict:
    """DuckDB reading every file of the night once, nothing else: the least any pipeline can take."""
    import duckdb

    con = duckdb.connect()
    con.execute(f"SET memory_limit = '{memory_limit}'")
    per_file, rows = {}, 0
    t0 = time.perf_counter()
    for path, _ in files:
        t = time.perf_counter()
        (n,) = con.execute(f"SELECT count(*) FROM {_floor_scan(path)}").fetchone()
        per_file[f"{path.parent.parent.name}/{path.name}"] = round(time.perf_counter() - t, 3)
        rows += n
    seconds = time.perf_counter() - t0
    # The same read, every value materialised (count(*) lets DuckDB skip building the columns).
    t0 = time.perf_counter()
    for path, _ in files:
        con.execute(f"CREATE OR REPLACE TEMP TABLE floor_t AS SELECT * FROM {_floor_scan(path)}")
        con.execute("DROP TABLE floor_t")
    materialised = time.perf_counter() - t0
    con.close()
    return {"seconds": round(seconds, 3), "rows": rows, "bytes": sum(p.stat().st_size for p, _ in files),
            "rows_per_second": int(rows / seconds) if seconds else None, "per_file_seconds": per_file,
            "materialised_seconds": round(materialised, 3)}


def _floor_scan(path: Path) -> str:
    """read_csv of one feed file in the reader's own dialect (include/vigil/ingest/reader.py), every column as text."""
    with path.open(encoding="utf-8") as f:
        header = next(csv.reader(f))
    columns = "{" + ", ".join(f"'{c}': 'VARCHAR'" for c in header) + "}"
    literal = "'" + str(path).replace("'", "''") + "'"
    return (f"read_csv({literal}, auto_detect = false, header = true, columns = {columns}, "
            f"delim = ',', quote = '\"', escape = '\"', max_line_size = 4194304)")


def _same_feeds(landing: Path, scale: str, seed: int, days: int) -> bool:
    try:
        p = json.loads((landing / "_demo" / "planted.json").read_text())
    except (OSError, ValueError):
        return False
    return (p.get("scale"), p.get("seed"), p.get("start"), p.get("days")) == (scale, seed, START.isoformat(), days)


def planted_accounts(landing: Path) -> tuple[set[str], dict[str, set[str]]]:
    """Every account id the planted cases name, and entitlement -> accounts (for SCIM groups)."""
    planted = json.loads((landing / "_demo" / "planted.json").read_text())
    accounts: set[str] = set()
    groups: dict[str, set[str]] = {}

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("account_id"), str):
                accounts.add(node["account_id"])
                if isinstance(node.get("entitlement"), str):
                    groups.setdefault(node["entitlement"], set()).add(node["account_id"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(planted.get("cases", {}))
    return accounts, groups


# --------------------------------------------------------------------------- SCIM


def scim_server_class():
    """tests/fixtures/tickets.ScimServer: scim2-server on loopback with request and write counts."""
    tests = str(REPO / "tests")
    if tests not in sys.path:
        sys.path.insert(0, tests)
    from fixtures.tickets import ScimServer

    return ScimServer


def add_scim_users(scim, accounts: set[str], groups: dict[str, set[str]]) -> dict[str, str]:
    """Users (externalId = account id) and groups through the server's HTTP API, one client."""
    import httpx

    ids: dict[str, str] = {}
    with httpx.Client(base_url=scim.base_url, headers={"Authorization": f"Bearer {scim.token}",
                                                        "Content-Type": "application/scim+json",
                                                        "X-Test-Admin": "1"}) as c:
        for a in sorted(accounts):
            r = c.post("/Users", json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                                       "userName": a, "externalId": a, "active": True})
            r.raise_for_status()
            ids[a] = r.json()["id"]
        for name, members in sorted(groups.items()):
            r = c.post("/Groups", json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                                        "displayName": name,
                                        "members": [{"value": ids[m]} for m in sorted(members) if m in ids]})
            r.raise_for_status()
    return ids


def write_delivery_config(path: Path, base_url: str) -> Path:
    import yaml

    path.write_text(yaml.safe_dump({
        "version": 1,
        "channels": {"bench_scim": {"type": "scim", "base_url": base_url, "token_env": SCIM_TOKEN_ENV,
                                    "user_lookup": "externalId"}},
        "systems": {}, "default": ["bench_scim"],
    }, sort_keys=False))
    return path


# --------------------------------------------------------------------------- warehouse


@contextmanager
def scratch_warehouse(engine: str, work: Path, keep: bool):
    if engine == "duckdb":
        yield str(work / "warehouse" / "vigil.duckdb")
        return
    with scratch_database("vigil_bench", keep=keep) as url:
        yield url


@contextmanager
def scratch_database(prefix: str, *, keep: bool = False):
    """A new database on the local PostgreSQL server (VIGIL_BENCH_PG_DSN), dropped afterwards unless kept."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        if not keep:
            with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def query(url: str, sql: str, params=()) -> list[tuple]:
    from vigil.store.warehouse import Warehouse

    wh = Warehouse.open(url)
    with wh.connection() as con:
        return wh.fetchall(con, sql, params)


def gate_elements(url: str, run_date: dt.date, layer: str) -> tuple[int, int]:
    """(expectations, sum of their element_count) the gate of `layer` recorded for the night."""
    rows = query(url, "SELECT count(*), coalesce(sum(element_count), 0) FROM audit.dq_results "
                      "WHERE run_date = %s AND layer = %s", (run_date, layer))
    return int(rows[0][0]), int(rows[0][1])


def dbt_slowest(out: Path, n: int = 12) -> list[dict]:
    path = out / "dbt" / "target" / "run_results.json"
    if not path.exists():
        return []
    results = json.loads(path.read_text()).get("results", [])
    results.sort(key=lambda r: r.get("execution_time") or 0, reverse=True)
    return [{"node": r["unique_id"].split(".", 2)[-1] if r["unique_id"].startswith("model.") else r["unique_id"],
             "seconds": round(r.get("execution_time") or 0, 2), "status": r.get("status")} for r in results[:n]]


# --------------------------------------------------------------------------- one night


def run_night(settings, day: dt.date, sampler: MemorySampler, *, actions: bool, profile_to: Path | None) -> dict:
    from vigil.pipeline import run_nightly

    steps_seen: list[str] = []

    def report(event: str, message: str) -> None:
        if event == "start":
            steps_seen.append(message)
            sampler.set(message)

    profiler = None
    if profile_to is not None:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.005)
        profiler.start()
    t0 = time.perf_counter()
    summary = run_nightly(settings, day, report=report, actions=actions)
    wall = time.perf_counter() - t0
    sampler.set(None)
    if profiler is not None:
        profiler.stop()
        profile_to.parent.mkdir(parents=True, exist_ok=True)
        profile_to.write_text(profiler.output_html())
        profile_to.with_suffix(".txt").write_text(profiler.output_text(unicode=False, color=False, show_all=False))
    if not summary.ok:
        raise RuntimeError(f"night {day} was not published ({summary.status}): {summary.error}")
    steps = [{"step": s.name, "stage": stage_of(s.name), "seconds": s.seconds, "detail": s.detail,
              "peak_rss_bytes": sampler.peaks.get(s.name)} for s in summary.steps]
    return {"date": day.isoformat(), "run_id": summary.run_id, "status": summary.status, "wall_seconds": round(wall, 3),
            "steps": steps}


def summarise_night(night: dict, url: str, out: Path, day: dt.date, feed_rows: int) -> dict:
    stages: dict[str, dict] = {}
    for s in night["steps"]:
        st = stages.setdefault(s["stage"], {"seconds": 0.0, "peak_rss_bytes": 0, "steps": []})
        st["seconds"] += s["seconds"]
        st["peak_rss_bytes"] = max(st["peak_rss_bytes"], s["peak_rss_bytes"] or 0)
        st["steps"].append(s["step"])
    data_stages = ("extract", "load", "gates", "dbt build", "breakers+publish")
    for name, st in stages.items():
        st["seconds"] = round(st["seconds"], 3)
        if name in data_stages:
            st["rows"] = feed_rows
    if "gates" in stages:
        raw_n, raw_el = gate_elements(url, day, "raw")
        pub_n, pub_el = gate_elements(url, day, "publish")
        g = stages["gates"]
        g.update(expectations=raw_n + pub_n, expectation_rows=raw_el + pub_el,
                 raw_expectations=raw_n, raw_expectation_rows=raw_el,
                 publish_expectations=pub_n, publish_expectation_rows=pub_el)
        secs = {s["step"]: s["seconds"] for s in night["steps"]}
        g["raw_rows_per_second_per_expectation"] = int(raw_el / secs["audit raw"]) if secs.get("audit raw") else None
        g["rows_per_second_per_expectation"] = int(g["expectation_rows"] / g["seconds"]) if g["seconds"] else None
    if "tickets" in stages:
        stages["tickets"]["rows"] = int(query(url, "SELECT count(*) FROM tickets.tickets WHERE run_date = %s", (day,))[0][0])
    if "delivery" in stages:
        rows = query(url, "SELECT state, count(*) FROM tickets.outbox WHERE run_date = %s GROUP BY state", (day,))
        stages["delivery"]["outbox"] = {s: int(n) for s, n in rows}
        stages["delivery"]["rows"] = sum(int(n) for s, n in rows if s == "delivered")
    if "report" in stages:
        path = out / "alerts" / day.isoformat() / "alerts.jsonl"
        stages["report"]["rows"] = sum(1 for _ in path.open()) if path.exists() else 0
    for st in stages.values():
        if st.get("rows") is not None and st["seconds"]:
            st["rows_per_second"] = int(st["rows"] / st["seconds"])
    ordered = {k: stages[k] for k in STAGE_ORDER if k in stages} | {k: v for k, v in stages.items() if k not in STAGE_ORDER}
    night["stages"] = ordered
    night["feed_rows"] = feed_rows
    night["pipeline_seconds"] = round(sum(s["seconds"] for s in night["steps"]), 3)
    night["peak_rss_bytes"] = max((s["peak_rss_bytes"] or 0) for s in night["steps"])
    night["dbt_slowest"] = dbt_slowest(out)
    return night


# --------------------------------------------------------------------------- the benchmark


def run_bench(scale: str, *, engine: str = "duckdb", work: Path | None = None, keep: bool = False,
              json_path: Path | None = None, stages: tuple[str, ...] = ALL_STAGES, markdown: Path | None = DOCS,
              profile: bool = False, memory_limit: str | None = None, threads: int | None = None,
              seed: int = 42, workers: int | None = None, nights: int = 2, say=print) -> dict:
    from vigil.config import Settings
    from vigil_demo import SCALES, generate

    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
    if nights < 2:
        raise ValueError(f"nights must be 2 or more (a first night and at least one after it), got {nights}")
    unknown = set(stages) - set(ALL_STAGES)
    if unknown:
        raise ValueError(f"unknown stages {sorted(unknown)}; stages are {', '.join(ALL_STAGES)}")
    own_work = work is None
    work = Path(work or tempfile.mkdtemp(prefix=f"vigil-bench-{scale}-", dir="/tmp"))
    work.mkdir(parents=True, exist_ok=True)
    memory_limit = memory_limit or os.environ.get("VIGIL_DUCKDB_MEMORY_LIMIT", "4GB")
    result: dict = {"scale": scale, "engine": engine, "seed": seed, "stages_run": list(stages),
                    "machine": machine(), "duckdb_memory_limit": memory_limit, "duckdb_threads": threads,
                    "scale_volumes": SCALES[scale].__dict__, "work": str(work), "nights_asked": nights}
    landing, out = work / "landing", work / "out"
    days = [START + dt.timedelta(days=i) for i in range(nights)]
    touched = (SCIM_TOKEN_ENV, "VIGIL_DELIVERY_CONFIG", "VIGIL_ALERTING_CONFIG", "VIGIL_DUCKDB_MEMORY_LIMIT")
    saved_env = {k: os.environ.get(k) for k in touched}  # restored afterwards: callers keep their environment
    try:
        if workers is None:
            workers = 1 if SCALES[scale].employees < 50_000 else 2
        # A kept work folder is reused: the same feeds (generation is deterministic), a fresh warehouse.
        for stale in ("warehouse", "out", "profile"):
            shutil.rmtree(work / stale, ignore_errors=True)
        if _same_feeds(landing, scale, seed, nights):
            say(f"reusing the {scale} demo feeds in {landing}")
            result["generate_seconds"] = None
        else:
            say(f"generating {nights} days of {scale} demo feeds in {landing} ({workers} worker(s))")
            t0 = time.perf_counter()
            shutil.rmtree(landing, ignore_errors=True)  # feeds of another scale or length must not mix in
            generate(landing, START, nights, scale=scale, seed=seed, workers=workers)
            result["generate_seconds"] = round(time.perf_counter() - t0, 2)
        files = {d: night_files(landing, d) for d in days}
        result["feeds"] = {d.isoformat(): {"files": len(f), "rows": sum(n for _, n in f),
                                           "bytes": sum(p.stat().st_size for p, _ in f)} for d, f in files.items()}
        if "floor" in stages:
            result["floor"] = {d.isoformat(): measure_floor(files[d], memory_limit) for d in days}
            say(f"floor: night 1 {result['floor'][days[0].isoformat()]['seconds']}s for "
                f"{result['floor'][days[0].isoformat()]['rows']:,} rows")
        accounts, groups = planted_accounts(landing)
        ScimServer = scim_server_class()
        os.environ[SCIM_TOKEN_ENV] = token = f"bench-{uuid.uuid4().hex}"
        # Tonight's settings must not pick up the caller's own routing or alerting.
        for var in ("VIGIL_DELIVERY_CONFIG", "VIGIL_ALERTING_CONFIG"):
            os.environ.pop(var, None)
        with ScimServer(token) as scim, scratch_warehouse(engine, work, keep) as url, MemorySampler() as sampler:
            add_scim_users(scim, accounts, groups)
            result["warehouse"] = re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)  # never a password
            settings = Settings.from_env(landing=str(landing), warehouse=url, out=out, mode="demo").with_(
                create_warehouse=True, duckdb_memory_limit=memory_limit, duckdb_threads=threads,
                delivery_config=write_delivery_config(work / "delivery.yml", scim.base_url), alerting_config=None)
            os.environ["VIGIL_DUCKDB_MEMORY_LIMIT"] = memory_limit  # dbt's profile reads it too
            result["baseline_rss_bytes"] = sampler.rss()
            nights = []
            for n, day in enumerate(days, start=1):
                if f"night{min(n, 2)}" not in stages:
                    continue
                say(f"night {n} ({day}) on {engine} …")
                night = run_night(settings, day, sampler, actions="actions" in stages,
                                  profile_to=work / "profile" / f"night{n}.html" if profile else None)
                night = summarise_night(night, url, out, day, sum(r for _, r in files[day]))
                night["night"] = n
                nights.append(night)
                say(f"night {n}: {night['pipeline_seconds']:.1f}s, peak {night['peak_rss_bytes'] / 1024**2:,.0f} MB")
            result["nights"] = nights
            result["scim"] = {"users": len(accounts), "groups": len(groups), "requests": len(scim.requests),
                              "writes": sum(scim.writes.values()),
                              "max_writes_per_resource": max(scim.writes.values(), default=0)}
            if "review" in stages and nights:
                from vigil.reports import build_review_pack

                q = f"{days[-1].year}Q{(days[-1].month - 1) // 3 + 1}"
                sampler.set("review pack")
                t0 = time.perf_counter()
                pack = build_review_pack(url, q, out=out, run_id=f"bench__{q}")
                secs = time.perf_counter() - t0
                sampler.set(None)
                rows = sum(pack["counts"].values())
                result["review_pack"] = {"quarter": q, "seconds": round(secs, 3), "rows": rows, "pages": pack["pages"],
                                         "rows_per_second": int(rows / secs) if secs else None,
                                         "peak_rss_bytes": sampler.peaks.get("review pack")}
            result["peak_rss_bytes"] = sampler.overall
            if engine == "duckdb":
                db = Path(url)
                result["warehouse_bytes"] = db.stat().st_size if db.exists() else None
        result["ratios"] = ratios(result)
        result["targets"] = targets(result)
    finally:
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        if own_work and not keep:
            shutil.rmtree(work, ignore_errors=True)
            result["work"] = f"{work} (deleted)"
    json_path = Path(json_path) if json_path else (work / f"bench-{scale}-{engine}.json" if keep or not own_work
                                                   else None)
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(result, indent=2, default=str) + "\n")
        result["json"] = str(json_path)
    if markdown is not None:
        append_markdown(Path(markdown), result)
        result["markdown"] = str(markdown)
    return result


def ratios(r: dict) -> dict:
    nights = {n["night"]: n for n in r.get("nights", [])}
    out: dict = {}
    for n, night in nights.items():
        floor = (r.get("floor") or {}).get(night["date"])
        if floor and floor["seconds"]:
            out[f"night{n}_pipeline_over_floor"] = round(night["pipeline_seconds"] / floor["seconds"], 1)
    if 1 in nights and 2 in nights and nights[1]["pipeline_seconds"]:
        out["night2_over_night1"] = round(nights[2]["pipeline_seconds"] / nights[1]["pipeline_seconds"], 3)
        out["night2_over_night1_data_path"] = round(_data_path(nights[2]) / _data_path(nights[1]), 3)
    last = max(nights, default=0)
    if last > 2 and nights[2]["pipeline_seconds"]:
        # the same kind of night (a ~1% delta) with more history behind it: 1.0 means flat
        out[f"night{last}_over_night2"] = round(nights[last]["pipeline_seconds"] / nights[2]["pipeline_seconds"], 3)
        d2, dn = nights[2]["stages"].get("dbt build"), nights[last]["stages"].get("dbt build")
        if d2 and dn and d2["seconds"]:
            out[f"night{last}_over_night2_dbt"] = round(dn["seconds"] / d2["seconds"], 3)
    return out


def _data_path(night: dict) -> float:
    return sum(st["seconds"] for k, st in night["stages"].items()
               if k in ("extract", "load", "gates", "dbt build", "breakers+publish"))


def targets(r: dict) -> list[dict]:
    """Issue 8's targets this run can speak to: met, not met, or not applicable at this scale."""
    nights = {n["night"]: n for n in r.get("nights", [])}
    scale, out = r["scale"], []
    n1 = nights.get(1)
    if n1 and scale == "medium":
        out.append({"target": "medium: first night < 2 min end to end", "measured": f"{n1['pipeline_seconds']:.0f} s",
                    "met": n1["pipeline_seconds"] < TARGET_MEDIUM_FIRST_NIGHT_S})
    if scale == "xl":
        for night in nights.values():
            out.append({"target": f"xl: a night < 15 min (night {night['night']})",
                        "measured": f"{night['pipeline_seconds']:.0f} s",
                        "met": night["pipeline_seconds"] < TARGET_XL_NIGHT_S})
        out.append({"target": "xl: peak memory < 4 GB", "measured": f"{r['peak_rss_bytes'] / 1024**3:.2f} GB",
                    "met": r["peak_rss_bytes"] < TARGET_XL_PEAK_BYTES})
    if "night2_over_night1" in r.get("ratios", {}):
        v = r["ratios"]["night2_over_night1"]
        out.append({"target": "night 2 <= 20% of night 1", "measured": f"{v:.0%}", "met": v <= TARGET_NIGHT2_SHARE})
    for n in nights:
        v = r.get("ratios", {}).get(f"night{n}_pipeline_over_floor")
        if v is not None:
            out.append({"target": f"pipeline <= 5x floor (night {n})", "measured": f"{v:.0f}x",
                        "met": v <= TARGET_FLOOR_MULTIPLE, "applies": scale in ("medium", "large", "xl")})
    if n1 and "gates" in n1["stages"]:
        v = n1["stages"]["gates"].get("rows_per_second_per_expectation")
        if v is not None:
            out.append({"target": "gates >= 5M rows/s per expectation (night 1)", "measured": f"{v / 1e6:.2f}M",
                        "met": v >= TARGET_GATE_ROWS_PER_S, "applies": scale in ("medium", "large", "xl")})
    for t in out:
        t.setdefault("applies", True)
    return out


# --------------------------------------------------------------------------- markdown


def _mb(b) -> str:
    return f"{b / 1024**2:,.0f}" if b else "–"


def _rate(v) -> str:
    if not v:
        return "–"
    return f"{v / 1e6:.2f}M" if v >= 1e6 else f"{v / 1e3:.0f}k" if v >= 1e3 else str(v)


def render_markdown(r: dict) -> str:
    m = r["machine"]
    lines = [
        f"### {r['scale']} on {r['engine']} — {m['date']}",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gb']} GB RAM, {m['os']}; Python {m['python']}, "
        f"DuckDB {m['duckdb']}; load average at start {', '.join(map(str, m['load_average_at_start']))} "
        f"(shared machine). DuckDB memory_limit {r['duckdb_memory_limit']}.",
        "",
    ]
    feeds = r.get("feeds", {})
    lines.append("Feeds: " + "; ".join(f"night {i} {v['rows']:,} rows in {v['files']} files "
                                       f"({v['bytes'] / 1024**2:,.0f} MB)" for i, v in enumerate(feeds.values(), 1))
                 + (f"; generated in {r['generate_seconds']} s." if r.get("generate_seconds") else "."))
    lines.append("")
    every_night = nights = r.get("nights", [])
    if len(nights) > 3:  # the table shows the first, the second and the last; a line lists them all
        nights = [nights[0], nights[1], nights[-1]]
    if nights:
        head = "| stage |" + "".join(f" night {n['night']} s | rows/s | peak RSS MB |" for n in nights)
        lines += [head, "|---|" + "---:|---:|---:|" * len(nights)]
        names = list(dict.fromkeys(k for n in nights for k in n["stages"]))
        for name in names:
            row = f"| {name} |"
            for n in nights:
                st = n["stages"].get(name)
                row += (f" {st['seconds']:.2f} | {_rate(st.get('rows_per_second'))} | {_mb(st['peak_rss_bytes'])} |"
                        if st else " – | – | – |")
            lines.append(row)
        row = "| **whole pipeline** |"
        for n in nights:
            row += f" **{n['pipeline_seconds']:.1f}** | {_rate(int(n['feed_rows'] / n['pipeline_seconds']))} | " \
                   f"{_mb(n['peak_rss_bytes'])} |"
        lines.append(row)
        if r.get("floor"):
            row = "| floor (DuckDB reads each file once) |"
            for n in nights:
                f = r["floor"][n["date"]]
                row += f" {f['seconds']:.2f} | {_rate(f['rows_per_second'])} | – |"
            lines.append(row)
        lines.append("")
        if len(every_night) > 2:
            lines.append("Every night, whole pipeline / dbt build (s): " + ", ".join(
                f"{n['night']}: {n['pipeline_seconds']:.1f} / {n['stages'].get('dbt build', {}).get('seconds', 0):.1f}"
                for n in every_night) + ".")
        for n in nights:
            g = n["stages"].get("gates")
            if g:
                lines.append(f"Night {n['night']} gates: {g['expectations']} expectations over "
                             f"{g['expectation_rows']:,} expectation-rows: "
                             f"{_rate(g['rows_per_second_per_expectation'])} rows/s per expectation overall, raw gate "
                             f"{_rate(g.get('raw_rows_per_second_per_expectation'))}.")
            if n.get("dbt_slowest"):
                lines.append(f"Night {n['night']} slowest dbt nodes: " +
                             ", ".join(f"{d['node']} {d['seconds']} s" for d in n["dbt_slowest"][:6]) + ".")
        if r.get("review_pack"):
            p = r["review_pack"]
            lines.append(f"Review pack ({p['quarter']}, after night {every_night[-1]['night']}): {p['seconds']:.1f} s, {p['rows']:,} rows, "
                         f"{p['pages']} pages, peak {_mb(p['peak_rss_bytes'])} MB.")
        if r.get("scim"):
            s = r["scim"]
            lines.append(f"SCIM server: {s['users']} users, {s['requests']} requests, {s['writes']} writes, "
                         f"at most {s['max_writes_per_resource']} per resource.")
        rt = r.get("ratios", {})
        if rt:
            lines.append("Ratios: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in rt.items()) + ".")
        lines.append(f"Peak RSS (process + children) {_mb(r.get('peak_rss_bytes'))} MB"
                     + (f"; warehouse file {r['warehouse_bytes'] / 1024**2:,.0f} MB" if r.get("warehouse_bytes") else "")
                     + ".")
    tg = [t for t in r.get("targets", []) if t["applies"]]
    if tg:
        lines += ["", "| target | measured | met |", "|---|---:|---|"]
        lines += [f"| {t['target']} | {t['measured']} | {'yes' if t['met'] else '**no**'} |" for t in tg]
    return "\n".join(lines) + "\n"


def append_markdown(path: Path, r: dict) -> None:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(INTRO)
    with path.open("a", encoding="utf-8") as f:
        f.write("\n" + render_markdown(r))


INTRO = """# Benchmarks

benchmarks/nightly_bench.py generates the demo feeds for a scale, runs the nightly
pipeline for a first and a second night (or --nights N) and reports per stage wall time, rows/s and peak memory,
next to the floor (DuckDB reading every feed file once). Each run appends a section below.

## Results
"""


# --------------------------------------------------------------------------- command line


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--scale", default="small", choices=["tiny", "small", "medium", "large", "xl"],
                   help="demo scale to benchmark (default small; docs/demo-data.md)")
    p.add_argument("--engine", choices=["duckdb", "postgresql"], default="duckdb",
                   help="warehouse engine (postgresql: a scratch database on VIGIL_BENCH_PG_DSN's server)")
    p.add_argument("--work", type=Path, help="folder for feeds, warehouse and outputs, kept afterwards; a rerun reuses its feeds "
                        "(default: a new folder in /tmp, deleted unless --keep)")
    p.add_argument("--keep", action="store_true", help="keep the work folder (and a PostgreSQL scratch database)")
    p.add_argument("--json", type=Path, help="write the results here (default <work>/bench-<scale>-<engine>.json)")
    p.add_argument("--stages", default=",".join(ALL_STAGES),
                   help=f"comma-separated subset of {','.join(ALL_STAGES)} (actions = tickets, delivery, alerts)")
    p.add_argument("--no-append", action="store_true", help="do not append a section to docs/benchmarks.md")
    p.add_argument("--markdown", type=Path, help="append the section to this file instead of docs/benchmarks.md")
    p.add_argument("--profile", action="store_true", help="pyinstrument each night: <work>/profile/night<N>.html/.txt")
    p.add_argument("--memory-limit", help="DuckDB memory_limit (default VIGIL_DUCKDB_MEMORY_LIMIT or 4GB)")
    p.add_argument("--threads", type=int, help="DuckDB threads (default: all cores)")
    p.add_argument("--seed", type=int, default=42, help="demo-data seed (default 42)")
    p.add_argument("--nights", type=int, default=2,
                   help="nights to run (default 2); more show whether a night's cost grows with the history kept")


def from_args(args, say=print) -> dict:
    stages = tuple(s.strip() for s in args.stages.split(",") if s.strip())
    markdown = None if args.no_append else (args.markdown or DOCS)
    return run_bench(args.scale, engine=args.engine, work=args.work, keep=args.keep, json_path=args.json,
                     stages=stages, markdown=markdown, profile=args.profile, memory_limit=args.memory_limit,
                     threads=args.threads, seed=args.seed, nights=args.nights, say=say)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_arguments(p)
    args = p.parse_args(argv)
    result = from_args(args, say=lambda msg: print(f"  {msg}", flush=True))
    print(render_markdown(result))
    if result.get("json"):
        print(f"JSON: {result['json']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
