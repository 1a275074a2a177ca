"""Ticket delivery under faults (issue 5's performance clause): 10,000 tickets to a SCIM server.

    .venv/bin/python benchmarks/delivery_bench.py [--tickets 10000] [--fault-percent 1] [--engine duckdb|postgresql]
                                                  [--markdown PATH | --no-append] [--json PATH]

Sets up a night with N leavers (one account each) in a scratch warehouse, creates their tickets
with the real `create_tickets` (one SCIM outbox row each), then runs the real `deliver_tickets`
(production policy: concurrency 8, batches of 200, backoff from 2 s, Retry-After honoured) until
the outbox is empty, against scim2-server on loopback in its own process (so client and server do
not share one interpreter's GIL). In front of it a WSGI middleware answers `--fault-percent` % of
requests with 503 and as many with 429 + `Retry-After: 1`, spread evenly (every 100th request at
1%, deterministic).

Then it checks the server's effective state, which is what "effectively once" means: every user
disabled, and each user written exactly once (scim2-server's storage counts updates per resource);
plus requests per idempotency key. Prints JSON; appends a section to docs/benchmarks.md unless
--no-append.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing
import os
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs" / "benchmarks.md"
D = dt.date(2026, 3, 2)
NOW = dt.datetime(2026, 3, 3, 0, 30, tzinfo=dt.timezone.utc)
TOKEN_ENV = "VIGIL_BENCH_SCIM_TOKEN"
PG_ADMIN = os.environ.get("VIGIL_BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


# --------------------------------------------------------------------------- the SCIM server process


def _serve(conn, token: str, users: list[str], fault_percent: float) -> None:
    """Child process: scim2-server (tests/fixtures/tickets.ScimServer) with users, behind a fault
    middleware; answers the parent's "stop" with its counts."""
    sys.path.insert(0, str(REPO / "tests"))
    import threading

    from fixtures.tickets import ScimServer

    period = int(round(100 / fault_percent)) if fault_percent > 0 else 0
    lock = threading.Lock()
    counter = {"n": 0, "503": 0, "429": 0}
    per_key: Counter = Counter()
    per_user_patch: Counter = Counter()

    class FaultyScim(ScimServer):
        def _wsgi(self, environ, start_response):
            method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
            if environ.get("HTTP_X_TEST_ADMIN"):
                return self.app(environ, start_response)
            with lock:
                counter["n"] += 1
                n = counter["n"]
                key = environ.get("HTTP_IDEMPOTENCY_KEY")
                if key:
                    per_key[key] += 1
            if period and n % period == period // 3:
                with lock:
                    counter["503"] += 1
                start_response("503 Service Unavailable", [("Content-Type", "application/scim+json")])
                return [b'{"status":"503","detail":"injected"}']
            if period and n % period == (2 * period) // 3:
                with lock:
                    counter["429"] += 1
                start_response("429 Too Many Requests", [("Content-Type", "application/scim+json"), ("Retry-After", "1")])
                return [b'{"status":"429","detail":"injected"}']
            if method == "PATCH" and path.startswith("/v2/Users/"):
                with lock:
                    per_user_patch[path.rsplit("/", 1)[-1]] += 1
            return self.app(environ, start_response)

    with FaultyScim(token) as scim:
        ids = {}
        with scim._client() as c:
            for a in users:
                r = c.post("/Users", json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                                           "userName": a, "externalId": a, "active": True})
                r.raise_for_status()
                ids[a] = r.json()["id"]
        conn.send(("ready", scim.base_url))
        conn.recv()  # "stop"
        inactive = sum(1 for u in scim.storage.resources if getattr(u, "active", None) is False)
        writes = Counter(n for (kind, _), n in scim.writes.items() if kind == "User")
        conn.send({
            "requests": counter["n"], "injected_503": counter["503"], "injected_429": counter["429"],
            "users": len(ids), "users_inactive": inactive,
            "users_written": sum(1 for (kind, _), n in scim.writes.items() if kind == "User"),
            "writes_per_user_histogram": {str(k): v for k, v in sorted(writes.items())},
            "patch_requests_per_user_histogram": {str(k): v for k, v in sorted(Counter(per_user_patch.values()).items())},
            "requests_per_idempotency_key_histogram": {str(k): v for k, v in sorted(Counter(per_key.values()).items())},
            "idempotency_keys": len(per_key),
        })


