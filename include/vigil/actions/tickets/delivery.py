"""Delivery of the outbox: at-least-once sending plus idempotency keys = effectively once.

``deliver_tickets`` may be called at any time, as often as wanted (its own DAG task and
``vigil deliver``). Each round:

1. **claim** a batch of due rows (state ``pending``, or ``sending`` whose lease expired - a
   crashed deliverer's rows) by setting ``state = 'sending'`` and ``next_attempt_at = now +
   lease``, in one short transaction (PostgreSQL: ``FOR UPDATE SKIP LOCKED``, so two deliverers
   never take the same row). P1 tickets first.
2. **send** them outside any transaction, in parallel, each with its channel: retries with
   exponential backoff and jitter, honouring ``Retry-After``, waiting inline up to
   ``max_inline_wait_seconds``; a longer wait puts the row back to ``pending`` with
   ``next_attempt_at`` set; ``max_attempts`` failures, or a permanent error (4xx), dead-letter it
   with the redacted response.
3. **record** in one transaction: one ``delivery_attempts`` row per HTTP call / file write, the
   outbox rows' new state, the tickets' status, and one audit event per ticket state change.

A crash between 2 and 3 leaves the rows ``sending``; once the lease expires they are sent again
with the same idempotency key (webhook-id; SCIM re-reads the resource first), so the target
applies the change once.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from vigil.store.audit import append_audit_events, ensure_audit_log
from vigil.config import ConfigError
from vigil.actions.tickets import model
from vigil.actions.tickets.channels.base import Call, DeliveryError, SendResult, redact
from vigil.actions.tickets.channels.filedrop import FileDropChannel
from vigil.actions.tickets.channels.scim import ScimChannel
from vigil.actions.tickets.channels.webhook import WebhookChannel
from vigil.actions.tickets.config import DeliveryConfig, Policy, load_delivery_config
from vigil.actions.tickets.store import (
    ATTEMPT_COLUMNS, ATTEMPTS, OUTBOX, REVISIONS, TICKETS, _audit_for, _insert, _rows, ensure_ticket_tables,
)
from vigil.store.warehouse import Warehouse

log = logging.getLogger(__name__)

CONFIRMING_CHANNELS = ("scim",)  # a 2xx from these means the change is applied -> acknowledged


def backoff_delay(attempt: int, policy: Policy, retry_after: float | None = None, rng=random.random) -> float:
    """Seconds before attempt `attempt + 1`: exponential (base * 2^(n-1), capped), equal jitter,
    and never sooner than the server's Retry-After."""
    ceiling = min(policy.backoff_max_seconds, policy.backoff_base_seconds * (2 ** max(0, attempt - 1)))
    delay = ceiling / 2 + rng() * ceiling / 2
    if retry_after is not None:
        delay = max(delay, float(retry_after))
    return delay


class _Clock:
    """Wall-clock UTC, or a given `now` advancing with real elapsed time (tests, replays)."""

    def __init__(self, now: dt.datetime | None):
        self.start = now
        self.t0 = time.monotonic()

    def __call__(self) -> dt.datetime:
        if self.start is None:
            return dt.datetime.now(dt.timezone.utc)
        return self.start + dt.timedelta(seconds=time.monotonic() - self.t0)


@dataclass
class _Row:
    outbox_id: str
    ticket_id: str
    channel: str
    target: str
    system: str
    run_date: dt.date
    idempotency_key: str
    payload_sha256: str
    attempts: int


@dataclass
class _Outcome:
    row: _Row
    state: str  # delivered | pending | dead_lettered
    attempts: int
    next_attempt_at: dt.datetime
    last_status: str | None
    last_error: str | None
    calls: list[tuple[int, Call]] = field(default_factory=list)  # (attempt_no, call)
    result: SendResult | None = None


def _claim(wh: Warehouse, clock: _Clock, policy: Policy, limit: int) -> list[_Row]:
    now = clock()
    lease_until = now + dt.timedelta(seconds=policy.lease_seconds)
    lock = " FOR UPDATE OF o SKIP LOCKED" if wh.is_postgres else ""
    with wh.transaction() as con:
        rows = _rows(
            wh, con,
            f"UPDATE {OUTBOX} SET state = 'sending', next_attempt_at = %s WHERE outbox_id IN ("
            f"SELECT o.outbox_id FROM {OUTBOX} o JOIN {TICKETS} t ON t.ticket_id = o.ticket_id "
            f"WHERE o.state IN ('pending', 'sending') AND o.next_attempt_at <= %s "
            f"ORDER BY t.priority, t.due_by, o.outbox_id LIMIT %s{lock}) "
            f"RETURNING outbox_id, ticket_id, channel, target, system, run_date, idempotency_key, payload_sha256, attempts",
            (lease_until, now, limit),
        )
    return sorted((_Row(**r) for r in rows), key=lambda r: r.outbox_id)


