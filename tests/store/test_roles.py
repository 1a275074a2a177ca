"""Least-privilege warehouse roles (include/vigil/store/migrations, vigil.store.roles) on a fresh PostgreSQL database.

* the catalogue holds exactly the intended grants (every (role, object, privilege), ownership and
  default privileges), after one run and after a second; a stray grant is removed by a rerun;
* each role can do its job, and the forbidden neighbours are denied (SQLSTATE 42501), down to the
  column: the dispatcher may move a ticket's status but not its priority, may see whether an audit
  event exists but not read it, may append to the audit log but never change it;
* the whole nightly pipeline runs with every step connected as its role (loads as the loader; dbt,
  gates, breakers, publish and ticket creation as the transformer; delivery and alerts as the
  dispatcher), and the catalogue afterwards still holds no grant beyond the intended set.

Roles are cluster-wide; the tests only create databases of their own and never drop a role, so
they can run repeatedly and beside other test runs.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid

import psycopg
import pytest

from fixtures.nights import D, TEST_KEY, write_night

from fixtures.postgres import fresh_database
from vigil.store.ddl import needs_ddl
from vigil.store.roles import ROLES, apply_roles, role_grants, role_url

pytestmark = [pytest.mark.postgres]

L, T, DI, R, A, O = ("vigil_loader", "vigil_transformer", "vigil_dispatcher", "vigil_reporter", "vigil_auditor",
                     "vigil_owner")
DBT_SCHEMAS = ("staging", "intermediate", "marts", "publish_candidate", "publish")
RAW_TABLES = ["raw._vigil_loads", "raw._vigil_rejected_rows"]
AUDIT_TABLES = ["audit.audit_log", "audit.dq_results", "audit.alerts_sent", "audit.alert_deliveries",
                "audit.cases_written"]
TICKET_TABLES = ["tickets.tickets", "tickets.outbox", "tickets.delivery_attempts", "tickets.revisions"]
TICKET_STATUS = ("status", "status_at", "closed_at")
OUTBOX_STATUS = ("state", "attempts", "next_attempt_at", "last_status", "last_error")


def raw_tables() -> list[str]:
    from vigil.ingest.contract import TABLES

    return [f"raw.{t.raw_table}" for t in TABLES] + RAW_TABLES


def intended(publish_tables: tuple[str, ...] = ()) -> set[tuple[str, str, str]]:
    """The grants the issue asks for, written out independently of the migration."""
    e: set[tuple[str, str, str]] = set()

    def g(role, obj, *privileges):
        e.update((role, obj, p) for p in privileges)

    for role in (L, T, DI, R, A):
        g(role, "database", "CONNECT")
    g(T, "database", "TEMPORARY")  # dbt's incremental models
    for s in ("raw", "audit", "tickets", "urgent", "case_delivery"):
        g(O, f"schema:{s}", "OWNER")
    for s in DBT_SCHEMAS:
        g(T, f"schema:{s}", "OWNER")
    g("PUBLIC", "schema:public", "USAGE")  # PostgreSQL's default; nothing in it is granted to anyone
    g(T, "schema:public", "USAGE", "CREATE")  # dbt seeds
    g(L, "schema:raw", "USAGE")
    g(T, "schema:raw", "USAGE")
    g(T, "schema:audit", "USAGE", "CREATE")  # the gates' per-night work relations
    g(DI, "schema:audit", "USAGE")
    g(A, "schema:audit", "USAGE")
    g(T, "schema:tickets", "USAGE")
    g(DI, "schema:tickets", "USAGE")
    g(DI, "schema:publish", "USAGE")
    g(R, "schema:publish", "USAGE")
    for t in raw_tables():
        g(O, t, "OWNER")
        g(L, t, "SELECT", "INSERT", "DELETE")
        g(T, t, "SELECT")
    for t in AUDIT_TABLES:
        g(O, t, "OWNER")
        g(A, t, "SELECT")
    g(T, "audit.audit_log", "SELECT", "INSERT")
    g(DI, "audit.audit_log", "INSERT")
    g(DI, "audit.audit_log.event_id", "SELECT")
    g(T, "audit.dq_results", "SELECT", "INSERT", "DELETE")
    for t in ("audit.alerts_sent", "audit.alert_deliveries"):
        g(T, t, "SELECT", "INSERT")
        g(DI, t, "SELECT", "INSERT")
    g(DI, "audit.cases_written", "SELECT", "INSERT")  # append-only: one row per case revision written
    for t in TICKET_TABLES:
        g(O, t, "OWNER")
        g(DI, t, "SELECT")
    g(T, "tickets.tickets", "SELECT", "INSERT")
    g(T, "tickets.outbox", "SELECT", "INSERT")
    g(T, "tickets.revisions", "SELECT", "INSERT")  # append-only: ticket revisions (priority changes)
    for c in TICKET_STATUS:
        g(T, f"tickets.tickets.{c}", "UPDATE")
        g(DI, f"tickets.tickets.{c}", "UPDATE")
    for c in OUTBOX_STATUS:
        g(DI, f"tickets.outbox.{c}", "UPDATE")
    g(DI, "tickets.delivery_attempts", "INSERT")
    g(T, "schema:urgent", "USAGE")  # the same-day path (docs/events.md)
    g(A, "schema:urgent", "USAGE")
    g(O, "urgent.events", "OWNER")
    g(T, "urgent.events", "SELECT", "INSERT")
    g(A, "urgent.events", "SELECT")
    for c in ("status", "status_at", "reason", "snapshot_date", "plan_fingerprint", "ticket_ids", "acted_at",
              "contradicted_on"):
        g(T, f"urgent.events.{c}", "UPDATE")
    g(DI, "schema:case_delivery", "USAGE")  # case delivery (docs/cases.md): the dispatcher, append-only
    g(A, "schema:case_delivery", "USAGE")
    for t in ("case_delivery.documents", "case_delivery.outbox", "case_delivery.delivery_attempts"):
        g(O, t, "OWNER")
        g(DI, t, "SELECT", "INSERT")
        g(A, t, "SELECT")
    for c in OUTBOX_STATUS:
        g(DI, f"case_delivery.outbox.{c}", "UPDATE")
    g(R, f"default:{T}:publish", "SELECT")
    g(DI, f"default:{T}:publish", "SELECT")
    for t in publish_tables:
        g(R, t, "SELECT")
        g(DI, t, "SELECT")
    return e


def _without_dbt_owners(grants: set) -> set:
    """Ownership of dbt's relations is checked on its own (their list depends on the models)."""
    return {(r, o, p) for r, o, p in grants
            if not (p == "OWNER" and o.split(".")[0] in (*DBT_SCHEMAS, "public") and not o.startswith("schema:"))}


