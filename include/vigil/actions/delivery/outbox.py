"""The outbox: at-least-once sending plus idempotency keys = effectively once, for any document kind.

A document kind (tickets, cases) keeps, in its own schema, one ``outbox`` row per (document
revision, channel), written in the same transaction as the document, and an append-only
``delivery_attempts`` table. :func:`deliver_outbox` may run at any time, as often as wanted. Each round:

1. **claim** a batch of due rows (state ``pending``, or ``sending`` whose lease expired - a
   crashed deliverer's rows) by setting ``state = 'sending'`` and ``next_attempt_at = now +
   lease``, in one short transaction (PostgreSQL: ``FOR UPDATE SKIP LOCKED``, so two deliverers
   never take the same row), in the kind's order (most urgent first).
2. **send** them outside any transaction, in parallel, each with its channel, retrying inline
   (vigil.actions.delivery.retry); a longer wait puts the row back to ``pending`` with
   ``next_attempt_at`` set; ``max_attempts`` failures, or a permanent error, **dead-letter** it
   with the redacted response. File drops write every row of one (target, route, night) at once.
3. **record** in one transaction: one ``delivery_attempts`` row per HTTP call / file write, the
   outbox rows' new state, and whatever the kind records with them (ticket statuses, audit events).

A crash between 2 and 3 leaves the rows ``sending``; once the lease expires they are sent again
with the same idempotency key (``webhook-id``), so the target applies the change once.

A kind plugs in with a :class:`DocumentKind`: its table and column names, how to read a stored
document by its payload hash, its webhook body, its file-drop files, and its record hook.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import httpx

from vigil.actions.delivery.config import DRY_RUN_SINK, Channel, DeliveryConfig, Policy
from vigil.actions.delivery.files import write_drop
from vigil.actions.delivery.http import Call, SendResult, redact
from vigil.actions.delivery.retry import attempt_with_retries, backoff_delay
from vigil.actions.delivery.signing import SignedWebhookChannel
from vigil.actions.delivery.wire import sha256_hex
from vigil.config import ConfigError
from vigil.store.warehouse import Warehouse

log = logging.getLogger(__name__)

OUTBOX_STATES = ("pending", "sending", "delivered", "dead_lettered")


def outbox_ddl(table: str, id_column: str, route_column: str) -> str:
    return f"""CREATE TABLE IF NOT EXISTS {table} (
    outbox_id VARCHAR PRIMARY KEY,
    {id_column} VARCHAR NOT NULL,
    channel VARCHAR NOT NULL,
    target VARCHAR NOT NULL,
    {route_column} VARCHAR NOT NULL,
    run_date DATE NOT NULL,
    idempotency_key VARCHAR NOT NULL,
    payload_sha256 VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    state VARCHAR NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    last_status VARCHAR,
    last_error VARCHAR
)"""


def attempts_ddl(table: str, id_column: str) -> str:
    return f"""CREATE TABLE IF NOT EXISTS {table} (
    attempt_id VARCHAR PRIMARY KEY,
    outbox_id VARCHAR NOT NULL,
    {id_column} VARCHAR NOT NULL,
    channel VARCHAR NOT NULL,
    target VARCHAR NOT NULL,
    attempt_no INTEGER NOT NULL,
    call_no INTEGER NOT NULL,
    request VARCHAR NOT NULL,
    idempotency_key VARCHAR NOT NULL,
    http_status INTEGER,
    outcome VARCHAR NOT NULL,
    error VARCHAR,
    started_at TIMESTAMPTZ NOT NULL,
    duration_ms DOUBLE PRECISION,
    run_id VARCHAR NOT NULL
)"""


def outbox_columns(id_column: str, route_column: str) -> tuple[str, ...]:
    return ("outbox_id", id_column, "channel", "target", route_column, "run_date", "idempotency_key",
            "payload_sha256", "created_at", "state", "attempts", "next_attempt_at", "last_status", "last_error")


def attempt_columns(id_column: str) -> tuple[str, ...]:
    return ("attempt_id", "outbox_id", id_column, "channel", "target", "attempt_no", "call_no", "request",
            "idempotency_key", "http_status", "outcome", "error", "started_at", "duration_ms", "run_id")


def outbox_id_for(doc_id: str, target: str, revision: int = 1) -> str:
    """Fixed per (document, channel, revision): the same on every attempt and every rerun; a revision
    is a new delivery (a new idempotency key), its re-send is not."""
    key = f"{doc_id}|{target}" if revision == 1 else f"{doc_id}|{target}|r{revision}"
    return "obx-" + sha256_hex(key)[:32]


def idempotency_key_for(outbox_id: str) -> str:
    """The ``webhook-id`` / ``Idempotency-Key`` of an outbox row: the same on every attempt."""
    return "msg_" + outbox_id[4:]


# --------------------------------------------------------------------------- SQL helpers


def rows(wh: Warehouse, con, sql: str, params=()) -> list[dict]:
    """Rows as dicts, on either engine (``%s`` placeholders): the warehouse's own reader."""
    return wh.rows(con, sql, params)