# --------------------------------------------------------------------------- the night


def build_tickets_night(url: str, n: int) -> list[str]:
    """N leavers, one AD account each, in the publish table tickets read; set-based inserts."""
    sys.path.insert(0, str(REPO / "tests"))
    from fixtures.tickets import POLICY, build_night

    from vigil.store.warehouse import Warehouse

    build_night(url, D, [])  # the tables, the load ledger evidence; no rows yet
    accounts = [f"ad-bench{i:06d}" for i in range(n)]
    wh = Warehouse.open(url)
    with wh.transaction() as con:
        # One statement per table, generated in SQL: no Python loop over rows.
        con.execute(
            "INSERT INTO publish.pub_leaver_access_exposure "
            "SELECT 'AL-01:AD:ad-bench' || lpad(CAST(i AS VARCHAR), 6, '0'), 'E' || lpad(CAST(i AS VARCHAR), 7, '0'), "
            "'AD', 'ad-bench' || lpad(CAST(i AS VARCHAR), 6, '0'), DATE '2026-03-01', false, 'high', "
            "DATE '2026-03-02', TIMESTAMPTZ '2026-03-02 23:59:59+00', false, 0, 'P2', 0, 0, '', '', 'AL-01', %s, %s "
            "FROM generate_series(0, %s) AS g(i)", (POLICY, D, n - 1))
        con.execute(
            "INSERT INTO raw.iam__accounts (account_id, system, username, employee_id, status, is_privileged, "
            "disabled_at, _feed_date, _source_file, _source_sha256, _source_line, _loaded_at, _run_id) "
            "SELECT 'ad-bench' || lpad(CAST(i AS VARCHAR), 6, '0'), 'AD', 'u', NULL, 'enabled', false, NULL, %s, "
            "'iam/accounts.csv', 'x', i + 2, TIMESTAMPTZ '2026-03-02 01:00:00+00', 'load-run' "
            "FROM generate_series(0, %s) AS g(i)", (D, n - 1))
    return accounts


def run(n: int, fault_percent: float, engine: str, work: Path) -> dict:
    import yaml

    from vigil.actions.tickets import create_tickets, deliver_tickets
    from vigil.actions.tickets.delivery import outbox_counts

    token = f"bench-{uuid.uuid4().hex}"
    os.environ[TOKEN_ENV] = token
    if engine == "postgresql":
        import psycopg

        name = f"vigil_dbench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    else:
        name, url = None, str(work / "wh.duckdb")
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    try:
        t0 = time.perf_counter()
        accounts = build_tickets_night(url, n)
        proc = ctx.Process(target=_serve, args=(child, token, accounts, fault_percent), daemon=True)
        proc.start()
        _, base_url = parent.recv()
        setup = time.perf_counter() - t0
        cfg = work / "delivery.yml"
        cfg.write_text(yaml.safe_dump({"version": 1, "channels": {"iam_scim": {
            "type": "scim", "base_url": base_url, "token_env": TOKEN_ENV}}, "systems": {"AD": ["iam_scim"]}}))
        t0 = time.perf_counter()
        created = create_tickets(url, D, "bench-run", out=work / "out", config_path=cfg)
        create_s = time.perf_counter() - t0
        rounds, totals = [], Counter()
        t0 = time.perf_counter()
        while True:
            r = deliver_tickets(url, cfg, out=work / "out", run_id=f"bench-deliver-{len(rounds)}")
            rounds.append({k: r[k] for k in ("claimed", "delivered", "rescheduled", "requests", "elapsed_seconds")}
                          | {"dead_lettered": len(r["dead_lettered"])})
            for k in ("delivered", "rescheduled", "requests"):
                totals[k] += r[k]
            totals["dead_lettered"] += len(r["dead_lettered"])
            left = r["outbox"].get("pending", 0) + r["outbox"].get("sending", 0)
            if not left or len(rounds) > 50:
                break
            time.sleep(1)  # rescheduled rows are due after their backoff
        deliver_s = time.perf_counter() - t0
        parent.send("stop")
        server = parent.recv()
        proc.join(10)
        outbox = outbox_counts(url)
    finally:
        if name:
            import psycopg

            with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    writes = server["writes_per_user_histogram"]
    return {
        "tickets": n, "engine": engine, "fault_percent_each_503_and_429": fault_percent,
        "setup_seconds": round(setup, 2), "create_tickets_seconds": round(create_s, 2),
        "created": created["created"], "outbox_rows": created["outbox"],
        "deliver_seconds": round(deliver_s, 2), "tickets_per_second": round(n / deliver_s, 1),
        "deliver_rounds": rounds, "client_totals": dict(totals), "outbox_after": outbox, "server": server,
        "zero_duplicates": set(writes) == {"1"} and server["users_written"] == n,
        "all_disabled": server["users_inactive"] == n,
    }