# --------------------------------------------------------------------------- the catalogue


def test_migration_grants_exactly_the_intended_set_and_a_rerun_changes_nothing(pg_url):
    files = apply_roles(pg_url)
    assert files == ["001_roles.sql"]
    first = role_grants(pg_url)
    assert first == intended(), (
        f"beyond the intended set: {sorted(first - intended())}\nmissing: {sorted(intended() - first)}")
    apply_roles(pg_url)
    assert role_grants(pg_url) == first


def test_a_rerun_removes_grants_beyond_the_intended_set(pg_url):
    apply_roles(pg_url)
    with psycopg.connect(pg_url, autocommit=True) as con:
        # what a careless hand (or an older release) might have granted
        con.execute(f"GRANT DELETE ON tickets.tickets TO {DI}")
        con.execute(f"GRANT UPDATE (priority) ON tickets.tickets TO {DI}")
        con.execute(f"GRANT SELECT ON raw.hr__employees TO {R}")
        con.execute(f"GRANT UPDATE, DELETE ON audit.audit_log TO {T}")
        con.execute(f"GRANT SELECT (details) ON audit.audit_log TO {DI}")
        con.execute("GRANT SELECT ON ALL TABLES IN SCHEMA raw TO PUBLIC")
        con.execute(f"GRANT CREATE ON SCHEMA raw TO {L}")
        con.execute(f"GRANT USAGE ON SCHEMA marts TO {R}")
        con.execute(f"ALTER DEFAULT PRIVILEGES FOR ROLE {T} IN SCHEMA marts GRANT SELECT ON TABLES TO {R}")
        db = con.execute("SELECT current_database()").fetchone()[0]
        con.execute(f'GRANT CREATE ON DATABASE "{db}" TO {L}')
        con.execute("CREATE TABLE marts.left_by_an_admin (x int)")  # owned by the admin, not dbt's role
    assert role_grants(pg_url) != intended()
    apply_roles(pg_url)
    grants = role_grants(pg_url)
    assert (T, "marts.left_by_an_admin", "OWNER") in grants  # dbt can replace it now
    assert _without_dbt_owners(grants) == intended(), sorted(_without_dbt_owners(grants) ^ intended())