def insert(con, table: str, columns: tuple[str, ...], values: list[tuple], chunk: int = 200) -> None:
    placeholders = "(" + ", ".join(["%s"] * len(columns)) + ")"
    for i in range(0, len(values), chunk):
        part = values[i:i + chunk]
        con.execute(f"INSERT INTO {table} ({', '.join(columns)}) VALUES " + ", ".join([placeholders] * len(part)),
                    tuple(v for r in part for v in r))


def tables_of(wh: Warehouse, con, schema: str) -> set[str]:
    return {t.split(".", 1)[1] for t in wh.list_tables(con, (schema,))}


# --------------------------------------------------------------------------- the kind adapter


@dataclass
class Row:
    outbox_id: str
    doc_id: str
    channel: str
    target: str
    route: str
    run_date: dt.date
    idempotency_key: str
    payload_sha256: str
    attempts: int


@dataclass
class Outcome:
    row: Row
    state: str  # delivered | pending | dead_lettered
    attempts: int
    next_attempt_at: dt.datetime
    last_status: str | None
    last_error: str | None
    calls: list[tuple[int, Call]] = field(default_factory=list)  # (attempt_no, call)
    result: SendResult | None = None


@dataclass(frozen=True)
class DocumentKind:
    """What the outbox needs to know about one kind of document (see the module docstring).

    ``documents(wh, con, ids)`` -> {doc_id: {sha256 of a stored payload: the document}}: an outbox
    row names the revision it delivers by its payload_sha256; a hash not found was altered after it
    was queued and is refused. ``drop(channel, route, run_date, docs)`` -> (files, manifest) for
    :func:`vigil.actions.delivery.files.write_drop`. ``record(wh, outcomes, run_id, now)`` records
    a batch (default :func:`record_batch`, whose ``after_record`` hook adds the kind's own rows
    inside the same transaction and returns {"dead": [...], counter: n, ...}).
    """

    name: str
    schema: str
    id_column: str
    route_column: str
    claim_from: str  # FROM clause with alias o for the outbox (may join the documents)
    claim_order: str  # ORDER BY of the claim: most urgent first
    documents: Callable
    render_webhook: Callable[[dict, dict], bytes]
    drop: Callable
    after_record: Callable | None = None
    channel_factory: Callable | None = None  # (channel, client) -> sender for non-webhook HTTP types
    counters: tuple[str, ...] = ()
    record: Callable | None = None

    @property
    def outbox(self) -> str:
        return f"{self.schema}.outbox"

    @property
    def attempts(self) -> str:
        return f"{self.schema}.delivery_attempts"


class Clock:
    """Wall-clock UTC, or a given `now` advancing with real elapsed time (tests, replays)."""

    def __init__(self, now: dt.datetime | None):
        self.start = now
        self.t0 = time.monotonic()

    def __call__(self) -> dt.datetime:
        if self.start is None:
            return dt.datetime.now(dt.timezone.utc)
        return self.start + dt.timedelta(seconds=time.monotonic() - self.t0)


# --------------------------------------------------------------------------- claim, send, record