def render_markdown(r: dict, machine: dict) -> str:
    s = r["server"]
    return "\n".join([
        f"### Ticket delivery: {r['tickets']:,} tickets to SCIM under faults ({r['engine']}) — {machine['date']}",
        "",
        f"Machine: {machine['cpu']}, {machine['cores']} cores, {machine['ram_gb']} GB RAM; load average at start "
        f"{', '.join(map(str, machine['load_average_at_start']))}. scim2-server in its own process on loopback; "
        f"{r['fault_percent_each_503_and_429']:g}% of requests answered 503 and {r['fault_percent_each_503_and_429']:g}% "
        f"429 + Retry-After: 1 ({s['injected_503']} and {s['injected_429']} injected).",
        "",
        f"- delivered {r['client_totals'].get('delivered', 0):,} in {r['deliver_seconds']:.1f} s "
        f"= **{r['tickets_per_second']:.0f} tickets/s** ({s['requests']:,} HTTP requests, "
        f"{len(r['deliver_rounds'])} `deliver_tickets` call(s), {r['client_totals'].get('dead_lettered', 0)} dead-lettered); "
        f"creating the tickets took {r['create_tickets_seconds']:.1f} s",
        f"- server's effective state: {s['users_inactive']:,} of {s['users']:,} users disabled; writes per user "
        f"{s['writes_per_user_histogram']} (every user written exactly once: "
        f"**{'yes' if r['zero_duplicates'] else 'NO'}**); PATCH requests per user {s['patch_requests_per_user_histogram']} "
        f"(a PATCH answered with an injected fault never reached the storage)",
        f"- requests per idempotency key: {s['requests_per_idempotency_key_histogram']} over {s['idempotency_keys']:,} keys "
        f"(lookups and the PATCH of one ticket share its key; retries reuse it)",
        "",
    ])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tickets", type=int, default=10_000)
    p.add_argument("--fault-percent", type=float, default=1.0, help="percent of requests answered 503, and as many 429")
    p.add_argument("--engine", choices=["duckdb", "postgresql"], default="duckdb")
    p.add_argument("--json", type=Path)
    p.add_argument("--markdown", type=Path, help="append the section here instead of docs/benchmarks.md")
    p.add_argument("--no-append", action="store_true")
    args = p.parse_args(argv)
    sys.path.insert(0, str(REPO / "benchmarks"))
    from nightly_bench import INTRO, machine

    m = machine()
    with tempfile.TemporaryDirectory(prefix="vigil-dbench-") as tmp:
        result = run(args.tickets, args.fault_percent, args.engine, Path(tmp))
    result["machine"] = m
    print(json.dumps(result, indent=2, default=str))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str) + "\n")
    if not args.no_append:
        path = args.markdown or DOCS
        if not path.exists():
            path.write_text(INTRO)
        with path.open("a", encoding="utf-8") as f:
            f.write("\n" + render_markdown(result, m))
    return 0 if result["zero_duplicates"] and result["all_disabled"] else 1


if __name__ == "__main__":
    sys.exit(main())
