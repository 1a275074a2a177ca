"""Case delivery on the delivery core: effectively once per (case_id, revision, channel).

The night's case documents are read from ``<out>/cases/<D>/cases.jsonl`` (one JSON object per
line; a malformed line stops everything with the file, line and column - the field - named, and
nothing is queued). Each new (case_id, revision) is stored in ``case_delivery.documents`` with
its canonical bytes, and one outbox row per channel the ``cases:`` section of the delivery
configuration routes it to (by ``owner_team``, else ``default``), in one transaction. The core then
sends what is due: signed webhooks in ServiceNow, Jira or standard shape, and file drops of
``cases.jsonl`` + ``manifest.json`` under ``<root>/cases/<D>/``. A rerun of the night queues
nothing new and sends nothing twice; a revision is a new delivery under a new idempotency key; a
revision whose content changed under the same number is refused, never sent.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from pathlib import Path

from vigil.actions.delivery.config import DeliveryConfig, drill_channels, load_delivery_config, team_slug
from vigil.actions.delivery.outbox import (
    Clock, DocumentKind, attempts_ddl, deliver_outbox, idempotency_key_for, insert, outbox_columns, outbox_ddl,
    outbox_id_for, rows, tables_of,
)
from vigil.actions.delivery.wire import canonical_json, sha256_hex
from vigil.config import Settings, is_drill_id
from vigil.store.ddl import needs_ddl
from vigil.store.warehouse import Warehouse

log = logging.getLogger(__name__)

SCHEMA = "case_delivery"
DOCUMENTS = f"{SCHEMA}.documents"
OUTBOX = f"{SCHEMA}.outbox"
ATTEMPTS = f"{SCHEMA}.delivery_attempts"
ROUTE = "cases"  # the file-drop {system}: cases get a folder of their own beside the tickets'

PRIORITIES = ("P1", "P2", "P3", "P4")
STATUSES = ("open", "acknowledged", "resolved_claimed", "closed_verified", "reopened")
CASE_ID = re.compile(r"^VCS-[0-9a-f]{32}$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?$")

DOCUMENT_COLUMNS = ("case_id", "revision", "owner_team", "priority", "due_by", "status", "run_date", "payload",
                    "payload_sha256", "created_at")
DDL = (
    f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}",
    f"""CREATE TABLE IF NOT EXISTS {DOCUMENTS} (
    case_id VARCHAR NOT NULL,
    revision INTEGER NOT NULL,
    owner_team VARCHAR NOT NULL,
    priority VARCHAR NOT NULL,
    due_by VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    run_date DATE NOT NULL,
    payload VARCHAR NOT NULL,
    payload_sha256 VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (case_id, revision)
)""",
    outbox_ddl(OUTBOX, "case_id", "route"),
    attempts_ddl(ATTEMPTS, "case_id"),
)
PG_INDEXES = (
    f"CREATE INDEX IF NOT EXISTS case_outbox__due ON {OUTBOX} (state, next_attempt_at)",
    f"CREATE INDEX IF NOT EXISTS case_outbox__case ON {OUTBOX} (case_id)",
)
OUTBOX_COLUMNS = outbox_columns("case_id", "route")


class CaseFileError(ValueError):
    """A cases.jsonl line that is not a case document: names the file, the line and the column."""

    def __init__(self, path: Path, line: int, column: str | int, message: str):
        self.path, self.line, self.column = Path(path), line, column
        super().__init__(f"{path}, line {line}, column {column}: {message}")


#: An owner team: a team name of the routing (``iam``, ``customer_service``) or, for a case owned by the
#: subject's business line, the department as HR names it (``Private Banking``).
TEAM_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.&-]{0,99}$")


def cases_path(out: Path, day: dt.date) -> Path:
    return Path(out) / "cases" / day.isoformat() / "cases.jsonl"


def ensure_case_tables(wh: Warehouse, con) -> None:
    """Create schema ``case_delivery`` and its tables (idempotent)."""
    if not needs_ddl(con, DOCUMENTS, OUTBOX, ATTEMPTS):
        return  # made by the migration: a least-privilege role runs no DDL
    for sql in DDL:
        con.execute(sql)
    if wh.is_postgres:
        for sql in PG_INDEXES:
            con.execute(sql)


# --------------------------------------------------------------------------- reading the night's file


def _check(path: Path, n: int, doc: dict) -> None:
    def bad(field: str, why: str):
        raise CaseFileError(path, n, repr(field), why)

    def text(field: str) -> str:
        value = doc.get(field)
        if not isinstance(value, str) or not value.strip():
            bad(field, "missing or not a non-empty string")
        return value

    if not CASE_ID.match(text("case_id")):
        bad("case_id", 'must be "VCS-" followed by 32 lowercase hex digits')
    revision = doc.get("revision")
    if isinstance(revision, bool) or not isinstance(revision, int) or revision < 1:
        bad("revision", f"must be a whole number >= 1, not {revision!r}")
    for field in ("kind", "subject_type", "subject_id", "created_at"):
        text(field)
    if not TEAM_NAME.match(text("owner_team")):
        bad("owner_team", "must start with a letter or digit and hold only letters, digits, spaces, '_', '.', "
                          "'-', '&' (at most 100)")
    if not DATE.match(text("opened_on")):
        bad("opened_on", "must be a date YYYY-MM-DD")
    due = text("due_by")
    if not (DATE.match(due) or TIMESTAMP.match(due)):
        bad("due_by", "must be a date YYYY-MM-DD or an ISO timestamp")
    if text("priority") not in PRIORITIES:
        bad("priority", f"must be one of {', '.join(PRIORITIES)}")
    if text("status") not in STATUSES:
        bad("status", f"must be one of {', '.join(STATUSES)}")
    items = doc.get("items")
    if not isinstance(items, list):
        bad("items", "must be a list of {item, owner_team, status}")
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not all(isinstance(item.get(k), str) and item.get(k)
                                                 for k in ("item", "owner_team", "status")):
            bad(f"items[{i}]", "must be an object with item, owner_team and status")


def read_cases(path: Path) -> list[dict]:
    """The case documents of one file, checked; one per (case_id, revision)."""
    path = Path(path)
    docs: dict[tuple[str, int], tuple[int, dict]] = {}
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                doc = json.loads(line.rstrip("\r\n"))  # columns count within this line
            except json.JSONDecodeError as exc:
                raise CaseFileError(path, n, exc.colno, f"not valid JSON ({exc.msg})") from None
            if not isinstance(doc, dict):
                raise CaseFileError(path, n, 1, "each line must be one JSON object (a case document)")
            _check(path, n, doc)
            key = (doc["case_id"], doc["revision"])
            if key in docs and canonical_json(docs[key][1]) != canonical_json(doc):
                raise CaseFileError(path, n, "'revision'", f"{doc['case_id']} revision {doc['revision']} differs "
                                                           f"from line {docs[key][0]}")
            docs.setdefault(key, (n, doc))
    return [d for _, d in sorted(docs.values(), key=lambda t: (t[1]["case_id"], t[1]["revision"]))]


# --------------------------------------------------------------------------- what a consumer receives

URGENCY = {"P1": "1", "P2": "2", "P3": "3", "P4": "3"}
IMPACT = {"P1": "1", "P2": "2", "P3": "2", "P4": "3"}
JIRA_PRIORITY = {"P1": "Highest", "P2": "High", "P3": "Medium", "P4": "Low"}


def _summary(doc: dict) -> str:
    return f"[{doc['priority']}] Compliance case {doc['kind']}: {doc['subject_type']} {doc['subject_id']}"


def _description(doc: dict) -> str:
    lines = [f"Case {doc['case_id']} revision {doc['revision']}, status {doc['status']}; opened on "
             f"{doc['opened_on']}, due by {doc['due_by']}; owner {doc['owner_team']}.", "", "Items:"]
    lines += [f"- {i['item']} ({i['owner_team']}): {i['status']}" for i in doc["items"]] or ["- none"]
    return "\n".join(lines)


def _due_datetime(due_by: str) -> str:
    """ServiceNow's "YYYY-MM-DD HH:MM:SS": a due date means the end of that day (UTC)."""
    if DATE.match(due_by):
        return f"{due_by} 23:59:59"
    return due_by.replace("T", " ").rstrip("Z")[:19]