def _documents(wh: Warehouse, con, ticket_ids: list[str]) -> dict[str, dict[str, dict]]:
    """ticket_id -> {sha256 of a stored document: the document}: the ticket's first revision
    (tickets.tickets) and every later one (tickets.revisions). An outbox row names the revision
    it delivers by its payload_sha256; a hash found in neither was altered after it was queued."""
    out: dict[str, dict[str, dict]] = {}
    ids = sorted(set(ticket_ids))
    has_revisions = "revisions" in {t.split(".", 1)[1] for t in wh.list_tables(con, ("tickets",))}
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        ph = ", ".join(["%s"] * len(chunk))
        rows = _rows(wh, con, f"SELECT ticket_id, payload FROM {TICKETS} WHERE ticket_id IN ({ph})", tuple(chunk))
        if has_revisions:
            rows += _rows(wh, con, f"SELECT ticket_id, payload FROM {REVISIONS} WHERE ticket_id IN ({ph})", tuple(chunk))
        for r in rows:
            out.setdefault(r["ticket_id"], {})[model.sha256_hex(r["payload"])] = json.loads(r["payload"])
    return out


class _Deliverer:
    def __init__(self, wh: Warehouse, config: DeliveryConfig, out: Path, run_id: str, clock: _Clock):
        self.wh, self.config, self.out, self.run_id, self.clock = wh, config, Path(out), run_id, clock
        self.clients: dict[str, httpx.Client] = {}
        self.senders: dict[str, object] = {}

    def close(self) -> None:
        for c in self.clients.values():
            c.close()

    def sender(self, target: str):
        if target not in self.senders:
            ch = self.config.channels.get(target)
            if ch is None:
                self.senders[target] = None
            elif ch.type == "filedrop":
                self.senders[target] = FileDropChannel(ch, self.out)
            else:
                client = httpx.Client(timeout=ch.policy.timeout_seconds, follow_redirects=False,
                                      limits=httpx.Limits(max_connections=max(4, self.config.policy.concurrency)))
                self.clients[target] = client
                cls = ScimChannel if ch.type == "scim" else WebhookChannel
                self.senders[target] = cls(ch, client)
        return self.senders[target]

    def policy(self, target: str) -> Policy:
        ch = self.config.channels.get(target)
        return ch.policy if ch else self.config.policy

    # -- one HTTP row, with inline retries ---------------------------------------------------
    def deliver_http(self, row: _Row, doc: dict) -> _Outcome:
        policy = self.policy(row.target)
        sender = self.sender(row.target)
        attempts = row.attempts
        calls: list[tuple[int, Call]] = []
        while True:
            attempts += 1
            try:
                result = sender.send(doc, row.idempotency_key)
                calls += [(attempts, c) for c in result.calls]
                return _Outcome(row, "delivered", attempts, self.clock(), result.status, None, calls, result)
            except DeliveryError as exc:
                calls += [(attempts, c) for c in exc.calls]
                error = redact(str(exc))
                if not exc.retryable or attempts >= policy.max_attempts:
                    why = "permanent error" if not exc.retryable else f"{attempts} attempts"
                    return _Outcome(row, "dead_lettered", attempts, self.clock(), exc.status, f"{why}: {error}", calls)
                delay = backoff_delay(attempts, policy, exc.retry_after)
                if delay <= policy.max_inline_wait_seconds:
                    time.sleep(delay)
                    continue
                return _Outcome(row, "pending", attempts, self.clock() + dt.timedelta(seconds=delay), exc.status,
                                error, calls)
            except Exception as exc:  # a malformed answer: retry (bounded), keep the reason
                error = redact(f"{type(exc).__name__}: {exc}")
                calls.append((attempts, Call("unexpected response", dt.datetime.now(dt.timezone.utc), 0.0, None,
                                             "error", error)))
                if attempts >= policy.max_attempts:
                    return _Outcome(row, "dead_lettered", attempts, self.clock(), "error", f"{attempts} attempts: {error}",
                                    calls)
                delay = backoff_delay(attempts, policy)
                if delay <= policy.max_inline_wait_seconds:
                    time.sleep(delay)
                    continue
                return _Outcome(row, "pending", attempts, self.clock() + dt.timedelta(seconds=delay), "error", error,
                                calls)

    # -- a file drop: every row of one (target, system, night) at once -----------------------
    def deliver_files(self, rows: list[_Row], docs_of_group: list[dict]) -> list[_Outcome]:
        sender: FileDropChannel = self.sender(rows[0].target)
        policy = self.policy(rows[0].target)
        try:
            result, folder = sender.write(rows[0].system, rows[0].run_date.isoformat(), docs_of_group)
        except ConfigError as exc:  # a refused path never gets better by retrying
            call = Call("WRITE refused", dt.datetime.now(dt.timezone.utc), 0.0, None, "error", str(exc))
            return [_Outcome(r, "dead_lettered", r.attempts + 1, self.clock(), "refused", f"permanent error: {exc}",
                             [(r.attempts + 1, call)]) for r in rows]
        except OSError as exc:
            out = []
            for r in rows:
                n = r.attempts + 1
                call = Call("WRITE files", dt.datetime.now(dt.timezone.utc), 0.0, None, "error", redact(str(exc)))
                if n >= policy.max_attempts:
                    out.append(_Outcome(r, "dead_lettered", n, self.clock(), "io_error", f"{n} attempts: {exc}", [(n, call)]))
                else:
                    out.append(_Outcome(r, "pending", n, self.clock() + dt.timedelta(seconds=backoff_delay(n, policy)),
                                        "io_error", redact(str(exc)), [(n, call)]))
            return out
        return [_Outcome(r, "delivered", r.attempts + 1, self.clock(), "file", None,
                         [(r.attempts + 1, c) for c in result.calls], result) for r in rows]

    # -- recording ----------------------------------------------------------------------------
    def record(self, outcomes: list[_Outcome]) -> dict:
        return _record_batch(self.wh, outcomes, self.run_id, self.clock())


