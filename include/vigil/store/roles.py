"""Least-privilege PostgreSQL roles for the warehouse: one role per pipeline step.

    python -m vigil.store.roles --admin-url postgresql://admin@host:5432/vigil

creates the warehouse's fixed tables with the code's own DDL (raw layer and load ledger, audit log,
data-quality results, alert ledger, tickets), then runs every SQL file of ``include/vigil/store/migrations/``
in name order. Each file is idempotent: running it again changes nothing, and the grants are
always exactly the intended set (earlier grants are revoked first). Roles are cluster-wide, so the
migration tolerates a concurrent run creating the same role (and retries a catalogue conflict).

Roles get LOGIN and a password when one is given: ``VIGIL_ROLE_PASSWORD_<ROLE>`` (e.g.
``VIGIL_ROLE_PASSWORD_LOADER``) for ``python -m vigil.store.roles``, or ``passwords=`` of
:func:`apply_roles`. A role without a password keeps its current login state. Each pipeline step
then connects as its role: ``VIGIL_WAREHOUSE_URL_<ROLE>`` (see ``Settings.warehouse_for``).

Which role may do what, and why: docs/deployment.md ("Least privilege").
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from vigil.config import WarehouseUrl
from vigil.store.audit import ensure_audit_log
from vigil.store.warehouse import Warehouse

log = logging.getLogger(__name__)

#: pipeline role -> PostgreSQL role
ROLES: dict[str, str] = {
    "loader": "vigil_loader",
    "transformer": "vigil_transformer",
    "dispatcher": "vigil_dispatcher",
    "reporter": "vigil_reporter",
    "auditor": "vigil_auditor",
}
#: owns raw, audit and tickets and their tables; NOLOGIN, nobody connects as it
OWNER_ROLE = "vigil_owner"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
PASSWORD_ENV = "VIGIL_ROLE_PASSWORD_{}"
ADMIN_URL_ENV = "VIGIL_WAREHOUSE_ADMIN_URL"

# Errors a concurrent run of the migration can cause on the shared role catalogue (two databases
# of one cluster migrated at once): retried, the migration being idempotent.
_RETRY_SQLSTATES = {"23505", "42710", "40001", "40P01", "XX000"}


def migrations() -> list[Path]:
    return sorted(MIGRATIONS_DIR.glob("*.sql"))


def ensure_fixed_tables(wh, con) -> None:
    """The tables the pipeline's roles are granted on, created by the code that owns their DDL."""
    # upward on purpose, and only here: the migration creates the tables every layer owns, with each
    # owner's own DDL (docs/architecture.md, "Layers and imports"); nothing above imports roles back.
    from vigil.actions.alerts.ledger import ensure_ledger  # upward on purpose: see above
    from vigil.gates.quality.results import AUDIT_SCHEMA, RESULTS_DDL  # upward on purpose: see above
    from vigil.actions.tickets import ensure_ticket_tables  # upward on purpose: see above
    from vigil.actions.urgent import ensure_urgent_tables  # upward on purpose: see above
    from vigil.actions.cases.delivery import ensure_case_tables  # upward on purpose: see above
    from vigil.actions.cases.write import ensure_cases_ledger  # upward on purpose: see above

    wh.ensure_raw_schema(con)
    ensure_audit_log(wh, con)
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {AUDIT_SCHEMA}")
    con.execute(RESULTS_DDL)
    ensure_ledger(con)
    ensure_ticket_tables(wh, con)
    ensure_urgent_tables(wh, con)
    ensure_case_tables(wh, con)
    ensure_cases_ledger(con)


def apply_roles(admin_url: str, *, passwords: Mapping[str, str | None] | None = None, attempts: int = 6) -> list[str]:
    """Create the fixed tables and apply every migration as `admin_url`'s user; returns the files run.

    ``passwords``: pipeline role ("loader", ...) or PostgreSQL role name -> password; those roles get
    LOGIN with it (``None``: LOGIN, password unchanged). Idempotent; safe to run concurrently with
    another database's migration on the same cluster.
    """
    if not WarehouseUrl.parse(admin_url).is_postgres:
        raise ValueError("least-privilege roles are for a PostgreSQL warehouse; the DuckDB file has no roles")
    logins = {_pg_role(k): v for k, v in (passwords or {}).items()}
    wh = Warehouse.open(admin_url)
    files = migrations()
    for attempt in range(1, attempts + 1):
        try:
            with wh.transaction() as con:
                ensure_fixed_tables(wh, con)
                for path in files:
                    con.execute(path.read_text())
                for role, password in sorted(logins.items()):
                    con.execute(_login_sql(role, password))
            break
        except Exception as exc:  # noqa: BLE001 - only the retryable SQLSTATEs below are retried
            if getattr(exc, "sqlstate", None) not in _RETRY_SQLSTATES or attempt == attempts:
                raise
            log.info("roles: concurrent catalogue change (%s); retrying", exc.sqlstate)
            time.sleep(0.2 * attempt)
    log.info("roles: applied %s; logins for %s", ", ".join(p.name for p in files), ", ".join(sorted(logins)) or "none")
    return [p.name for p in files]


def _pg_role(name: str) -> str:
    role = ROLES.get(name, name)
    if role not in ROLES.values():
        raise ValueError(f"unknown role {name!r}: one of {', '.join(ROLES)}")
    return role