def test_concurrent_migrations_of_two_databases_both_succeed(pg_url):
    """Roles are shared by the cluster: two deployments (or test runs) migrating at once must not fail."""
    with fresh_database() as other:
        errors: list[BaseException] = []

        def run(url):
            try:
                apply_roles(url, passwords={"loader": None, "dispatcher": None})
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(u,)) for u in (pg_url, other)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(120)
        assert not errors, errors
        assert role_grants(pg_url) == role_grants(other) == intended()


def test_roles_log_in_with_their_urls_and_the_owner_never_does(pg_url):
    apply_roles(pg_url, passwords={"loader": "loader-pw-0123456789", "reporter": None})
    with psycopg.connect(role_url(pg_url, "loader", "loader-pw-0123456789")) as con:
        assert con.execute("SELECT current_user").fetchone()[0] == L
    with psycopg.connect(role_url(pg_url, "vigil_reporter")) as con:
        assert con.execute("SELECT current_user").fetchone()[0] == R
    with pytest.raises(psycopg.OperationalError, match="not permitted to log in"):
        psycopg.connect(role_url(pg_url, "reporter").replace("vigil_reporter", O)).close()
    with pytest.raises(ValueError, match="unknown role"):
        apply_roles(pg_url, passwords={O: "x" * 20})
    with pytest.raises(ValueError, match="PostgreSQL"):
        apply_roles("/tmp/warehouse.duckdb")


def test_role_url_keeps_the_database_and_quotes_the_password():
    url = role_url("postgresql://admin:secret@db.example:6543/vigil?sslmode=require", "dispatcher", "p@ss:/w")
    assert url == "postgresql://vigil_dispatcher:p%40ss%3A%2Fw@db.example:6543/vigil?sslmode=require"
    assert role_url("postgresql://postgres@127.0.0.1/x", "auditor") == "postgresql://vigil_auditor@127.0.0.1/x"


def test_settings_warehouse_for_a_role(monkeypatch):
    from vigil.config import Settings

    base = {"VIGIL_WAREHOUSE": "postgresql://admin@db/vigil", "VIGIL_MODE": "demo"}
    pg = Settings.from_env(base)
    assert pg.warehouse_for("loader") == pg.warehouse  # not set: the warehouse itself
    pg = Settings.from_env(base | {"VIGIL_WAREHOUSE_URL_LOADER": "postgresql://vigil_loader:pw@db/vigil"})
    assert pg.warehouse_for("loader") == "postgresql://vigil_loader:pw@db/vigil"
    assert pg.warehouse_for("transformer") == pg.warehouse  # only the role that is set
    assert "vigil_loader:pw" not in repr(pg)  # the role URLs hold passwords
    # Read once, with the rest of the settings: a later change of the environment changes nothing.
    monkeypatch.setenv("VIGIL_WAREHOUSE_URL_TRANSFORMER", "postgresql://vigil_transformer@db/vigil")
    assert pg.warehouse_for("transformer") == pg.warehouse
    duck = Settings.from_env(base | {"VIGIL_WAREHOUSE": "/data/vigil.duckdb",
                                     "VIGIL_WAREHOUSE_URL_LOADER": "postgresql://vigil_loader:pw@db/vigil"})
    assert duck.warehouse_for("loader") == "/data/vigil.duckdb"  # DuckDB has no roles
    with pytest.raises(ValueError):
        pg.warehouse_for("admin")  # a typo never falls back to the admin URL silently


