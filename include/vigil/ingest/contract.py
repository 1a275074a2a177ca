"""The feed contract: what the bank's source systems deliver, as data.

This module is the single source of truth for feed tables, their columns, types, keys and
allowed values. The readers validate against it, the loader builds raw tables from it, the demo
generator writes to it and docs/feeds.md describes it (a test keeps the two in step).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

ColumnType = Literal["text", "date", "timestamp", "boolean", "integer", "decimal"]
PiiKind = Literal["national_id", "name", "email", "phone"]
TableMode = Literal["snapshot", "incremental"]

FEEDS: tuple[str, ...] = ("hr", "iam", "crm", "complaints", "cases", "incidents")

#: Feeds a bank may not send at all (e.g. no ITSM export): a night without the feed's folder loads
#: nothing for it and goes on; a night with the folder is read under the same strict contract as any
#: feed. Their tables are incremental (a night's events), so a quiet or absent night loses nothing.
OPTIONAL_FEEDS: frozenset[str] = frozenset({"cases", "incidents"})

#: Lineage columns every raw table carries after the contract's own columns.
#: A hire date further than this many days after the feed date is a data error (the reader refuses
#: the file; the raw gate's date_sanity expectation checks the same on what is loaded).
HIRE_DATE_MAX_DAYS_AHEAD = 365

LINEAGE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("_feed_date", "DATE"),
    ("_source_file", "VARCHAR"),
    ("_source_sha256", "VARCHAR"),
    ("_source_line", "BIGINT"),
    ("_loaded_at", "TIMESTAMPTZ"),
    ("_run_id", "VARCHAR"),
)

#: SQL type of each contract type in the raw layer (DuckDB and PostgreSQL both accept these).
SQL_TYPES: dict[str, str] = {
    "text": "VARCHAR",
    "date": "DATE",
    "timestamp": "TIMESTAMPTZ",
    "boolean": "BOOLEAN",
    "integer": "INTEGER",
    "decimal": "DECIMAL(18,2)",
}


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType = "text"
    required: bool = False  # a value must be present (not null)
    values: tuple[str, ...] | None = None  # accepted values, for enumerations
    min_value: int | None = None
    max_value: int | None = None
    pii: PiiKind | None = None  # pseudonymised at load; the raw value never reaches the warehouse
    description: str = ""

    @property
    def warehouse_name(self) -> str:
        """Name in the raw table: PII columns carry a keyed token, and say so in their name."""
        return f"{self.name}_token" if self.pii else self.name

    @property
    def sql_type(self) -> str:
        return "VARCHAR" if self.pii else SQL_TYPES[self.type]


@dataclass(frozen=True)
class Table:
    feed: str
    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    required: bool = True
    mode: TableMode = "snapshot"
    description: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def file_stem(self) -> str:
        return self.name

    @property
    def raw_table(self) -> str:
        """Table name in the warehouse's raw schema, e.g. ``hr__employees``."""
        return f"{self.feed}__{self.name}"

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.feed}/{self.name} has no column {name!r}")

    @property
    def stale_is_suspicious(self) -> bool:
        """An unchanged roster, account list or client book means a stuck extract: each feed's main
        snapshot changes every working day (hires, logins, new clients). An unchanged entitlement
        list, history (ratings, moves) or quiet incremental night is normal, e.g. over a weekend
        at a small bank, and must not hold the night."""
        return (self.feed, self.name) in STUCK_EXTRACT_SENTINELS

    @property
    def allows_header_only(self) -> bool:
        """A snapshot of a required table can never be empty: an empty roster is a source error.

        Incremental tables (new or changed rows only) and optional histories may be quiet.
        """
        return self.mode == "incremental" or not self.required


def _c(name: str, type: ColumnType = "text", **kw) -> Column:
    return Column(name, type, **kw)