def claim(kind: DocumentKind, wh: Warehouse, clock: Clock, policy: Policy, limit: int) -> list[Row]:
    now = clock()
    lease_until = now + dt.timedelta(seconds=policy.lease_seconds)
    lock = " FOR UPDATE OF o SKIP LOCKED" if wh.is_postgres else ""
    with wh.transaction() as con:
        claimed = rows(
            wh, con,
            f"UPDATE {kind.outbox} SET state = 'sending', next_attempt_at = %s WHERE outbox_id IN ("
            f"SELECT o.outbox_id FROM {kind.claim_from} "
            f"WHERE o.state IN ('pending', 'sending') AND o.next_attempt_at <= %s "
            f"ORDER BY {kind.claim_order} LIMIT %s{lock}) "
            f"RETURNING outbox_id, {kind.id_column}, channel, target, {kind.route_column}, run_date, idempotency_key, "
            f"payload_sha256, attempts",
            (lease_until, now, limit),
        )
    out = [Row(r["outbox_id"], r[kind.id_column], r["channel"], r["target"], r[kind.route_column], r["run_date"],
               r["idempotency_key"], r["payload_sha256"], r["attempts"]) for r in claimed]
    return sorted(out, key=lambda r: r.outbox_id)


class Deliverer:
    def __init__(self, kind: DocumentKind, wh: Warehouse, config: DeliveryConfig, out: Path, run_id: str,
                 clock: Clock):
        self.kind, self.wh, self.config, self.out, self.run_id, self.clock = kind, wh, config, Path(out), run_id, clock
        self.clients: dict[str, httpx.Client] = {}
        self.senders: dict[str, object] = {}

    def close(self) -> None:
        for c in self.clients.values():
            c.close()

    def sender(self, target: str):
        if target not in self.senders:
            ch: Channel | None = self.config.channels.get(target)
            if ch is None:
                self.senders[target] = None
            elif ch.type == "filedrop":
                self.senders[target] = ch
            else:
                client = httpx.Client(timeout=ch.policy.timeout_seconds, follow_redirects=False,
                                      limits=httpx.Limits(max_connections=max(4, self.config.policy.concurrency)))
                self.clients[target] = client
                if ch.type == "webhook":
                    self.senders[target] = SignedWebhookChannel(ch, client, self.kind.render_webhook)
                elif self.kind.channel_factory is not None:
                    self.senders[target] = self.kind.channel_factory(ch, client)
                else:
                    raise ConfigError(f"channel {ch.name}: {self.kind.name} cannot be delivered over {ch.type}")
        return self.senders[target]

    def policy(self, target: str) -> Policy:
        ch = self.config.channels.get(target)
        return ch.policy if ch else self.config.policy

    def deliver_http(self, row: Row, doc: dict) -> Outcome:
        sender = self.sender(row.target)
        done = attempt_with_retries(lambda: sender.send(doc, row.idempotency_key), self.policy(row.target),
                                    attempts_before=row.attempts)
        when = self.clock() + dt.timedelta(seconds=done.retry_in) if done.state == "pending" else self.clock()
        return Outcome(row, done.state, done.attempts, when, done.status, done.error, done.calls, done.result)

    def deliver_files(self, rows_: list[Row], docs_of_group: list[dict]) -> list[Outcome]:
        """Every row of one (target, route, night) at once: one folder of files and its manifest."""
        channel: Channel = self.sender(rows_[0].target)
        policy = self.policy(rows_[0].target)
        try:
            folder = channel.drop_dir(self.out, rows_[0].route, rows_[0].run_date.isoformat())
            files, manifest = self.kind.drop(channel, rows_[0].route, rows_[0].run_date.isoformat(), docs_of_group)
            result, _ = write_drop(folder, files, manifest)
        except ConfigError as exc:  # a refused path never gets better by retrying
            call = Call("WRITE refused", dt.datetime.now(dt.timezone.utc), 0.0, None, "error", str(exc))
            return [Outcome(r, "dead_lettered", r.attempts + 1, self.clock(), "refused", f"permanent error: {exc}",
                            [(r.attempts + 1, call)]) for r in rows_]
        except OSError as exc:
            out = []
            for r in rows_:
                n = r.attempts + 1
                call = Call("WRITE files", dt.datetime.now(dt.timezone.utc), 0.0, None, "error", redact(str(exc)))
                if n >= policy.max_attempts:
                    out.append(Outcome(r, "dead_lettered", n, self.clock(), "io_error", f"{n} attempts: {exc}",
                                       [(n, call)]))
                else:
                    out.append(Outcome(r, "pending", n, self.clock() + dt.timedelta(seconds=backoff_delay(n, policy)),
                                       "io_error", redact(str(exc)), [(n, call)]))
            return out
        return [Outcome(r, "delivered", r.attempts + 1, self.clock(), "file", None,
                        [(r.attempts + 1, c) for c in result.calls], result) for r in rows_]