def render_body(doc: dict, options: dict) -> bytes:
    """The webhook body of one case revision (``format`` of the channel: servicenow, jira, standard)."""
    fmt = options.get("format", "standard")
    if fmt == "servicenow":
        body = {
            "correlation_id": doc["case_id"],
            "short_description": _summary(doc),
            "description": _description(doc),
            "category": options.get("case_category", "Compliance"),
            "subcategory": doc["kind"],
            "urgency": URGENCY[doc["priority"]],
            "impact": IMPACT[doc["priority"]],
            "assignment_group": (options.get("assignment_groups") or {}).get(
                doc["owner_team"], options.get("assignment_group", doc["owner_team"])),
            "due_date": _due_datetime(doc["due_by"]),
            "u_vigil_revision": doc["revision"],
            "u_vigil_status": doc["status"],
            "u_vigil_case": doc,
        }
    elif fmt == "jira":
        body = {
            "fields": {
                "project": {"key": options.get("case_project", "CASE")},
                "issuetype": {"name": options.get("issue_type", "Task")},
                "summary": _summary(doc),
                "description": _description(doc),
                "priority": {"name": JIRA_PRIORITY[doc["priority"]]},
                "labels": ["vigil", "case", doc["kind"], team_slug(doc["owner_team"])],  # a Jira label has no spaces
                "duedate": doc["due_by"][:10],
            },
            "properties": [{"key": "vigil.case", "value": doc}],
        }
    else:
        event = "updated" if doc["revision"] > 1 else "created"
        body = {"type": f"vigil.case.{event}", "timestamp": doc["created_at"], "data": doc}
    return canonical_json(body).encode()