EMPLOYMENT_TYPES = ("permanent", "fixed_term", "contractor")
EMPLOYEE_STATUSES = ("active", "notice", "leave", "terminated")
TERMINATION_REASONS = ("resignation", "dismissal", "retirement", "contract_end", "other")
ACCOUNT_STATUSES = ("enabled", "disabled", "locked")
LOGIN_OUTCOMES = ("success", "failure")
CLIENT_SEGMENTS = ("retail", "private", "corporate", "institutional")
CLIENT_STATUSES = ("active", "closed")
COMPLAINT_CHANNELS = ("phone", "branch", "online", "letter", "email", "regulator", "media")
COMPLAINT_CATEGORIES = ("fraud", "credit_dispute", "mis_selling", "fees", "service", "data_privacy", "other")
COMPLAINT_STATUSES = ("open", "in_progress", "resolved", "closed")
COMPLAINT_OUTCOMES = ("upheld", "partially_upheld", "rejected", "withdrawn")
#: A key-complainant contact (complaints/contacts.csv): how, and whether the complainant was reached.
CONTACT_CHANNELS = ("phone", "email", "letter", "branch", "video")
CONTACT_OUTCOMES = ("reached", "left_message", "no_answer")
#: The customer-service emergency plan's incident register (incidents/incidents.csv).
INCIDENT_KINDS = ("natural_disaster", "cyber", "internal_failure", "public_health", "other")
INCIDENT_LOCATION_TYPES = ("branch", "region", "channel", "bank_wide")
INCIDENT_SEVERITIES = ("low", "medium", "high", "critical")
#: What an ITSM reports back on one of Vigil's cases (docs/cases.md).
CASE_EVENTS = ("acknowledged", "assigned", "action_taken", "resolved", "reopened", "contacted")

#: Each snapshot feed's main table: re-delivered byte for byte, it means the extract is stuck.
STUCK_EXTRACT_SENTINELS = frozenset({("hr", "employees"), ("iam", "accounts"), ("crm", "clients")})