def test_needs_ddl_only_when_something_is_missing(pg_url, tmp_path):
    import duckdb

    apply_roles(pg_url)
    with psycopg.connect(pg_url) as con:
        assert needs_ddl(con, "raw", "audit.audit_log", "tickets.outbox__due") is False
        assert needs_ddl(con, "audit.audit_log", "audit.not_there") is True  # one missing is enough
        assert needs_ddl(con, "no_such_schema") is True
    assert needs_ddl(duckdb.connect(str(tmp_path / "x.duckdb")), "raw") is True  # DuckDB: always


# --------------------------------------------------------------------------- allowed and denied


def _insert_sql(con, table: str, **values) -> tuple[str, tuple]:
    """An INSERT of one row with a plausible value for every column (overrides by name)."""
    schema, name = table.split(".")
    cols = con.execute("SELECT column_name, data_type FROM information_schema.columns "
                       "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position", (schema, name)).fetchall()
    sample = {"integer": 0, "bigint": 0, "double precision": 0.0, "boolean": False, "date": dt.date(2026, 3, 2),
              "timestamp with time zone": dt.datetime(2026, 3, 2, tzinfo=dt.timezone.utc)}
    row = {c: values.get(c, sample.get(t, f"{c}-{uuid.uuid4().hex[:6]}")) for c, t in cols}
    return (f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join(['%s'] * len(row))})", tuple(row.values()))


@pytest.fixture
def seeded(pg_url):
    """Migrated database with a row in each table a role touches, and dbt-made tables as dbt makes them."""
    apply_roles(pg_url)
    with psycopg.connect(pg_url, autocommit=True) as con:
        for table, values in [
            ("raw._vigil_loads", {}), ("raw.hr__employees", {"_feed_date": D}),
            ("audit.audit_log", {"event_id": "ev-1"}), ("audit.dq_results", {}), ("audit.alerts_sent", {}),
            ("tickets.tickets", {"ticket_id": "t-1", "status": "created", "priority": "P1"}),
            ("tickets.outbox", {"outbox_id": "o-1", "ticket_id": "t-1", "state": "pending"}),
            ("tickets.delivery_attempts", {}),
        ]:
            con.execute(*_insert_sql(con, table, **values))
        # dbt runs as vigil_transformer: what it creates is its own (default privileges apply)
        con.execute(f"SET ROLE {T}")
        con.execute("CREATE TABLE marts.mart_probe AS SELECT 1 AS x")
        con.execute("CREATE TABLE publish_candidate.pub_probe AS SELECT 1 AS x")
        con.execute("CREATE TABLE publish.pub_probe AS SELECT 1 AS x")
        con.execute("RESET ROLE")
    return pg_url


INS_AUDIT = "INSERT INTO audit.audit_log (event_id, occurred_at, event, actor, details) VALUES ('ev-2', now(), 'e', 'a', '{}')"
INS_LEDGER = ("INSERT INTO raw._vigil_loads (feed, table_name, feed_date, source_file, source_sha256, row_count, "
              "stale, run_id, loaded_at) VALUES ('hr', 'employees', DATE '2026-03-03', 'f', 's', 1, false, 'r', now())")
