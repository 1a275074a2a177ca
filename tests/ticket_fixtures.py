"""Helpers for the ticket tests: a small publish layer, a real SCIM server and a webhook consumer.

* `build_night(url, ...)`: the publish tables tickets read (same columns and types as the dbt
  contracts), the load ledger and the IAM snapshot, on DuckDB or PostgreSQL.
* `ScimServer`: scim2-server (an independent SCIM implementation) on loopback in a thread, behind
  a fault-injecting WSGI middleware; its storage counts the writes each resource received.
* `WebhookConsumer`: an http.server on loopback that verifies Standard Webhooks signatures the
  way a consumer must (its own HMAC code, 5-minute tolerance) and de-duplicates by webhook-id.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, make_server

import yaml

UTC = dt.timezone.utc
POLICY = "2026.11-1"

EXPOSURE_DDL = """CREATE TABLE IF NOT EXISTS {schema}.pub_leaver_access_exposure (
    ticket_key TEXT, employee_id TEXT, system TEXT, account_id TEXT, termination_date DATE,
    is_privileged BOOLEAN, criticality TEXT, due_date DATE, due_at TIMESTAMPTZ, is_overdue BOOLEAN,
    days_overdue INTEGER, priority TEXT, n_entitlements INTEGER, n_privileged_entitlements INTEGER,
    entitlements_to_remove TEXT, privileged_entitlements TEXT, rule_id TEXT, policy_version TEXT, as_of_date DATE)"""
ENTITLEMENTS_DDL = """CREATE TABLE IF NOT EXISTS {schema}.pub_leaver_entitlements (
    ticket_key TEXT, employee_id TEXT, system TEXT, account_id TEXT, entitlement TEXT, is_privileged BOOLEAN,
    granted_at TIMESTAMPTZ, due_at TIMESTAMPTZ, priority TEXT, rule_id TEXT, policy_version TEXT, as_of_date DATE)"""
NOTICE_DDL = """CREATE TABLE IF NOT EXISTS {schema}.pub_notice_restrictions (
    ticket_key TEXT, employee_id TEXT, system TEXT, account_id TEXT, entitlement TEXT, notice_date DATE,
    due_date DATE, due_at TIMESTAMPTZ, is_overdue BOOLEAN, days_overdue INTEGER, priority TEXT, rule_id TEXT,
    policy_version TEXT, as_of_date DATE)"""


@dataclass
class Leaver:
    employee_id: str
    system: str
    account_id: str
    entitlements: tuple[str, ...] = ()
    termination_date: dt.date = dt.date(2026, 3, 1)
    privileged: tuple[str, ...] = ()
    priority: str = "P2"


@dataclass
class Notice:
    employee_id: str
    system: str
    account_id: str
    entitlement: str
    notice_date: dt.date = dt.date(2026, 2, 20)
    priority: str = "P1"


def _end(d: dt.date) -> dt.datetime:
    return dt.datetime.combine(d, dt.time(23, 59, 59), tzinfo=UTC)


def build_night(url: str, run_date: dt.date, leavers: list[Leaver], notices: list[Notice] = (), *,
                schema: str = "publish", accounts: list[tuple] | None = None, policy: str = POLICY) -> None:
    """Replace the publish tables of `schema` with these rows, and load raw evidence for `run_date`.

    `accounts`: rows (system, account_id, status, disabled_at) of raw.iam__accounts for run_date;
    by default every leaver/notice account, enabled.
    """
    from vigil.transforms.contract import TABLES, raw_table_ddl
    from vigil.warehouse import LEDGER_DDL, Warehouse

    wh = Warehouse.open(url)
    with wh.transaction() as con:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        con.execute("CREATE SCHEMA IF NOT EXISTS raw")
        for ddl in (EXPOSURE_DDL, ENTITLEMENTS_DDL, NOTICE_DDL):
            con.execute(ddl.format(schema=schema))
        for t in ("pub_leaver_access_exposure", "pub_leaver_entitlements", "pub_notice_restrictions"):
            con.execute(f"DELETE FROM {schema}.{t}")
        for t in TABLES:
            if t.feed == "iam":
                con.execute(raw_table_ddl(t))
        con.execute(LEDGER_DDL)
        for lv in leavers:
            due = lv.termination_date + dt.timedelta(days=0 if lv.privileged else 1)
            key = f"AL-01:{lv.system}:{lv.account_id}"
            con.execute(
                f"INSERT INTO {schema}.pub_leaver_access_exposure VALUES "
                f"(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (key, lv.employee_id, lv.system, lv.account_id, lv.termination_date, bool(lv.privileged), "high", due,
                 _end(due), run_date > due, max(0, (run_date - due).days), lv.priority, len(lv.entitlements),
                 len(lv.privileged), ", ".join(sorted(lv.entitlements)), ", ".join(sorted(lv.privileged)), "AL-01",
                 policy, run_date),
            )
            for e in lv.entitlements:
                con.execute(
                    f"INSERT INTO {schema}.pub_leaver_entitlements VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    (key, lv.employee_id, lv.system, lv.account_id, e, e in lv.privileged,
                     dt.datetime(2024, 1, 1, 8, tzinfo=UTC), _end(due), lv.priority, "AL-01", policy, run_date),
                )
        for n in notices:
            con.execute(
                f"INSERT INTO {schema}.pub_notice_restrictions VALUES "
                f"(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (f"AL-02:{n.system}:{n.account_id}:{n.entitlement}", n.employee_id, n.system, n.account_id,
                 n.entitlement, n.notice_date, n.notice_date, _end(n.notice_date), run_date > n.notice_date,
                 max(0, (run_date - n.notice_date).days), n.priority, "AL-02", policy, run_date),
            )
        # evidence: the ledger rows of the night's HR and IAM files
        con.execute("DELETE FROM raw._vigil_loads WHERE feed_date = %s", (run_date,))
        for feed, table in (("hr", "employees"), ("iam", "accounts"), ("iam", "entitlements"), ("crm", "clients")):
            sha = hashlib.sha256(f"{feed}/{table}/{run_date}".encode()).hexdigest()
            con.execute("INSERT INTO raw._vigil_loads (feed, table_name, feed_date, source_file, source_sha256, row_count, "
                        "stale, run_id, loaded_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                        (feed, table, run_date, f"{feed}/{run_date}/{table}.csv", sha, 10, False, "load-run",
                         dt.datetime.combine(run_date, dt.time(1), tzinfo=UTC)))
        if accounts is None:
            accounts = sorted({(lv.system, lv.account_id, "enabled", None) for lv in leavers}
                              | {(n.system, n.account_id, "enabled", None) for n in notices})
        con.execute("DELETE FROM raw.iam__accounts WHERE _feed_date = %s", (run_date,))
        con.execute("DELETE FROM raw.iam__entitlements WHERE _feed_date = %s", (run_date,))
        for system, account_id, status, disabled_at in accounts:
            con.execute(
                "INSERT INTO raw.iam__accounts (account_id, system, username, employee_id, status, is_privileged, "
                "disabled_at, _feed_date, _source_file, _source_sha256, _source_line, _loaded_at, _run_id) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (account_id, system, "u", None, status, False, disabled_at, run_date, "iam/accounts.csv", "x", 1,
                 dt.datetime.combine(run_date, dt.time(1), tzinfo=UTC), "load-run"),
            )
        for n in notices:
            con.execute(
                "INSERT INTO raw.iam__entitlements (system, account_id, entitlement, is_privileged, _feed_date, "
                "_source_file, _source_sha256, _source_line, _loaded_at, _run_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (n.system, n.account_id, n.entitlement, True, run_date, "iam/entitlements.csv", "x", 1,
                 dt.datetime.combine(run_date, dt.time(1), tzinfo=UTC), "load-run"),
            )


def query(url: str, sql: str, params=()) -> list[dict]:
    from vigil.tickets.store import _rows
    from vigil.warehouse import Warehouse

    wh = Warehouse.open(url)
    with wh.connection() as con:
        return _rows(wh, con, sql, params)


def write_config(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


FAST = {"max_attempts": 5, "backoff_base_seconds": 0.01, "backoff_max_seconds": 0.05, "max_inline_wait_seconds": 2,
        "timeout_seconds": 2, "lease_seconds": 60, "concurrency": 4, "batch_size": 50}


# --------------------------------------------------------------------------- fault injection


@dataclass
class Fault:
    """Answer the `times` next requests matching `method` and `path` (regex) this way instead."""

    method: str
    path: str
    status: int | None = None  # answer this status without reaching the server
    headers: dict = field(default_factory=dict)
    body: str = ""
    delay_after: float = 0.0  # let the server process it, then hold the answer this long
    before: object = None  # callable run before passing the request on (a concurrent change)
    times: int = 1

    def matches(self, method: str, path: str) -> bool:
        return self.times > 0 and method == self.method and re.search(self.path, path) is not None


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args):  # keep the test output clean
        pass


class ScimServer:
    """scim2-server on 127.0.0.1:<free port>, in a thread, with faults and write counts."""

    def __init__(self, token: str = "scim-test-token-0123456789", port: int = 0):
        from scim2_server.memory import InMemoryStorage
        from scim2_server.service import ScimService
        from scim2_server.testserver.application import BearerTokenApplication
        from scim2_server.testserver.cli import ThreadingWSGIServer
        from scim2_server.utils import load_default_provider

        outer = self

        class CountingStorage(InMemoryStorage):
            def update(self, resource_type, resource, *, expected_version=None):
                updated = super().update(resource_type, resource, expected_version=expected_version)
                with outer.lock:
                    outer.writes[(resource_type.name, resource.id)] = outer.writes.get((resource_type.name, resource.id), 0) + 1
                return updated

        self.token = token
        self.lock = threading.Lock()
        self.writes: dict[tuple[str, str], int] = {}
        self.requests: list[tuple[str, str, dict]] = []
        self.faults: list[Fault] = []
        provider = load_default_provider()
        self.storage = CountingStorage()
        self.app = BearerTokenApplication(self.storage, provider, service=ScimService(provider, secret="s" * 32),
                                          bearer_tokens=[token])
        self.server = make_server("127.0.0.1", port, self._wsgi, server_class=ThreadingWSGIServer, handler_class=_Quiet)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/v2"

    def __enter__(self) -> ScimServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _wsgi(self, environ, start_response):
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
        headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
        if headers.get("x-test-admin"):  # the test playing the system's admin: not recorded, never faulted
            return self.app(environ, start_response)
        with self.lock:
            self.requests.append((method, path, headers))
            fault = next((f for f in self.faults if f.matches(method, path)), None)
            if fault:
                fault.times -= 1
        if fault and fault.status:
            start_response(f"{fault.status} Injected", [("Content-Type", "application/scim+json"),
                                                        *fault.headers.items()])
            return [fault.body.encode()]
        if fault and fault.before:
            fault.before()
        result = list(self.app(environ, start_response))
        if fault and fault.delay_after:
            time.sleep(fault.delay_after)
        return result

    # -- direct access (the test plays the IAM system's admin) -------------------------------
    def _client(self):
        import httpx

        return httpx.Client(base_url=self.base_url, headers={"Authorization": f"Bearer {self.token}",
                                                             "Content-Type": "application/scim+json",
                                                             "X-Test-Admin": "1"})

    def add_user(self, account_id: str, active: bool = True) -> str:
        with self._client() as c:
            r = c.post("/Users", json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                                       "userName": account_id, "externalId": account_id, "active": active})
            r.raise_for_status()
            return r.json()["id"]

    def add_group(self, name: str, member_ids: list[str]) -> str:
        with self._client() as c:
            r = c.post("/Groups", json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                                        "displayName": name, "members": [{"value": m} for m in member_ids]})
            r.raise_for_status()
            return r.json()["id"]

    def user(self, user_id: str) -> dict | None:
        with self._client() as c:
            r = c.get(f"/Users/{user_id}")
            return r.json() if r.status_code == 200 else None

    def patch_user_raw(self, user_id: str, body: dict) -> None:
        with self._client() as c:
            c.patch(f"/Users/{user_id}", json=body).raise_for_status()

    def delete_user(self, user_id: str) -> None:
        with self._client() as c:
            c.delete(f"/Users/{user_id}").raise_for_status()

    def members(self, group_id: str) -> set[str]:
        with self._client() as c:
            r = c.get(f"/Groups/{group_id}")
            r.raise_for_status()
            return {m["value"] for m in r.json().get("members") or []}

    def count(self, method: str, pattern: str = "") -> int:
        """Requests the server received (faulted ones included)."""
        return sum(1 for m, p, _ in self.requests if m == method and re.search(pattern, p))


# --------------------------------------------------------------------------- webhook consumer

WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"consumer-shared-secret-0123456789!").decode()
TOLERANCE_SECONDS = 300


def verify_standard_webhook(secret: str, headers: dict, body: bytes, *, now: float | None = None) -> bool:
    """A consumer's check, written from the Standard Webhooks spec (not with Vigil's code)."""
    msg_id, ts, sigs = headers.get("webhook-id"), headers.get("webhook-timestamp"), headers.get("webhook-signature")
    if not (msg_id and ts and sigs):
        return False
    try:
        ts_int = int(ts)
    except ValueError:
        return False
    now = time.time() if now is None else now
    if abs(now - ts_int) > TOLERANCE_SECONDS:
        return False
    key = base64.b64decode(secret.removeprefix("whsec_"))
    expected = base64.b64encode(hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()).decode()
    for sig in sigs.split(" "):
        version, _, value = sig.partition(",")
        if version == "v1" and hmac.compare_digest(value, expected):
            return True
    return False


class WebhookConsumer:
    """A ticketing system's webhook endpoint: verifies, de-duplicates by webhook-id, records."""

    def __init__(self, secret: str = WEBHOOK_SECRET):
        self.secret = secret
        self.lock = threading.Lock()
        self.received: list[dict] = []  # every request (valid or not)
        self.effective: dict[str, dict] = {}  # webhook-id -> body: the tickets it opened
        self.conflicts: list[str] = []  # same webhook-id with a different body
        self.faults: list[Fault] = []
        consumer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                headers = {k.lower(): v for k, v in self.headers.items()}
                valid = verify_standard_webhook(consumer.secret, headers, body)
                with consumer.lock:
                    consumer.received.append({"headers": headers, "body": body, "valid": valid})
                    fault = next((f for f in consumer.faults if f.matches("POST", self.path)), None)
                    if fault:
                        fault.times -= 1
                if fault and fault.status:
                    return self._answer(fault.status, fault.body, fault.headers)
                if not valid:
                    return self._answer(401, '{"error":"bad signature"}')
                with consumer.lock:
                    msg_id = headers["webhook-id"]
                    if msg_id in consumer.effective and consumer.effective[msg_id] != body:
                        consumer.conflicts.append(msg_id)
                    consumer.effective.setdefault(msg_id, body)
                if fault and fault.delay_after:
                    time.sleep(fault.delay_after)
                self._answer(201, json.dumps({"result": {"number": "INC" + msg_id[-6:]}}))

            def _answer(self, status, body="", headers=None):
                try:
                    self.send_response(status)
                    for k, v in (headers or {}).items():
                        self.send_header(k, v)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body.encode())))
                    self.end_headers()
                    self.wfile.write(body.encode())
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/api/now/table/incident"

    def __enter__(self) -> WebhookConsumer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def tickets(self) -> list[dict]:
        return [json.loads(b) for b in self.effective.values()]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