def render_jsonl(documents: list[dict]) -> str:
    return "".join(canonical_json(d) + "\n" for d in documents)


def _drop(channel, route: str, run_date: str, documents: list[dict]):
    docs = sorted(documents, key=lambda d: (d["case_id"], d["revision"]))
    jsonl = render_jsonl(docs).encode()
    manifest = {"generated_by": "vigil", "channel": channel.name, "system": route, "run_date": run_date,
                "cases": len(docs), "case_revisions": [[d["case_id"], d["revision"]] for d in docs]}
    return [("cases.jsonl", jsonl, len(docs))], manifest


def _documents(wh: Warehouse, con, case_ids: list[str]) -> dict[str, dict[str, dict]]:
    out: dict[str, dict[str, dict]] = {}
    ids = sorted(set(case_ids))
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        ph = ", ".join(["%s"] * len(chunk))
        for r in rows(wh, con, f"SELECT case_id, payload FROM {DOCUMENTS} WHERE case_id IN ({ph})", tuple(chunk)):
            out.setdefault(r["case_id"], {})[sha256_hex(r["payload"])] = json.loads(r["payload"])
    return out


CASE_KIND = DocumentKind(
    name="cases", schema=SCHEMA, id_column="case_id", route_column="route",
    claim_from=f"{OUTBOX} o JOIN {DOCUMENTS} d ON d.case_id = o.case_id AND d.payload_sha256 = o.payload_sha256",
    claim_order="d.priority, d.due_by, o.outbox_id",
    documents=_documents, render_webhook=render_body, drop=_drop,
)


# --------------------------------------------------------------------------- queue and send


def _queue(wh: Warehouse, docs: list[dict], config: DeliveryConfig | None, day: dt.date,
           now: dt.datetime) -> dict:
    """In one transaction: store new revisions, refuse changed ones, add the missing outbox rows."""
    new, unchanged, refused, unrouted, outbox_rows = 0, 0, [], [], []
    with wh.transaction() as con:
        ensure_case_tables(wh, con)
        stored: dict[tuple[str, int], str] = {}
        queued: set[str] = set()
        ids = sorted({d["case_id"] for d in docs})
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            ph = ", ".join(["%s"] * len(chunk))
            for r in rows(wh, con, f"SELECT case_id, revision, payload_sha256 FROM {DOCUMENTS} "
                                   f"WHERE case_id IN ({ph})", tuple(chunk)):
                stored[(r["case_id"], r["revision"])] = r["payload_sha256"]
            queued.update(r["outbox_id"] for r in rows(
                wh, con, f"SELECT outbox_id FROM {OUTBOX} WHERE case_id IN ({ph})", tuple(chunk)))
        doc_rows = []
        for doc in docs:
            payload = canonical_json(doc)
            sha = sha256_hex(payload)
            key = (doc["case_id"], doc["revision"])
            if key in stored and stored[key] != sha:
                refused.append({"case_id": doc["case_id"], "revision": doc["revision"],
                                "reason": "changed payload under the same revision"})
                continue
            if key in stored:
                unchanged += 1
            else:
                new += 1
                doc_rows.append((doc["case_id"], doc["revision"], doc["owner_team"], doc["priority"], doc["due_by"],
                                 doc["status"], day, payload, sha, now))
            if is_drill_id(doc["subject_id"]):  # a drill's case (docs/drills.md): drill channels or the dry-run sink only
                channels = drill_channels(config)
            else:
                channels = config.case_channels_for(team_slug(doc["owner_team"])) if config else []
            if not channels:
                unrouted.append(doc["case_id"])
            for ch in channels:  # a channel added to the config later still gets its rows
                obx = outbox_id_for(doc["case_id"], ch.name, doc["revision"])
                if obx not in queued:
                    queued.add(obx)
                    outbox_rows.append((obx, doc["case_id"], ch.type, ch.name, ROUTE, day, idempotency_key_for(obx),
                                        sha, now, "pending", 0, now, None, None))
        insert(con, DOCUMENTS, DOCUMENT_COLUMNS, doc_rows)
        insert(con, OUTBOX, OUTBOX_COLUMNS, outbox_rows)
    return {"new_revisions": new, "unchanged": unchanged, "refused": refused, "unrouted": unrouted,
            "queued": len(outbox_rows)}