CASES: list[tuple[str, str, bool]] = [
    # loader: replaces raw partitions, nothing else
    (L, "SELECT count(*) FROM raw.hr__employees", True),
    (L, "DELETE FROM raw.hr__employees WHERE _feed_date = DATE '2026-03-02'", True),
    (L, INS_LEDGER, True),
    (L, "UPDATE raw._vigil_loads SET row_count = 0", False),
    (L, "TRUNCATE raw.hr__employees", False),
    (L, "DROP TABLE raw.hr__employees", False),
    (L, "CREATE TABLE raw.extra (x int)", False),
    (L, "SELECT * FROM marts.mart_probe", False),
    (L, "INSERT INTO marts.mart_probe VALUES (2)", False),
    (L, "SELECT * FROM publish.pub_probe", False),
    (L, INS_AUDIT, False),
    (L, "SELECT * FROM tickets.tickets", False),
    (L, "CREATE SCHEMA loader_own", False),
    # transformer: reads raw, owns dbt's schemas, gates, breakers, publish, creates and closes tickets
    (T, "SELECT count(*) FROM raw.hr__employees", True),
    (T, INS_LEDGER, False),
    (T, "DELETE FROM raw.hr__employees", False),
    (T, "CREATE TABLE marts.t2 AS SELECT * FROM marts.mart_probe", True),
    (T, "DROP TABLE marts.mart_probe", True),
    (T, "CREATE VIEW staging.v AS SELECT _feed_date FROM raw.hr__employees", True),
    (T, "CREATE TABLE public.seed_probe (x int)", True),
    (T, "DELETE FROM publish.pub_probe; INSERT INTO publish.pub_probe SELECT * FROM publish_candidate.pub_probe", True),
    (T, "CREATE VIEW audit.dq_batch__raw__hr__employees AS SELECT * FROM raw.hr__employees", True),
    (T, "SELECT details FROM audit.audit_log", True),
    (T, INS_AUDIT, True),
    (T, "UPDATE audit.audit_log SET actor = 'someone else'", False),
    (T, "DELETE FROM audit.audit_log", False),
    (T, "TRUNCATE audit.audit_log", False),
    (T, "DROP TABLE audit.audit_log", False),
    (T, "DELETE FROM audit.dq_results WHERE run_date = DATE '2026-03-02'", True),
    (T, "UPDATE tickets.tickets SET status = 'closed', status_at = now(), closed_at = now() WHERE ticket_id = 't-1'", True),
    (T, "UPDATE tickets.tickets SET priority = 'P4' WHERE ticket_id = 't-1'", False),
    (T, "DELETE FROM tickets.tickets", False),
    (T, "INSERT INTO tickets.delivery_attempts SELECT * FROM tickets.delivery_attempts", False),
    (T, "CREATE SCHEMA transformer_own", False),
    # dispatcher: reads publish and tickets, moves statuses, appends attempts, audit events and alerts
    (DI, "SELECT * FROM publish.pub_probe", True),
    (DI, "SELECT * FROM publish_candidate.pub_probe", False),
    (DI, "SELECT * FROM raw.hr__employees", False),
    (DI, "SELECT * FROM marts.mart_probe", False),
    (DI, "SELECT ticket_id, payload FROM tickets.tickets", True),
    (DI, "UPDATE tickets.tickets SET status = 'sent', status_at = now() WHERE ticket_id = 't-1'", True),
    (DI, "UPDATE tickets.tickets SET priority = 'P4' WHERE ticket_id = 't-1'", False),
    (DI, "UPDATE tickets.tickets SET payload = '{}' WHERE ticket_id = 't-1'", False),
    (DI, "DELETE FROM tickets.tickets WHERE ticket_id = 't-1'", False),
    (DI, "INSERT INTO tickets.tickets SELECT * FROM tickets.tickets", False),
    (DI, "TRUNCATE tickets.tickets", False),
    (DI, "SELECT outbox_id FROM tickets.outbox WHERE state = 'pending' FOR UPDATE SKIP LOCKED", True),
    (DI, "UPDATE tickets.outbox SET state = 'delivered', attempts = 1, next_attempt_at = now(), last_status = '200', "
         "last_error = NULL WHERE outbox_id = 'o-1'", True),
    (DI, "UPDATE tickets.outbox SET target = 'somewhere-else' WHERE outbox_id = 'o-1'", False),
    (DI, "DELETE FROM tickets.outbox", False),
    (DI, "INSERT INTO tickets.delivery_attempts SELECT * FROM tickets.delivery_attempts ON CONFLICT DO NOTHING", True),
    (DI, "UPDATE tickets.delivery_attempts SET outcome = 'ok'", False),
    (DI, "DELETE FROM tickets.delivery_attempts", False),
    (DI, INS_AUDIT, True),
    (DI, "SELECT event_id FROM audit.audit_log WHERE event_id IN ('ev-1')", True),
    (DI, "SELECT details FROM audit.audit_log", False),
    (DI, "UPDATE audit.audit_log SET actor = 'someone else'", False),
    (DI, "DELETE FROM audit.audit_log", False),
    (DI, "INSERT INTO audit.alerts_sent SELECT * FROM audit.alerts_sent ON CONFLICT DO NOTHING", True),
    (DI, "DELETE FROM audit.alerts_sent", False),
    (DI, "SELECT * FROM audit.dq_results", False),
    (DI, "INSERT INTO publish.pub_probe VALUES (2)", False),
    # reporter: reads publish, nothing else
    (R, "SELECT * FROM publish.pub_probe", True),
    (R, "SELECT * FROM raw.hr__employees", False),  # the pseudonymisation inputs
    (R, "SELECT * FROM raw._vigil_loads", False),
    (R, "SELECT * FROM marts.mart_probe", False),
    (R, "SELECT * FROM publish_candidate.pub_probe", False),
    (R, "SELECT * FROM audit.audit_log", False),
    (R, "SELECT * FROM tickets.tickets", False),
    (R, "INSERT INTO publish.pub_probe VALUES (2)", False),
    (R, "DELETE FROM publish.pub_probe", False),
    (R, "CREATE TABLE publish.mine (x int)", False),
    # auditor: reads the audit schema, nothing else
    (A, "SELECT * FROM audit.audit_log", True),
    (A, "SELECT * FROM audit.dq_results", True),
    (A, "SELECT * FROM audit.alerts_sent", True),
    (A, INS_AUDIT, False),
    (A, "UPDATE audit.audit_log SET actor = 'someone else'", False),
    (A, "SELECT * FROM raw.hr__employees", False),
    (A, "SELECT * FROM publish.pub_probe", False),
    (A, "SELECT * FROM tickets.tickets", False),
]