def _record_batch(wh: Warehouse, outcomes: list[_Outcome], run_id: str, now: dt.datetime) -> dict:
    """One transaction: attempts, outbox states, ticket statuses and their audit events."""
    attempt_rows = []
    for o in outcomes:
        for call_no, (attempt_no, c) in enumerate(o.calls, start=1):
            attempt_rows.append((
                str(uuid.uuid4()), o.row.outbox_id, o.row.ticket_id, o.row.channel, o.row.target, attempt_no, call_no,
                c.request, o.row.idempotency_key, c.http_status, c.outcome, c.error, c.started_at,
                round(c.duration_ms, 3), run_id,
            ))
    newly_dead: list[dict] = []
    transitions = {"sent": 0, "acknowledged": 0, "dead_lettered": 0}
    with wh.transaction() as con:
        _insert(con, ATTEMPTS, ATTEMPT_COLUMNS, attempt_rows)
        for i in range(0, len(outcomes), 200):
            part = outcomes[i:i + 200]
            values = ", ".join(["(CAST(%s AS VARCHAR), CAST(%s AS VARCHAR), CAST(%s AS INTEGER), "
                                "CAST(%s AS TIMESTAMPTZ), CAST(%s AS VARCHAR), CAST(%s AS VARCHAR))"] * len(part))
            con.execute(
                f"UPDATE {OUTBOX} AS o SET state = v.state, attempts = v.attempts, next_attempt_at = v.next_at, "
                f"last_status = v.last_status, last_error = v.last_error "
                f"FROM (VALUES {values}) AS v(outbox_id, state, attempts, next_at, last_status, last_error) "
                f"WHERE o.outbox_id = v.outbox_id",
                tuple(x for o in part for x in (o.row.outbox_id, o.state, o.attempts, o.next_attempt_at,
                                                 o.last_status, o.last_error)),
            )
        ticket_ids = sorted({o.row.ticket_id for o in outcomes})
        events = []
        for i in range(0, len(ticket_ids), 500):
            chunk = ticket_ids[i:i + 500]
            ph = ", ".join(["%s"] * len(chunk))
            tickets = {r["ticket_id"]: r for r in _rows(
                wh, con, f"SELECT ticket_id, status, payload FROM {TICKETS} WHERE ticket_id IN ({ph})", tuple(chunk))}
            rows_of: dict[str, list[dict]] = {}
            for r in _rows(wh, con, f"SELECT ticket_id, channel, target, state, last_status, last_error FROM {OUTBOX} "
                                    f"WHERE ticket_id IN ({ph}) ORDER BY outbox_id", tuple(chunk)):
                rows_of.setdefault(r["ticket_id"], []).append(r)
            updates: list[tuple[str, str]] = []
            for tid in chunk:
                t, rows = tickets[tid], rows_of.get(tid, [])
                current = t["status"]
                if current in ("closed", "dead_lettered") or not rows:
                    continue
                doc = json.loads(t["payload"])
                dead = [r for r in rows if r["state"] == "dead_lettered"]
                if dead:
                    updates.append((tid, "dead_lettered"))
                    d = dead[0]
                    events.append(_audit_for(doc, "dead_lettered", outcome=d["last_status"], run_id=run_id,
                                             occurred_at=now, event_id=f"{tid}:dead_lettered",
                                             details={"target": d["target"], "channel": d["channel"],
                                                      "error": d["last_error"]}))
                    newly_dead.append({"ticket_id": tid, "system": doc["system"], "employee_id": doc["employee_id"],
                                       "target": d["target"], "status": d["last_status"], "error": d["last_error"]})
                    transitions["dead_lettered"] += 1
                    continue
                if not all(r["state"] == "delivered" for r in rows):
                    continue
                target = "acknowledged" if all(r["channel"] in CONFIRMING_CHANNELS for r in rows) else "sent"
                outcome = ",".join(r["last_status"] or "" for r in rows)
                details = {"targets": [r["target"] for r in rows]}
                if current == "created":
                    events.append(_audit_for(doc, "sent", outcome=outcome, run_id=run_id, occurred_at=now,
                                             event_id=f"{tid}:sent", details=details))
                    transitions["sent"] += 1
                if target == "acknowledged" and current in ("created", "sent"):
                    events.append(_audit_for(doc, "acknowledged", outcome=outcome, run_id=run_id, occurred_at=now,
                                             event_id=f"{tid}:acknowledged", details=dict(details, by="target")))
                    transitions["acknowledged"] += 1
                if target != current and not (current == "acknowledged"):
                    updates.append((tid, target))
            for tid, status in updates:
                con.execute(f"UPDATE {TICKETS} SET status = %s, status_at = %s WHERE ticket_id = %s",
                            (status, now, tid))
        append_audit_events(wh, con, events)
    return {"dead": newly_dead, **transitions}