TABLES: tuple[Table, ...] = (
    # ---------------------------------------------------------------- HR
    Table(
        "hr",
        "employees",
        (
            _c("employee_id", required=True),
            _c("full_name", pii="name"),
            _c("national_id", pii="national_id"),
            _c("email", pii="email"),
            _c("department"),
            _c("position"),
            _c("manager_id"),
            _c("employment_type", required=True, values=EMPLOYMENT_TYPES),
            _c("hire_date", "date", required=True),
            _c("contract_end_date", "date"),
            _c("status", required=True, values=EMPLOYEE_STATUSES),
            _c("notice_date", "date"),
            _c("termination_date", "date"),
            _c("termination_reason", values=TERMINATION_REASONS),
        ),
        key=("employee_id",),
        description="Full snapshot of every employee the bank has on record at the end of day D.",
    ),
    Table(
        "hr",
        "performance",
        (
            _c("employee_id", required=True),
            _c("period_end", "date", required=True),
            _c("rating", "integer", required=True, min_value=1, max_value=5),
        ),
        key=("employee_id", "period_end"),
        required=False,
        description="Full history of performance ratings (1 = lowest, 5 = highest).",
    ),
    Table(
        "hr",
        "job_changes",
        (
            _c("employee_id", required=True),
            _c("effective_date", "date", required=True),
            _c("old_department"),
            _c("new_department"),
            _c("old_position"),
            _c("new_position"),
        ),
        key=("employee_id", "effective_date"),
        required=False,
        description="Full history of moves between departments or positions.",
    ),
    Table(
        "hr",
        "assets",
        (
            _c("asset_id", required=True),
            _c("employee_id", required=True),
            _c("asset_type", required=True),
            _c("issued_date", "date", required=True),
            _c("returned_date", "date"),
        ),
        key=("asset_id",),
        required=False,
        description="Every asset issued (laptops, tokens, badges, phones) and when it came back.",
    ),
    # ---------------------------------------------------------------- IAM
    Table(
        "iam",
        "accounts",
        (
            _c("account_id", required=True),
            _c("system", required=True),
            _c("username"),
            _c("employee_id", description="null = no owner known"),
            _c("status", required=True, values=ACCOUNT_STATUSES),
            _c("is_privileged", "boolean", required=True),
            _c("created_at", "timestamp"),
            _c("last_login_at", "timestamp"),
            _c("disabled_at", "timestamp"),
        ),
        key=("system", "account_id"),
        description="Full snapshot of accounts in every connected system.",
    ),
    Table(
        "iam",
        "entitlements",
        (
            _c("system", required=True),
            _c("account_id", required=True),
            _c("entitlement", required=True),
            _c("is_privileged", "boolean", required=True),
            _c("granted_at", "timestamp"),
        ),
        key=("system", "account_id", "entitlement"),
        description="Full snapshot of entitlements (roles, groups, permissions) held by accounts.",
    ),
    Table(
        "iam",
        "logins",
        (
            _c("system", required=True),
            _c("account_id", required=True),
            _c("login_at", "timestamp", required=True),
            _c("outcome", required=True, values=LOGIN_OUTCOMES),
        ),
        key=("system", "account_id", "login_at"),
        required=False,
        mode="incremental",
        description="Login events during day D (incremental: a quiet night may be header-only).",
    ),
    # ---------------------------------------------------------------- CRM
    Table(
        "crm",
        "clients",
        (
            _c("client_id", required=True),
            _c("client_name", pii="name"),
            _c("segment", required=True, values=CLIENT_SEGMENTS),
            _c("rm_employee_id"),
            _c("status", required=True, values=CLIENT_STATUSES),
            _c("opened_date", "date"),
            _c("closed_date", "date"),
            _c("aum", "decimal"),
        ),
        key=("client_id",),
        description="Full snapshot of clients and their current relationship manager.",
    ),
    Table(
        "crm",
        "rm_assignments",
        (
            _c("client_id", required=True),
            _c("rm_employee_id", required=True),
            _c("start_date", "date", required=True),
            _c("end_date", "date"),
        ),
        key=("client_id", "start_date"),
        required=False,
        description="Full history of which relationship manager served which client, and when.",
    ),
    # ---------------------------------------------------------------- complaints
    Table(
        "complaints",
        "complaints",
        (
            _c("complaint_id", required=True),
            _c("complainant_id", required=True),
            _c("received_at", "timestamp", required=True),
            _c("updated_at", "timestamp", required=True),
            _c("channel", required=True, values=COMPLAINT_CHANNELS),
            _c("category", required=True, values=COMPLAINT_CATEGORIES),
            _c("product"),
            _c("branch_id"),
            _c("employee_id", description="the employee complained about, may be null"),
            _c("status", required=True, values=COMPLAINT_STATUSES),
            _c("resolved_at", "timestamp"),
            _c("outcome", values=COMPLAINT_OUTCOMES),
            _c("escalated_externally", "boolean"),
            _c("satisfaction", "integer", min_value=1, max_value=5),
            _c("amount", "decimal"),
        ),
        key=("complaint_id", "updated_at"),
        mode="incremental",
        description="New or changed complaints; across nights the row with the latest updated_at wins.",
    ),
    Table(
        "complaints",
        "complainants",
        (
            _c("complainant_id", required=True),
            _c("full_name", pii="name"),
            _c("national_id", pii="national_id"),
            _c("phone", pii="phone"),
            _c("client_id"),
            _c("insider_link", "boolean"),
        ),
        key=("complainant_id",),
        required=False,
        mode="incremental",
        description="New or changed complainants; across nights the latest delivery wins.",
    ),
    Table(
        "complaints",
        "contacts",
        (
            _c("contact_id", required=True, description="the complaints system's id of this contact; unique"),
            _c("complainant_id", required=True),
            _c("contacted_at", "timestamp", required=True),
            _c("channel", required=True, values=CONTACT_CHANNELS),
            _c("outcome", required=True, values=CONTACT_OUTCOMES,
               description="`reached` and `left_message` keep the contact cadence; `no_answer` does not"),
            _c("handler_id", description="staff id of the handler (an employee_id, like every staff id)"),
        ),
        key=("contact_id",),
        required=False,
        mode="incremental",
        description="Contacts with complainants logged during day D (key-complainant handling); "
                    "a contact id already loaded is replaced by its latest delivery.",
    ),
    # ---------------------------------------------------------------- cases (optional: the ITSM's export)
    Table(
        "cases",
        "case_events",
        (
            _c("event_id", required=True, description="the ITSM's id of this event; unique"),
            _c("case_id", description="Vigil's case id (`VCS-` + 32 hex) as Vigil sent it"),
            _c("itsm_ref", description="the ITSM's own reference of the case (a row names case_id, itsm_ref or both)"),
            _c("event", required=True, values=CASE_EVENTS),
            _c("event_at", "timestamp", required=True, description="when the event happened in the ITSM"),
            _c("actor_id", description="staff id of the person who acted (an employee_id, like every staff id)"),
            _c("outcome", description="free text or the ITSM's resolution code; for `contacted` (a contact with "
                                      "the complainant of a `complainant_handling` case): `reached` or `left_message` "
                                      "keep the contact cadence, as does an empty outcome (a contact logged without "
                                      "one); `no_answer` or any other outcome is logged but does not"),
            _c("channel", values=CONTACT_CHANNELS, description="for `contacted`: how the complainant was contacted "
                                                               "(optional; empty for other events)"),
        ),
        key=("event_id",),
        required=False,
        mode="incremental",
        description="Events on Vigil's cases from the bank's ITSM (optional feed): new events only; "
                    "an event id already loaded is replaced by its latest delivery.",
    ),
    # ---------------------------------------------------------------- incidents (optional: the register)
    Table(
        "incidents",
        "incidents",
        (
            _c("incident_id", required=True),
            _c("kind", required=True, values=INCIDENT_KINDS),
            _c("started_at", "timestamp", required=True, description="when the incident began"),
            _c("reported_at", "timestamp", required=True, description="when it was reported to the emergency team"),
            _c("location_type", required=True, values=INCIDENT_LOCATION_TYPES),
            _c("location", description="branch_id, region (seed branch_regions) or complaint channel; empty for `bank_wide`"),
            _c("services_affected", description="free text, e.g. `cards, online banking`"),
            _c("customers_affected", "integer", min_value=0, max_value=100_000_000, description="initial estimate"),
            _c("severity", required=True, values=INCIDENT_SEVERITIES),
            _c("activated_at", "timestamp", description="when the emergency plan was activated"),
            _c("restored_at", "timestamp", description="when service was restored"),
            _c("post_review_at", "timestamp", description="when the post-event review was completed"),
            _c("effectiveness", "integer", min_value=1, max_value=5, description="the review's effectiveness rating"),
        ),
        key=("incident_id",),
        required=False,
        mode="incremental",
        description="New or changed incidents of the customer-service emergency plan (optional feed): "
                    "across nights the latest delivery of an incident wins, so later events "
                    "(activation, restoration, review) arrive as a re-delivered row.",
    ),
)

