"""Settings: one place that says where data comes from, where it goes, and which key hides PII.

Precedence: explicit arguments (CLI flags) > environment variables > defaults. Under Airflow the
pseudonymisation key may also come from the connection ``vigil_pseudonymisation`` (its password).
Secrets are never read from code or committed files.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

log = logging.getLogger(__name__)

Mode = Literal["demo", "production"]

#: Keys shorter than this are refused: HMAC-SHA256 is only as strong as its key.
MIN_KEY_BYTES = 32
KEY_ENV = "VIGIL_PSEUDONYMISATION_KEY"
KEY_CONNECTION_ID = "vigil_pseudonymisation"
#: The pipeline's least-privilege warehouse roles (vigil.store.roles maps them to PostgreSQL roles).
WAREHOUSE_ROLES = ("loader", "transformer", "dispatcher", "reporter", "auditor")

#: Drills (docs/drills.md): every synthetic id a drill injects starts with this reserved prefix, so a
#: drill's employee, its accounts and everything made from them (tickets, cases, alerts) are marked.
DRILL_PREFIX = "DRILL-"


def is_drill_id(value: object) -> bool:
    """Is this id (or a compound subject such as ``AD:DRILL-...``) a drill's? Every part separated by
    ':' or '|' is checked, so a case or alert subject built from a drill's ids is one too."""
    if not isinstance(value, str):
        return False
    return any(part.startswith(DRILL_PREFIX) for part in re.split(r"[:|]", value))


def project_dir() -> Path:
    """The Vigil project folder (dbt_project/, expectations/, benchmarks/ beside include/).

    VIGIL_PROJECT_DIR wins (an installed wheel, a container). Otherwise the folder above include/,
    where this file sits in a checkout (include/vigil/config.py)."""
    override = os.environ.get("VIGIL_PROJECT_DIR")
    return Path(override).resolve() if override else Path(__file__).resolve().parents[2]


class ConfigError(RuntimeError):
    """The configuration cannot be used as it stands; the message says what to set."""


def _flag(env: dict[str, str], name: str) -> bool:
    value = env.get(name, "").strip().lower()
    if value in ("", "false", "0"):
        return False
    if value in ("true", "1"):
        return True
    raise ConfigError(f"{name} must be true or false, not {env[name]!r}")


#: URL schemes of a PostgreSQL warehouse; a driver suffix (postgresql+psycopg://) is accepted and dropped.
POSTGRES_SCHEMES = ("postgresql", "postgres")


@dataclass(frozen=True)
class WarehouseUrl:
    """Where the warehouse is, parsed once by the only parser of warehouse URLs (every layer uses it).

    Rules: a plain path (``warehouse/vigil.duckdb``, ``/data/vigil.duckdb``) or ``duckdb:///path``
    (SQLAlchemy's form: ``duckdb:///relative.db``, ``duckdb:////absolute.db``) is DuckDB.
    ``postgresql://`` or ``postgres://``, each with an optional ``+driver`` suffix, is PostgreSQL.
    Schemes are case-insensitive. Anything else (another scheme, an empty string) is a ConfigError
    of one line."""

    kind: Literal["duckdb", "postgres"]
    text: str  # as given (stripped)
    path: Path | None = None  # DuckDB: the file
    dsn: str | None = None  # PostgreSQL: postgresql://... without the driver suffix (psycopg, libpq)

    @classmethod
    def parse(cls, text: str | os.PathLike) -> WarehouseUrl:
        text = str(text).strip()
        if not text:
            raise ConfigError("the warehouse is empty: set VIGIL_WAREHOUSE to a DuckDB file path or a postgresql:// URL")
        if "://" not in text:
            return cls("duckdb", text, path=Path(text))
        scheme, rest = text.split("://", 1)
        base = scheme.lower().split("+", 1)[0]
        if base in POSTGRES_SCHEMES:
            return cls("postgres", text, dsn="postgresql://" + rest)
        if scheme.lower() == "duckdb":
            path = rest[1:] if rest.startswith("/") else rest
            if not path:
                raise ConfigError(f"the warehouse {text!r} names no file: duckdb:///path/to/vigil.duckdb")
            return cls("duckdb", text, path=Path(path))
        raise ConfigError(f"unsupported warehouse URL scheme {scheme!r} in VIGIL_WAREHOUSE: use a DuckDB file path, "
                          f"duckdb:///path or postgresql://")

    @property
    def is_postgres(self) -> bool:
        return self.kind == "postgres"

    @property
    def sqlalchemy_url(self) -> str:
        """For SQLAlchemy (Great Expectations): the psycopg 3 driver, or duckdb:/// with an absolute path."""
        if self.dsn:
            return "postgresql+psycopg://" + self.dsn.split("://", 1)[1]
        return f"duckdb:///{self.path.resolve()}"

    @property
    def display(self) -> str:
        """Safe to print: a PostgreSQL password is replaced by ***."""
        return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", self.text)