def test_each_role_may_do_its_job_and_nothing_more(seeded):
    wrong = []
    with psycopg.connect(seeded, autocommit=True) as con:
        for role, sql, allowed in CASES:
            try:
                with con.transaction(force_rollback=True):
                    con.execute(f"SET LOCAL ROLE {role}")
                    con.execute(sql)
                outcome = True
            except psycopg.errors.InsufficientPrivilege:
                outcome = False
            if outcome != allowed:
                wrong.append(f"{role}: {sql} -> {'allowed' if outcome else 'denied'}, expected "
                             f"{'allowed' if allowed else 'denied'}")
    assert not wrong, "\n".join(wrong)


def test_allowed_status_updates_really_change_the_row(seeded):
    """The dispatcher's grant is real: a status update lands; the same statement with priority does not."""
    with psycopg.connect(seeded, autocommit=True) as con:
        with con.transaction():
            con.execute(f"SET LOCAL ROLE {DI}")
            n = con.execute("UPDATE tickets.tickets SET status = 'sent', status_at = now() WHERE ticket_id = 't-1'").rowcount
        assert n == 1
        assert con.execute("SELECT status FROM tickets.tickets WHERE ticket_id = 't-1'").fetchone()[0] == "sent"
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            with con.transaction():
                con.execute(f"SET LOCAL ROLE {DI}")
                con.execute("UPDATE tickets.tickets SET status = 'sent', priority = 'P4' WHERE ticket_id = 't-1'")
        assert con.execute("SELECT priority FROM tickets.tickets WHERE ticket_id = 't-1'").fetchone()[0] == "P1"


# --------------------------------------------------------------------------- the pipeline as its roles

FILEDROP = """\
version: 1
channels:
  drop:
    type: filedrop
    path: "{system}/{run_date}"
default: [drop]
"""