def _login_sql(role: str, password: str | None):
    from psycopg import sql

    if password is None:
        return sql.SQL("ALTER ROLE {} LOGIN").format(sql.Identifier(role))
    return sql.SQL("ALTER ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role), sql.Literal(password))


def passwords_from_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """{pipeline role: password} from VIGIL_ROLE_PASSWORD_<ROLE> (empty values ignored)."""
    env = os.environ if env is None else env
    return {name: env[PASSWORD_ENV.format(name.upper())] for name in ROLES
            if env.get(PASSWORD_ENV.format(name.upper()))}


def role_url(url: str, role: str, password: str | None = None) -> str:
    """The same database as `url`, connecting as `role` (pipeline name or PostgreSQL name)."""
    parts = urlsplit(url)
    user = quote(_pg_role(role), safe="")
    auth = f"{user}:{quote(password, safe='')}" if password else user
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{auth}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


# --------------------------------------------------------------------------- catalogue


def role_grants(url: str, roles: Iterable[str] | None = None) -> set[tuple[str, str, str]]:
    """Every privilege the vigil roles hold in the database at `url`, as (role, object, privilege).

    Objects: ``database``, ``schema:<name>``, ``<schema>.<table>`` (table privileges),
    ``<schema>.<table>.<column>`` (column privileges) and ``default:<owner>:<schema>`` (default
    privileges for tables created later). Ownership appears as privilege ``OWNER``; an owner's own
    (implicit) privileges are not listed. PUBLIC's grants are listed under role ``PUBLIC``.
    """
    import psycopg

    names = set(roles or (*ROLES.values(), OWNER_ROLE)) | {"PUBLIC"}
    queries = (
        # database
        """SELECT coalesce(pg_get_userbyid(NULLIF(a.grantee, 0)), 'PUBLIC'), 'database', a.privilege_type
           FROM pg_database d, aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a
           WHERE d.datname = current_database() AND a.grantee <> d.datdba""",
        # schemas
        """SELECT coalesce(pg_get_userbyid(NULLIF(a.grantee, 0)), 'PUBLIC'), 'schema:' || n.nspname, a.privilege_type
           FROM pg_namespace n, aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) a
           WHERE a.grantee <> n.nspowner AND n.nspname !~ '^(pg_|information_schema$)'""",
        """SELECT pg_get_userbyid(n.nspowner), 'schema:' || n.nspname, 'OWNER' FROM pg_namespace n
           WHERE n.nspname !~ '^(pg_|information_schema$)'""",
        # tables, views
        """SELECT coalesce(pg_get_userbyid(NULLIF(a.grantee, 0)), 'PUBLIC'), n.nspname || '.' || c.relname,
                  a.privilege_type
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace,
                aclexplode(coalesce(c.relacl, acldefault('r', c.relowner))) a
           WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S') AND a.grantee <> c.relowner
             AND n.nspname !~ '^(pg_|information_schema$)'""",
        """SELECT pg_get_userbyid(c.relowner), n.nspname || '.' || c.relname, 'OWNER'
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S') AND n.nspname !~ '^(pg_|information_schema$)'""",
        # columns
        """SELECT coalesce(pg_get_userbyid(NULLIF(a.grantee, 0)), 'PUBLIC'),
                  n.nspname || '.' || c.relname || '.' || att.attname, a.privilege_type
           FROM pg_attribute att JOIN pg_class c ON c.oid = att.attrelid
                JOIN pg_namespace n ON n.oid = c.relnamespace, aclexplode(att.attacl) a
           WHERE att.attacl IS NOT NULL AND NOT att.attisdropped AND n.nspname !~ '^(pg_|information_schema$)'""",
        # default privileges
        """SELECT coalesce(pg_get_userbyid(NULLIF(a.grantee, 0)), 'PUBLIC'),
                  'default:' || pg_get_userbyid(d.defaclrole) || ':' || coalesce(n.nspname, '*'),
                  a.privilege_type
           FROM pg_default_acl d LEFT JOIN pg_namespace n ON n.oid = d.defaclnamespace,
                aclexplode(d.defaclacl) a
           WHERE a.grantee <> d.defaclrole""",
    )
    found: set[tuple[str, str, str]] = set()
    with psycopg.connect(WarehouseUrl.parse(url).dsn, autocommit=True) as con:
        for sql_text in queries:
            found.update((r, o, p) for r, o, p in con.execute(sql_text).fetchall() if r in names)
    return found


# --------------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vigil.store.roles",
        description="Create Vigil's least-privilege warehouse roles and grants (idempotent). Passwords "
                    "come from VIGIL_ROLE_PASSWORD_<ROLE> (LOADER, TRANSFORMER, DISPATCHER, REPORTER, AUDITOR).",
    )
    parser.add_argument("--admin-url", default=os.environ.get(ADMIN_URL_ENV),
                        help=f"postgresql:// URL of a superuser of the warehouse database (default ${ADMIN_URL_ENV})")
    parser.add_argument("--show", action="store_true", help="print the resulting grants")
    args = parser.parse_args(argv)
    if not args.admin_url:
        parser.error(f"--admin-url or {ADMIN_URL_ENV} is required")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    passwords = passwords_from_env()
    files = apply_roles(args.admin_url, passwords=passwords)
    print(f"roles applied ({', '.join(files)}); LOGIN with a password: {', '.join(sorted(passwords)) or 'none'}")
    if args.show:
        for role, obj, priv in sorted(role_grants(args.admin_url)):
            print(f"{role:18} {priv:10} {obj}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