def deliver_cases(settings: Settings, day: dt.date, *, now: dt.datetime | None = None,
                  run_id: str | None = None) -> dict:
    """Queue night `day`'s case documents and send everything due; safe to rerun at any time.

    Returns ``{"day", "file", "cases", "new_revisions", "unchanged", "queued", "refused": [...],
    "unrouted": [case_id], "delivered", "rescheduled", "dead_lettered": [case_id], "dead_letters":
    [...], "requests", "files_written", "outbox": {state: n}, "warnings": [...]}``. Without a
    cases file for the night nothing is queued (a warning says so); rows queued earlier are
    still sent. A malformed file raises CaseFileError before anything is queued.
    """
    now = now or dt.datetime.now(dt.timezone.utc)
    run_id = run_id or f"cases__{day.isoformat()}"
    path = cases_path(settings.out, day)
    warnings: list[str] = []
    docs = read_cases(path) if path.is_file() else []
    if not path.is_file():
        warnings.append(f"no case documents for {day.isoformat()} ({path} does not exist)")
    config = load_delivery_config(settings.delivery_config)
    wh = Warehouse.open(settings.warehouse_for("dispatcher"))  # least privilege on PostgreSQL
    queued = _queue(wh, docs, config, day, now)
    if queued["unrouted"]:
        why = "no delivery configuration" if config is None else "no cases: channel for their owner team"
        warnings.append(f"{len(set(queued['unrouted']))} case(s) recorded but not delivered: {why}")
    if queued["refused"]:
        warnings.append(f"{len(queued['refused'])} case revision(s) refused: their content changed under a "
                        f"revision already queued")
    if config is None and not _waiting(wh):  # (drills' rows for the dry-run sink are sent without one)
        sent = {"delivered": 0, "rescheduled": 0, "requests": 0, "files_written": 0, "dead_letters": [],
                "outbox": {}}
    else:
        sent = deliver_outbox(CASE_KIND, wh, config, out=Path(settings.out), run_id=run_id, clock=Clock(now))
    summary = {
        "day": day.isoformat(), "file": str(path) if path.is_file() else None, "cases": len(docs), **queued,
        "delivered": sent["delivered"], "rescheduled": sent["rescheduled"],
        "dead_lettered": sorted({d["doc_id"] for d in sent["dead_letters"]}), "dead_letters": sent["dead_letters"],
        "requests": sent["requests"], "files_written": sent["files_written"], "outbox": sent["outbox"],
        "warnings": warnings,
    }
    for w in warnings:
        log.warning("cases: %s", w)
    log.info("cases %s: %s read, %s new revisions, %s queued, %s delivered, %s dead-lettered", day, len(docs),
             queued["new_revisions"], queued["queued"], summary["delivered"], len(summary["dead_lettered"]))
    return summary


def _waiting(wh: Warehouse) -> bool:
    with wh.connection() as con:
        if "outbox" not in tables_of(wh, con, SCHEMA):
            return False
        return bool(wh.fetchall(con, f"SELECT count(*) FROM {OUTBOX} WHERE state IN ('pending', 'sending')")[0][0])


__all__ = ["CASE_KIND", "CaseFileError", "cases_path", "deliver_cases", "read_cases", "render_body"]
