"""The night's new and changed cases, for the bank's ITSM: ``<out>/cases/<D>/cases.jsonl``.

After publish, ``write_cases`` reads ``publish.pub_cases`` and ``publish.pub_case_items`` of run date
D and writes one JSON document per line (docs/cases.schema.json) for every case whose state differs
from the last revision written: a new case is revision 1, and each change of owner, due date,
priority, status or items adds one. The first night (go-live) therefore writes every open case.

``audit.cases_written`` records each revision once (append-only: INSERT ... ON CONFLICT DO
NOTHING), with the night that wrote it and when: a rerun of the night writes the same file again,
byte for byte, and a later night writes only what changed since. A backfilled night earlier than a
case's latest revision writes nothing for that case (``superseded``): the ITSM already holds the later
state, and revision numbers only ever grow with the nights. Closed cases are written once,
with their verified closure; a case closed before it was ever written is not written at all.
No PII: ids, teams, dates and policy terms only (the subject is a pseudonymous id).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from pathlib import Path

from vigil.store.ddl import needs_ddl
from vigil.store.warehouse import Warehouse

log = logging.getLogger(__name__)

SCHEMA_VERSION = "vigil.case/1"
AUDIT_SCHEMA = "audit"
CASES_WRITTEN = f"{AUDIT_SCHEMA}.cases_written"
LEDGER_DDL = (
    f"CREATE SCHEMA IF NOT EXISTS {AUDIT_SCHEMA}",
    f"""CREATE TABLE IF NOT EXISTS {CASES_WRITTEN} (
        case_id VARCHAR NOT NULL,
        revision INTEGER NOT NULL,
        fingerprint VARCHAR NOT NULL,
        run_date DATE NOT NULL,
        run_id VARCHAR NOT NULL,
        written_at TIMESTAMPTZ NOT NULL,
        document VARCHAR NOT NULL,
        PRIMARY KEY (case_id, revision)
    )""",
)
#: The fields of a case whose change makes a new revision (the rest is identity or bookkeeping).
STATE_FIELDS = ("owner_team", "due_by", "priority", "status", "items")


def ensure_cases_ledger(con) -> None:
    if not needs_ddl(con, CASES_WRITTEN):
        return  # made by vigil.store.roles: a least-privilege role runs no DDL
    for sql in LEDGER_DDL:
        con.execute(sql)


def cases_path(out: Path, run_date: dt.date) -> Path:
    return Path(out) / "cases" / run_date.isoformat() / "cases.jsonl"


def _iso(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")
    return value.isoformat() if isinstance(value, dt.date) else str(value)


def _select(wh: Warehouse, con, sql: str, params=()) -> list[dict]:
    raw = getattr(con, "raw", None)
    if raw is not None:  # DuckDB
        raw.execute(sql.replace("%s", "?"), list(params))
        names = [c[0] for c in raw.description]
        return [dict(zip(names, r)) for r in raw.fetchall()]
    cur = con.execute(sql, params)
    names = [c.name for c in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def case_documents(wh: Warehouse, con, run_date: dt.date) -> dict[str, dict]:
    """case_id -> the case as published for run_date (without revision and created_at)."""
    items: dict[str, list[dict]] = {}
    for r in _select(wh, con, "SELECT case_id, item, owner_team, status FROM publish.pub_case_items "
                              "WHERE as_of_date = %s ORDER BY case_id, item", (run_date,)):
        items.setdefault(r["case_id"], []).append({"item": r["item"], "owner_team": r["owner_team"],
                                                   "status": r["status"]})
    docs = {}
    for r in _select(wh, con, "SELECT * FROM publish.pub_cases WHERE as_of_date = %s ORDER BY case_id", (run_date,)):
        docs[r["case_id"]] = {
            "schema": SCHEMA_VERSION,
            "case_id": r["case_id"],
            "kind": r["kind"],
            "subject_type": r["subject_type"],
            "subject_id": r["subject_id"],
            "owner_team": r["owner_team"],
            "opened_on": _iso(r["opened_on"]),
            "due_by": _iso(r["due_by"]),
            "priority": r["priority"],
            "status": r["status"],
            "acknowledged_at": _iso(r["acknowledged_at"]),
            "closed_at": _iso(r["closed_at"]),
            "verified_by": r["verified_by"],
            "items": items.get(r["case_id"], []),
            "policy_version": r["policy_version"],
            "run_date": run_date.isoformat(),
        }
    return docs


def fingerprint(doc: dict) -> str:
    state = {k: doc[k] for k in STATE_FIELDS}
    return hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()


def write_cases(warehouse_url: str, run_date: dt.date, run_id: str, *, out: Path,
                now: dt.datetime | None = None) -> dict:
    """Record and write tonight's new and changed cases; returns counts for the run summary."""
    now = now or dt.datetime.now(dt.timezone.utc)
    wh = Warehouse.open(warehouse_url)
    with wh.transaction() as con:
        ensure_cases_ledger(con)
        if "publish.pub_cases" not in set(wh.list_tables(con, ("publish",))):
            return {"date": run_date.isoformat(), "written": 0, "new": 0, "changed": 0, "superseded": 0,
                    "warnings": ["cases: publish.pub_cases not published yet; no cases written"]}
        docs = case_documents(wh, con, run_date)
        latest: dict[str, dict] = {}
        for r in _select(wh, con, f"SELECT case_id, revision, fingerprint, run_date FROM {CASES_WRITTEN} "
                                  f"ORDER BY case_id, revision"):
            latest[r["case_id"]] = r  # ordered by revision: the last one wins
        rows, new, changed, superseded = [], 0, 0, 0
        for case_id, doc in docs.items():
            fp, last = fingerprint(doc), latest.get(case_id)
            if last is not None and last["run_date"] > run_date:
                # a backfill of an earlier night: the ITSM already holds a later night's state, so an
                # older one is not sent (and the next revision number belongs to the later nights)
                superseded += 1
                continue
            if last is not None and last["fingerprint"] == fp:
                continue
            if last is None and doc["status"] == "closed_verified":
                continue  # never sent while open: nothing to tell the ITSM
            revision = 1 if last is None else last["revision"] + 1
            new += last is None
            changed += last is not None
            document = {**doc, "revision": revision, "created_at": _iso(now)}
            rows.append((case_id, revision, fp, run_date, run_id, now, json.dumps(document, sort_keys=True)))
        for i in range(0, len(rows), 100):
            chunk = rows[i:i + 100]
            con.execute(f"INSERT INTO {CASES_WRITTEN} (case_id, revision, fingerprint, run_date, run_id, written_at, "
                        f"document) VALUES " + ", ".join(["(%s, %s, %s, %s, %s, %s, %s)"] * len(chunk))
                        + " ON CONFLICT DO NOTHING", tuple(v for r in chunk for v in r))
        # the file is every revision this night wrote (a rerun rewrites the same file)
        night = [r["document"] for r in _select(
            wh, con, f"SELECT document FROM {CASES_WRITTEN} WHERE run_date = %s ORDER BY case_id, revision",
            (run_date,))]
    path = cases_path(Path(out), run_date)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".jsonl.tmp")
    tmp.write_text("".join(d + "\n" for d in night), encoding="utf-8")
    tmp.replace(path)
    log.info("cases: %d written for %s (%d new, %d changed) -> %s", len(night), run_date, new, changed, path)
    return {"date": run_date.isoformat(), "written": len(night), "new": new, "changed": changed,
            "superseded": superseded, "path": str(path), "warnings": []}