def _pending_targets(wh: Warehouse) -> list[str]:
    with wh.connection() as con:
        return [r[0] for r in wh.fetchall(
            con, f"SELECT DISTINCT target FROM {OUTBOX} WHERE state IN ('pending', 'sending') ORDER BY 1")]


def outbox_counts(warehouse_url: str) -> dict[str, int]:
    wh = Warehouse.open(warehouse_url)
    with wh.connection() as con:
        if "outbox" not in {t.split(".", 1)[1] for t in wh.list_tables(con, ("tickets",))}:
            return {}
        return {r[0]: r[1] for r in wh.fetchall(con, f"SELECT state, count(*) FROM {OUTBOX} GROUP BY state ORDER BY 1")}


def deliver_tickets(warehouse_url: str, config_path: Path | None, *, out: Path, run_id: str,
                    now: dt.datetime | None = None) -> dict:
    """Send every due outbox row; safe to call again at any time (resumes after a crash).

    Returns counts (``claimed``, ``delivered``, ``rescheduled``, ``requests``, ``files_written``,
    ticket transitions ``sent``/``acknowledged``), ``dead_lettered`` (ticket ids: alert on these),
    ``dead_letters`` (their target, status and redacted error) and ``outbox`` (rows per state after).
    ``now`` replaces the wall clock as the start time (it advances with real time).
    """
    started = time.perf_counter()
    clock = _Clock(now)
    wh = Warehouse.open(warehouse_url)
    with wh.transaction() as con:
        ensure_ticket_tables(wh, con)
        ensure_audit_log(wh, con)
    config = load_delivery_config(config_path)
    result = {"run_id": run_id, "claimed": 0, "delivered": 0, "rescheduled": 0, "requests": 0, "files_written": 0,
              "sent": 0, "acknowledged": 0, "dead_lettered": [], "dead_letters": [], "by_target": {}}
    targets = _pending_targets(wh)
    if config is None:
        if targets:
            raise ConfigError("outbox rows are waiting but no delivery configuration is set "
                              "(--delivery-config or VIGIL_DELIVERY_CONFIG)")
        result["outbox"] = outbox_counts(warehouse_url)
        return result
    deliverer = _Deliverer(wh, config, Path(out), run_id, clock)
    try:
        for t in targets:  # resolve every secret before anything is claimed or sent
            deliverer.sender(t)
        with ThreadPoolExecutor(max_workers=config.policy.concurrency) as pool:
            while True:
                batch = _claim(wh, clock, config.policy, config.policy.batch_size)
                if not batch:
                    break
                result["claimed"] += len(batch)
                with wh.connection() as con:
                    docs = _documents(wh, con, [r.ticket_id for r in batch])
                outcomes: list[_Outcome] = []
                http_rows, file_groups = [], {}
                for r in batch:
                    doc = docs.get(r.ticket_id, {}).get(r.payload_sha256)
                    if deliverer.sender(r.target) is None:
                        outcomes.append(_Outcome(r, "dead_lettered", r.attempts, clock(), "unconfigured",
                                                 f"permanent error: channel {r.target!r} is not in the delivery config"))
                    elif doc is None:
                        outcomes.append(_Outcome(r, "dead_lettered", r.attempts, clock(), "refused",
                                                 "permanent error: the ticket's payload changed after it was queued"))
                    elif r.channel == "filedrop":
                        file_groups.setdefault((r.target, r.system, r.run_date), []).append(r)
                    else:
                        http_rows.append((r, doc))
                futures = [pool.submit(deliverer.deliver_http, r, doc) for r, doc in http_rows]
                for (target, system, run_date), rows in sorted(file_groups.items()):
                    written = deliverer.deliver_files(rows, _group_documents(wh, target, system, run_date))
                    result["files_written"] += sum(1 for _, c in written[0].calls if c.outcome == "written")
                    outcomes += written
                outcomes += [f.result() for f in futures]
                recorded = deliverer.record(outcomes)
                for o in outcomes:
                    by = result["by_target"].setdefault(o.row.target, {"delivered": 0, "rescheduled": 0, "dead": 0})
                    if o.state == "delivered":
                        result["delivered"] += 1
                        by["delivered"] += 1
                    elif o.state == "pending":
                        result["rescheduled"] += 1
                        by["rescheduled"] += 1
                    else:
                        by["dead"] += 1
                    result["requests"] += sum(1 for _, c in o.calls if not c.request.startswith("WRITE"))
                result["sent"] += recorded["sent"]
                result["acknowledged"] += recorded["acknowledged"]
                result["dead_letters"] += recorded["dead"]
                result["dead_lettered"] += [d["ticket_id"] for d in recorded["dead"]]
    finally:
        deliverer.close()
    result["outbox"] = outbox_counts(warehouse_url)
    result["elapsed_seconds"] = round(time.perf_counter() - started, 3)
    log.info("deliver: %s claimed, %s delivered, %s rescheduled, %s dead-lettered, %s requests in %.1fs",
             result["claimed"], result["delivered"], result["rescheduled"], len(result["dead_lettered"]),
             result["requests"], result["elapsed_seconds"])
    return result


def _group_documents(wh: Warehouse, target: str, system: str, run_date: dt.date) -> list[dict]:
    """Every ticket of one file drop (all outbox rows of the target, system and night, any state),
    each as the revision its outbox row delivers (a revised ticket: its new document)."""
    with wh.connection() as con:
        rows = _rows(wh, con, f"SELECT o.ticket_id, o.payload_sha256 FROM {OUTBOX} o "
                              f"WHERE o.target = %s AND o.system = %s AND o.run_date = %s AND o.state <> 'dead_lettered' "
                              f"ORDER BY o.ticket_id", (target, system, run_date))
        docs = _documents(wh, con, [r["ticket_id"] for r in rows])
    return [docs[r["ticket_id"]][r["payload_sha256"]] for r in rows
            if r["payload_sha256"] in docs.get(r["ticket_id"], {})]