@pytest.mark.slow
def test_the_nightly_pipeline_runs_with_every_step_as_its_role(pg_url, tmp_path, monkeypatch):
    from vigil import pipeline
    from vigil.config import Settings
    from vigil.ingest.contract import FEEDS

    apply_roles(pg_url, passwords={name: None for name in ROLES})  # LOGIN (the test server trusts loopback)
    landing = write_night(tmp_path / "landing", D)
    config = tmp_path / "delivery.yml"
    config.write_text(FILEDROP)

    # One Settings, as a deployment has: each step must pick its role's URL itself (warehouse_for).
    # The base URL is the reporter's, which may write nothing: a step that ignored its role fails.
    settings = Settings(landing=str(landing), warehouse=role_url(pg_url, "reporter"), out=tmp_path / "out",
                        mode="production", pseudonymisation_key=TEST_KEY, delivery_config=config,
                        role_urls={role: role_url(pg_url, role) for role in ("loader", "transformer", "dispatcher")})

    run_id = "roles-test"
    extracted = {f: pipeline.extract_feed(settings, f, D, run_id) for f in FEEDS}
    for f in FEEDS:
        pipeline.load_feed(settings, extracted[f])
    pipeline.check_source_freshness(settings, D)
    pipeline.audit_raw(settings, D, run_id)
    pipeline.build_models(settings, D)
    pipeline.audit_publish(settings, D, run_id)
    pipeline.check_breakers(settings, D, run_id)
    pipeline.publish_night(settings, D, run_id)
    pipeline.close_revocations(settings, D, run_id)
    created = pipeline.issue_tickets(settings, D, run_id)
    delivered = pipeline.deliver(settings, D, run_id)
    pipeline.nightly_alerts(settings, D, run_id, delivered=delivered)

    assert created["created"] >= 1  # the minimal night's leaver still holds an enabled account
    with psycopg.connect(pg_url) as con:
        assert con.execute("SELECT DISTINCT status FROM tickets.tickets").fetchall() == [("sent",)]
        assert con.execute("SELECT DISTINCT state FROM tickets.outbox").fetchall() == [("delivered",)]
        assert con.execute("SELECT count(*) FROM tickets.delivery_attempts").fetchone()[0] >= 1
        events = {e for (e,) in con.execute("SELECT DISTINCT event FROM audit.audit_log").fetchall()}
        assert {"published", "created", "sent"} <= events
        publish_tables = tuple(f"publish.{t}" for (t,) in con.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'publish' ORDER BY 1").fetchall())
        owners = con.execute(
            "SELECT DISTINCT pg_get_userbyid(c.relowner) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = ANY(%s) AND c.relkind IN ('r', 'v', 'm')", (list(DBT_SCHEMAS),)).fetchall()
    assert owners == [(T,)]
    assert "publish.pub_leaver_access_exposure" in publish_tables
    assert list((tmp_path / "out" / "filedrop").rglob("*")), "the dispatcher wrote no file drop"

    # The reporter reads what was published and nothing it was built from.
    with psycopg.connect(role_url(pg_url, "reporter")) as con:
        assert con.execute("SELECT count(*) FROM publish.pub_leaver_access_exposure").fetchone()[0] >= 1
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            con.execute("SELECT national_id FROM raw.complaints__complainants")
    with psycopg.connect(role_url(pg_url, "auditor")) as con:
        assert con.execute("SELECT count(*) FROM audit.dq_results").fetchone()[0] > 0
        assert con.execute("SELECT count(*) FROM audit.audit_log").fetchone()[0] > 0

    # After a whole night no grant beyond the intended set exists (the publish step's new tables
    # got SELECT for the reporter and the dispatcher from the default privileges, and no more).
    grants = _without_dbt_owners(role_grants(pg_url))
    assert grants == intended(publish_tables), (
        f"beyond: {sorted(grants - intended(publish_tables))}\nmissing: {sorted(intended(publish_tables) - grants)}")