TABLES_BY_FEED: dict[str, tuple[Table, ...]] = {f: tuple(t for t in TABLES if t.feed == f) for f in FEEDS}


def table(feed: str, name: str) -> Table:
    for t in TABLES_BY_FEED.get(feed, ()):
        if t.name == name:
            return t
    raise KeyError(f"the feed contract has no table {feed}/{name}")


def raw_table_ddl(t: Table, schema: str = "raw") -> str:
    """CREATE TABLE statement for a raw table (portable between DuckDB and PostgreSQL)."""
    cols = [f"    {c.warehouse_name} {c.sql_type}" for c in t.columns]
    cols += [f"    {name} {sql_type}" for name, sql_type in LINEAGE_COLUMNS]
    return f"CREATE TABLE IF NOT EXISTS {schema}.{t.raw_table} (\n" + ",\n".join(cols) + "\n)"


def render_markdown() -> str:
    """The per-table reference of docs/feeds.md, rendered from this module (a test keeps them equal)."""
    out: list[str] = []
    for feed in FEEDS:
        out.append(f"### `{feed}/`\n")
        for t in TABLES_BY_FEED[feed]:
            kind = "required" if t.required else "optional"
            empty = "may be header-only" if t.allows_header_only else "never empty"
            out.append(f"#### `{t.name}.csv` — {kind}, {t.mode}, {empty}; key: {', '.join(t.key)}\n")
            out.append(f"{t.description}\n")
            out.append("| column | type | rules | in the warehouse |")
            out.append("|---|---|---|---|")
            for c in t.columns:
                rules = []
                if c.required:
                    rules.append("required")
                if c.values:
                    rules.append("one of " + ", ".join(f"`{v}`" for v in c.values))
                if c.min_value is not None:
                    rules.append(f"{c.min_value}–{c.max_value}")
                if c.description:
                    rules.append(c.description)
                where = f"`{c.warehouse_name}` (keyed HMAC token: {c.pii})" if c.pii else f"`{c.name}`"
                out.append(f"| `{c.name}` | {c.type} | {'; '.join(rules)} | {where} |")
            out.append("")
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":  # python -m vigil.ingest.contract > section of docs/feeds.md
    print(render_markdown(), end="")