def record_batch(kind: DocumentKind, wh: Warehouse, outcomes: list[Outcome], run_id: str, now: dt.datetime) -> dict:
    """One transaction: the attempts, the outbox rows' new states, and the kind's own records."""
    attempt_rows = []
    for o in outcomes:
        for call_no, (attempt_no, c) in enumerate(o.calls, start=1):
            attempt_rows.append((
                str(uuid.uuid4()), o.row.outbox_id, o.row.doc_id, o.row.channel, o.row.target, attempt_no, call_no,
                c.request, o.row.idempotency_key, c.http_status, c.outcome, c.error, c.started_at,
                round(c.duration_ms, 3), run_id,
            ))
    with wh.transaction() as con:
        insert(con, kind.attempts, attempt_columns(kind.id_column), attempt_rows)
        for i in range(0, len(outcomes), 200):
            part = outcomes[i:i + 200]
            values = ", ".join(["(CAST(%s AS VARCHAR), CAST(%s AS VARCHAR), CAST(%s AS INTEGER), "
                                "CAST(%s AS TIMESTAMPTZ), CAST(%s AS VARCHAR), CAST(%s AS VARCHAR))"] * len(part))
            con.execute(
                f"UPDATE {kind.outbox} AS o SET state = v.state, attempts = v.attempts, next_attempt_at = v.next_at, "
                f"last_status = v.last_status, last_error = v.last_error "
                f"FROM (VALUES {values}) AS v(outbox_id, state, attempts, next_at, last_status, last_error) "
                f"WHERE o.outbox_id = v.outbox_id",
                tuple(x for o in part for x in (o.row.outbox_id, o.state, o.attempts, o.next_attempt_at,
                                                 o.last_status, o.last_error)),
            )
        if kind.after_record is not None:
            return kind.after_record(wh, con, outcomes, run_id, now)
    return {"dead": [{"doc_id": o.row.doc_id, "target": o.row.target, "status": o.last_status,
                      "error": o.last_error} for o in outcomes if o.state == "dead_lettered"]}


def pending_targets(kind: DocumentKind, wh: Warehouse) -> list[str]:
    with wh.connection() as con:
        if "outbox" not in tables_of(wh, con, kind.schema):
            return []
        return [r[0] for r in wh.fetchall(
            con, f"SELECT DISTINCT target FROM {kind.outbox} WHERE state IN ('pending', 'sending') ORDER BY 1")]


def counts(kind: DocumentKind, wh: Warehouse) -> dict[str, int]:
    """Outbox rows per state."""
    with wh.connection() as con:
        if "outbox" not in tables_of(wh, con, kind.schema):
            return {}
        return {r[0]: r[1] for r in wh.fetchall(
            con, f"SELECT state, count(*) FROM {kind.outbox} GROUP BY state ORDER BY 1")}


def group_documents(kind: DocumentKind, wh: Warehouse, target: str, route: str, run_date: dt.date) -> list[dict]:
    """Every document of one file drop (all outbox rows of the target, route and night, any state
    but dead-lettered), each as the revision its outbox row delivers."""
    with wh.connection() as con:
        found = rows(wh, con, f"SELECT o.{kind.id_column} AS doc_id, o.payload_sha256 FROM {kind.outbox} o "
                              f"WHERE o.target = %s AND o.{kind.route_column} = %s AND o.run_date = %s "
                              f"AND o.state <> 'dead_lettered' ORDER BY o.{kind.id_column}", (target, route, run_date))
        docs = kind.documents(wh, con, [r["doc_id"] for r in found])
    return [docs[r["doc_id"]][r["payload_sha256"]] for r in found
            if r["payload_sha256"] in docs.get(r["doc_id"], {})]