@dataclass(frozen=True)
class Settings:
    landing: str = "landing"
    warehouse: str = "warehouse/vigil.duckdb"  # a DuckDB file path, or a postgresql:// URL
    out: Path = Path("vigil_out")
    mode: Mode = "production"
    source: Literal["landing", "sql"] = "landing"
    source_url: str | None = None  # SQLAlchemy URL of the SQL source
    source_queries: Path | None = None  # YAML: {feed: {table: "SELECT ... WHERE d = :feed_date"}}
    pseudonymisation_key: bytes | None = field(default=None, repr=False)
    duckdb_memory_limit: str = "4GB"
    duckdb_threads: int | None = None
    #: Rows breaking a value rule are quarantined (raw._vigil_rejected_rows) while they are at most
    #: this share of a file's rows; above it the file fails. HR key defects always fail.
    quarantine_max_share: float = 0.01
    #: How long the nightly DAG waits for a missing feed folder before failing (0: fail at once).
    feed_wait_seconds: int = 6 * 3600
    #: Table files and feed folders that are symbolic links to a place outside the landing
    #: directory are refused unless this is set (VIGIL_LANDING_ALLOW_SYMLINKS=true).
    landing_allow_symlinks: bool = False
    delivery_config: Path | None = None  # per-system ticket channels (config/delivery.example.yml)
    alerting_config: Path | None = None  # teams, routing and alert channels (config/alerting.example.yml)
    #: A night may start a new, empty warehouse only when this says so (`vigil init`, `vigil run
    #: --create-warehouse`, the demo, tests, benchmarks): a mistyped path must not start a fresh one.
    create_warehouse: bool = False
    #: Least-privilege URL per pipeline role (VIGIL_WAREHOUSE_URL_<ROLE>; see warehouse_for). Holds passwords.
    role_urls: dict[str, str] = field(default_factory=dict, repr=False, hash=False)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides) -> Settings:
        env = dict(os.environ if env is None else env)
        key = env.get(KEY_ENV)
        values = dict(
            landing=env.get("VIGIL_LANDING", cls.landing),
            warehouse=env.get("VIGIL_WAREHOUSE", cls.warehouse),
            out=Path(env.get("VIGIL_OUT", str(cls.out))),
            mode=env.get("VIGIL_MODE", cls.mode),
            source=env.get("VIGIL_SOURCE", cls.source),
            source_url=env.get("VIGIL_SOURCE_URL") or None,
            source_queries=Path(env["VIGIL_SOURCE_QUERIES"]) if env.get("VIGIL_SOURCE_QUERIES") else None,
            pseudonymisation_key=key.encode() if key else None,
            duckdb_memory_limit=env.get("VIGIL_DUCKDB_MEMORY_LIMIT", cls.duckdb_memory_limit),
            duckdb_threads=int(env["VIGIL_DUCKDB_THREADS"]) if env.get("VIGIL_DUCKDB_THREADS") else None,
            quarantine_max_share=float(env.get("VIGIL_QUARANTINE_MAX_SHARE", cls.quarantine_max_share)),
            feed_wait_seconds=int(env.get("VIGIL_FEED_WAIT_SECONDS", cls.feed_wait_seconds)),
            landing_allow_symlinks=_flag(env, "VIGIL_LANDING_ALLOW_SYMLINKS"),
            delivery_config=Path(env["VIGIL_DELIVERY_CONFIG"]) if env.get("VIGIL_DELIVERY_CONFIG") else None,
            alerting_config=Path(env["VIGIL_ALERTING_CONFIG"]) if env.get("VIGIL_ALERTING_CONFIG") else None,
            role_urls={r: env[f"VIGIL_WAREHOUSE_URL_{r.upper()}"] for r in WAREHOUSE_ROLES
                       if env.get(f"VIGIL_WAREHOUSE_URL_{r.upper()}")},
            # the DAG's way to say `--create-warehouse`: a first night that may start the warehouse
            create_warehouse=_flag(env, "VIGIL_CREATE_WAREHOUSE"),
        )
        values.update({k: v for k, v in overrides.items() if v is not None})
        if isinstance(values["out"], str):
            values["out"] = Path(values["out"])
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        WarehouseUrl.parse(self.warehouse)  # a path, duckdb:///, or postgresql://; else a one-line ConfigError
        if self.mode not in ("demo", "production"):
            raise ConfigError(f"VIGIL_MODE must be 'demo' or 'production', not {self.mode!r}")
        if self.source not in ("landing", "sql"):
            raise ConfigError(f"VIGIL_SOURCE must be 'landing' or 'sql', not {self.source!r}")
        if self.source == "sql" and not (self.source_url and self.source_queries):
            raise ConfigError("a SQL source needs VIGIL_SOURCE_URL and VIGIL_SOURCE_QUERIES")
        if not 0 <= self.quarantine_max_share < 1:
            raise ConfigError(f"VIGIL_QUARANTINE_MAX_SHARE must be in [0, 1), not {self.quarantine_max_share}")

    def with_(self, **changes) -> Settings:
        return replace(self, **changes)

    @property
    def warehouse_url(self) -> WarehouseUrl:
        return WarehouseUrl.parse(self.warehouse)

    @property
    def warehouse_is_postgres(self) -> bool:
        return self.warehouse_url.is_postgres

    @property
    def warehouse_display(self) -> str:
        """The warehouse URL safe to print: a PostgreSQL password is replaced by ***."""
        return self.warehouse_url.display

    def warehouse_for(self, role: str) -> str:
        """The URL a step connects with as its least-privilege role (loader, transformer, dispatcher,
        reporter, auditor: vigil.store.roles): role_urls[role] (from VIGIL_WAREHOUSE_URL_<ROLE>) when set
        and the warehouse is PostgreSQL, else the warehouse itself (DuckDB has no roles)."""
        if role not in WAREHOUSE_ROLES:
            raise ValueError(f"unknown warehouse role {role!r}")
        url = self.role_urls.get(role)
        return url if url and self.warehouse_is_postgres else self.warehouse

    @property
    def demo_key_path(self) -> Path:
        return self.out / "demo-pseudonymisation.key"

    def resolve_key(self) -> bytes:
        """The pseudonymisation key, from the environment or Airflow; in demo mode a local one.

        Production never falls back to an unkeyed or generated key: tokens must stay stable and
        secret across nights, so a missing key stops the run before anything is read.
        """
        key = self.pseudonymisation_key or _key_from_airflow_connection()
        if key:
            if len(key) < MIN_KEY_BYTES:
                raise ConfigError(f"{KEY_ENV} must be at least {MIN_KEY_BYTES} bytes long (got {len(key)})")
            return key
        if self.mode == "production":
            raise ConfigError(
                f"no pseudonymisation key: set {KEY_ENV} (at least {MIN_KEY_BYTES} bytes) or the Airflow "
                f"connection '{KEY_CONNECTION_ID}' (password field). Production never runs without one."
            )
        path = self.demo_key_path
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            # Written once and reused, so tokens stay stable across demo nights.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))
            log.warning("DEMO MODE: generated a local pseudonymisation key at %s (never use this in production)", path)
        return path.read_text().strip().encode()


def _key_from_airflow_connection() -> bytes | None:
    """The key from the Airflow connection, when running under Airflow with one configured."""
    if not (os.environ.get("AIRFLOW_CTX_DAG_ID") or os.environ.get(f"AIRFLOW_CONN_{KEY_CONNECTION_ID.upper()}")):
        return None
    try:
        from airflow.sdk import Connection  # heavy: airflow, and only there under Airflow

        password = Connection.get(KEY_CONNECTION_ID).password
    except Exception:  # no such connection: the caller reports the missing key
        return None
    return password.encode() if password else None


def is_loopback(host: str | None) -> bool:
    """Is `host` this machine? (plain http and unencrypted SMTP are allowed only there, for tests)"""
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def airflow_connection_password(conn_id: str) -> str | None:
    """The password of an Airflow connection; None outside Airflow or when there is no such connection
    (the caller says what is missing)."""
    try:
        from airflow.sdk import Connection  # heavy: airflow, and only there under Airflow

        return Connection.get(conn_id).password
    except Exception:
        return None