def deliver_outbox(kind: DocumentKind, wh: Warehouse, config: DeliveryConfig | None, *, out: Path, run_id: str,
                   clock: Clock) -> dict:
    """Send every due outbox row of `kind`; safe to call again at any time (resumes after a crash).

    Returns counts (``claimed``, ``delivered``, ``rescheduled``, ``requests``, ``files_written``, the
    kind's counters), ``dead_letters`` (what the kind's record hook reported dead), ``by_target`` and
    ``outbox`` (rows per state after). Without a configuration, waiting rows are a ConfigError.
    """
    started = time.perf_counter()
    result = {"run_id": run_id, "claimed": 0, "delivered": 0, "rescheduled": 0, "requests": 0, "files_written": 0,
              **{c: 0 for c in kind.counters}, "dead_letters": [], "by_target": {}}
    targets = pending_targets(kind, wh)
    if config is None and targets and set(targets) <= {DRY_RUN_SINK.name}:
        config = DeliveryConfig.dry_run_only()  # only drills' documents wait: they go to the dry-run sink
    if config is None:
        if targets:
            raise ConfigError(f"{kind.name} outbox rows are waiting but no delivery configuration is set "
                              "(--delivery-config or VIGIL_DELIVERY_CONFIG)")
        result["outbox"] = counts(kind, wh)
        return result
    deliverer = Deliverer(kind, wh, config, Path(out), run_id, clock)
    record = kind.record or (lambda wh_, outcomes, run_id_, now: record_batch(kind, wh_, outcomes, run_id_, now))
    try:
        for t in targets:  # resolve every secret before anything is claimed or sent
            deliverer.sender(t)
        with ThreadPoolExecutor(max_workers=config.policy.concurrency) as pool:
            while True:
                batch = claim(kind, wh, clock, config.policy, config.policy.batch_size)
                if not batch:
                    break
                result["claimed"] += len(batch)
                with wh.connection() as con:
                    docs = kind.documents(wh, con, [r.doc_id for r in batch])
                outcomes: list[Outcome] = []
                http_rows, file_groups = [], {}
                for r in batch:
                    doc = docs.get(r.doc_id, {}).get(r.payload_sha256)
                    if deliverer.sender(r.target) is None:
                        outcomes.append(Outcome(r, "dead_lettered", r.attempts, clock(), "unconfigured",
                                                f"permanent error: channel {r.target!r} is not in the delivery config"))
                    elif doc is None:
                        outcomes.append(Outcome(r, "dead_lettered", r.attempts, clock(), "refused",
                                                f"permanent error: the {kind.name[:-1]}'s payload changed after it "
                                                f"was queued"))
                    elif r.channel == "filedrop":
                        file_groups.setdefault((r.target, r.route, r.run_date), []).append(r)
                    else:
                        http_rows.append((r, doc))
                futures = [pool.submit(deliverer.deliver_http, r, doc) for r, doc in http_rows]
                for (target, route, run_date), group in sorted(file_groups.items()):
                    written = deliverer.deliver_files(group, group_documents(kind, wh, target, route, run_date))
                    result["files_written"] += sum(1 for _, c in written[0].calls if c.outcome == "written")
                    outcomes += written
                outcomes += [f.result() for f in futures]
                recorded = record(wh, outcomes, run_id, clock())
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
                for key, value in recorded.items():
                    if key == "dead":
                        result["dead_letters"] += value
                    else:
                        result[key] = result.get(key, 0) + value
    finally:
        deliverer.close()
    result["outbox"] = counts(kind, wh)
    result["elapsed_seconds"] = round(time.perf_counter() - started, 3)
    log.info("deliver %s: %s claimed, %s delivered, %s rescheduled, %s dead-lettered, %s requests in %.1fs",
             kind.name, result["claimed"], result["delivered"], result["rescheduled"], len(result["dead_letters"]),
             result["requests"], result["elapsed_seconds"])
    return result
