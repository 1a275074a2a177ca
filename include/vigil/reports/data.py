"""What the quarterly review pack shows, gathered by SQL from the warehouse (DuckDB or PostgreSQL).

Everything is selected by the quarter's dates, never "the latest":

* the pack's **as-of night** A is the quarter's last published night: the latest slice of
  ``publish.pub_review_findings`` dated within the quarter (A = the quarter's last day once the
  quarter is over and its last night ran; earlier while it is still running: a provisional pack);
* findings, access certification, KPI figures and complainant tiers come from slices dated A
  (``publish.pub_review_*``, ``marts.fct_kpi_scorecard_history``,
  ``marts.fct_complainant_risk_tier_history``), which later nights never change;
* dated events (revocations, complaints) are counted up to A and only when known on A
  (``revoked_on`` / ``first_feed_date`` on or before A);
* run evidence and data-quality results are the quarter's nights up to A (``raw._vigil_loads``,
  ``audit.audit_log``, ``audit.dq_results``).

So rebuilding a past quarter's pack after more nights were loaded gives the same numbers. Only
pseudonymous ids leave the warehouse; usernames (``marts.dim_accounts``) are added only for a
viewer role listed in ``VIGIL_REVIEW_IDENTIFIED_ROLES``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from vigil.reports.quarter import Quarter
from vigil.store.warehouse import Warehouse
from vigil.build.dbt_runner import DBT_PROJECT_DIR

#: Comma-separated viewer roles allowed to see usernames next to account ids (default: none).
IDENTIFIED_ROLES_ENV = "VIGIL_REVIEW_IDENTIFIED_ROLES"

#: Rows per list in the PDF (the XLSX always has every row); certification lists every manager.
PDF_ROW_LIMIT = 300
PDF_CERTIFICATION_ROW_LIMIT = 3000

KPI_ORDER = (
    "revocation_timeliness", "mean_hours_to_revoke", "mean_hours_to_revoke_change", "mean_hours_to_revoke_vs_baseline",
    "post_termination_logins", "post_termination_logins_change", "asset_return", "handover_completion", "rm_departure_churn",
    "complaint_resolution_rate", "complaint_deadline_breach_rate", "complaint_median_days_to_resolve",
    "complaint_satisfaction", "complaints_per_1000_clients", "cross_department_completion",
    "time_to_verified_closure_days", "time_to_verified_closure_days_vs_baseline",
    "contact_cadence_kept_high", "contact_cadence_kept_medium", "complainant_resolution_rate_high",
    "complainant_resolution_rate_medium", "complainant_resolution_rate_low", "complainant_satisfaction_high",
    "complainant_satisfaction_medium", "complainant_satisfaction_low", "reputational_escalations",
    "incident_timeliness",
)
KPI_TITLES = {
    "revocation_timeliness": "Revocation timeliness",
    "mean_hours_to_revoke": "Mean hours to revoke",
    "mean_hours_to_revoke_change": "Hours to revoke, change vs previous quarter",
    "mean_hours_to_revoke_vs_baseline": "Hours to revoke, change vs the baseline period",
    "post_termination_logins": "Post-termination logins",
    "post_termination_logins_change": "Post-termination logins, change vs previous quarter",
    "asset_return": "Asset return on time",
    "handover_completion": "Client handover on time",
    "rm_departure_churn": "Churn after RM departure",
    "complaint_resolution_rate": "Complaint resolution rate",
    "complaint_deadline_breach_rate": "Complaint deadline breach rate",
    "complaint_median_days_to_resolve": "Median days to resolve a complaint",
    "complaint_satisfaction": "Complainant satisfaction (1-5)",
    "complaints_per_1000_clients": "Complaints per 1,000 clients",
    "cross_department_completion": "Cross-department completion (cases within SLA)",
    "time_to_verified_closure_days": "Mean days to verified closure (cases)",
    "time_to_verified_closure_days_vs_baseline": "Days to verified closure, change vs the baseline period",
    "contact_cadence_kept_high": "Key-complainant contacts on time (high)",
    "contact_cadence_kept_medium": "Key-complainant contacts on time (medium)",
    "complainant_resolution_rate_high": "Resolution rate, high-tier complainants",
    "complainant_resolution_rate_medium": "Resolution rate, medium-tier complainants",
    "complainant_resolution_rate_low": "Resolution rate, low-tier complainants",
    "complainant_satisfaction_high": "Satisfaction (1-5), high-tier complainants",
    "complainant_satisfaction_medium": "Satisfaction (1-5), medium-tier complainants",
    "complainant_satisfaction_low": "Satisfaction (1-5), low-tier complainants",
    "reputational_escalations": "Escalations to a regulator or the media",
    "incident_timeliness": "Incident steps within the emergency plan's targets",
}

EXCEPTION_KINDS = (
    "orphan_account", "dormant_account", "post_termination_login", "access_creep", "sod_conflict", "asset_overdue",
    "asset_returned_late", "handover_overdue", "handover_late", "rm_departure_churn",
)
EXCEPTION_TITLES = {
    "orphan_account": "Orphan accounts (AL-04)",
    "dormant_account": "Dormant accounts (AL-05)",
    "post_termination_login": "Post-termination logins reported in the quarter (AL-03)",
    "access_creep": "Access creep (AL-06)",
    "sod_conflict": "Segregation-of-duties conflicts (AL-07)",
    "asset_overdue": "Unreturned assets, overdue (AL-08)",
    "asset_returned_late": "Assets returned late (AL-08)",
    "handover_overdue": "Overdue client handovers (AL-09)",
    "handover_late": "Client handovers completed late (AL-09)",
    "rm_departure_churn": "Churn after RM departure (AL-10)",
}
TIERS = ("high", "medium", "low", "not tiered")
PRIORITIES = ("P1", "P2", "P3")

#: (bucket label, upper bound in hours, exclusive); revocations during notice are negative.
REVOCATION_BUCKETS = (
    ("during notice (before termination)", 0),
    ("0-24 h", 24),
    ("24-48 h", 48),
    ("2-7 days", 168),
    ("over 7 days", None),
)

#: (rule, what it decides, the dbt vars that parameterise it)
RULES = (
    ("AL-01", "Leavers' enabled accounts: revoke by the due day (privileged/critical the termination day)",
     ("revocation_due_days_privileged", "revocation_due_days_standard")),
    ("AL-02", "Privileged entitlements of employees serving notice: freeze by the notice day",
     ("notice_privilege_due_days",)),
    ("AL-03", "Logins after the owner's termination date", ("post_termination_include_failed_logins",)),
    ("AL-04", "Orphan accounts: enabled, no valid owner (service accounts excluded)",
     ("service_account_prefixes", "service_accounts")),
    ("AL-05", "Dormant accounts: no activity for more than N days", ("dormant_after_days",)),
    ("AL-06", "Access creep: rights kept after a move that new peers lack", ("access_creep_lookback_days",)),
    ("AL-07", "Segregation-of-duties toxic pairs (seed sod_toxic_pairs)", ()),
    ("AL-08", "Leavers' assets back by termination + grace days", ("asset_return_grace_days",)),
    ("AL-09", "Departed RM's clients handed over within N business days", ("handover_business_days",)),
    ("AL-10", "Clients closed within N days of their RM's termination", ("churn_window_days",)),
    ("AL-11", "Revocation history (timeliness KPI, time to revoke)", ()),
    ("AC-01", "Quarterly access certification: privileged entitlements of active employees, per manager", ()),
    ("DR-01", "Departure risk tiers", ("departure_tier_high", "departure_tier_medium")),
    ("CT-01", "Complainant risk tiers and recommended handling",
     ("complainant_window_days", "complainant_tier_high", "complainant_tier_medium")),
    ("CH-01", "Complaint response deadlines", ("complaint_response_days", "complaint_max_extension_days")),
    ("CH-02", "Complaint surges per branch and category",
     ("surge_baseline_days", "surge_recent_days", "surge_weekday_weeks", "surge_multiplier", "surge_min_complaints",
      "surge_report_days")),
    ("KPI", "Scorecard targets and RAG bands (seed kpi_targets)",
     ("kpi_months", "kpi_quarters", "kpi_years", "response_baseline_start", "response_baseline_end",
      "review_window_days")),
)


class ReviewDataError(LookupError):
    """The warehouse holds nothing for the quarter asked for (or lacks the tables the pack reads)."""


@dataclass
class Table:
    """One table of the pack: one XLSX sheet (``name``) and one table in the PDF."""

    name: str  # sheet name: at most 31 characters, unique
    title: str
    columns: list[str]
    rows: list[tuple]
    note: str = ""

    def __post_init__(self):
        if len(self.name) > 31:
            raise ValueError(f"sheet name longer than 31 characters: {self.name!r}")


@dataclass
class ReviewData:
    quarter: Quarter
    as_of: dt.date
    complete: bool
    engine: str
    run_id: str
    generated_at: dt.datetime
    viewer_role: str | None
    identified: bool
    facts: list[tuple[str, str]] = field(default_factory=list)  # cover: (label, value)
    tables: dict[str, Table] = field(default_factory=dict)
    kpi_meta: dict[str, dict] = field(default_factory=dict)  # kpi -> unit, direction
    policy_version: str | None = None
    opening_tier_date: dt.date | None = None
    history_start: dt.date | None = None
    #: why this pack is marked TEST DATA (built from Vigil's generated demo feeds); None: real data
    test_data: str | None = None

    def add(self, table: Table) -> Table:
        if table.name in self.tables:
            raise ValueError(f"duplicate sheet {table.name!r}")
        self.tables[table.name] = table
        return table

    def counts(self) -> dict[str, int]:
        return {name: len(t.rows) for name, t in self.tables.items()}


def identified_roles(env: dict[str, str] | None = None) -> frozenset[str]:
    raw = (os.environ if env is None else env).get(IDENTIFIED_ROLES_ENV, "")
    return frozenset(r.strip() for r in raw.split(",") if r.strip())


def last_published_night(warehouse_url: str, quarter: Quarter) -> dt.date | None:
    """The quarter's last night with a published review slice (None: none yet, or no such table)."""
    wh = Warehouse.open(warehouse_url)
    with wh.connection() as con:
        if "publish.pub_review_findings" not in set(wh.list_tables(con, ("publish",))):
            return None
        return _d(wh.scalar(con, "SELECT max(snapshot_date) FROM publish.pub_review_findings "
                                 "WHERE snapshot_date BETWEEN %s AND %s", (quarter.start, quarter.end)))


def dbt_vars() -> dict:
    """The policy vars of dbt_project.yml (the project the warehouse was built with)."""
    import yaml

    path = Path(DBT_PROJECT_DIR) / "dbt_project.yml"
    if not path.exists():
        return {}
    return (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("vars") or {}


def kpi_definitions() -> dict[str, dict[str, dict]]:
    """kpi -> period_type -> the row of the seed kpi_targets (target, direction, amber_band, unit,
    formula, numerator, denominator): the one source of the KPI definitions the pack prints."""
    import csv

    path = Path(DBT_PROJECT_DIR) / "seeds" / "risk" / "kpi_targets.csv"
    if not path.exists():
        return {}
    out: dict[str, dict[str, dict]] = {}
    with path.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            out.setdefault(row["kpi"], {})[row["period_type"]] = row
    return out


TEST_DATA_LABEL = "TEST DATA (Vigil demo feeds)"

#: Left by ``vigil demo-data`` beside the feeds it generates (docs/demo-data.md).
DEMO_MARKER = Path("_demo") / "planted.json"
DEMO_KEY_NAME = "demo-pseudonymisation.key"


def test_data_evidence(*, out: Path | None = None, landing: str | os.PathLike | None = None,
                       env: dict[str, str] | None = None) -> str | None:
    """Why the pack's data is test data (Vigil's generated demo feeds, with their planted
    canaries), or None. Evidence: the landing the nights read holds the demo generator's
    ``_demo/planted.json``; the output folder holds the key demo mode generates; VIGIL_MODE=demo."""
    env = os.environ if env is None else env
    landing = landing if landing is not None else env.get("VIGIL_LANDING")
    if landing and (Path(landing) / DEMO_MARKER).is_file():
        return f"the nights loaded Vigil's generated demo feeds ({Path(landing) / DEMO_MARKER})"
    if out is not None and (Path(out) / DEMO_KEY_NAME).is_file():
        return f"the warehouse was built in demo mode ({Path(out) / DEMO_KEY_NAME})"
    if env.get("VIGIL_MODE", "").strip().lower() == "demo":
        return "VIGIL_MODE=demo"
    return None


class _Reader:
    """One read-only connection: which tables are there, and the warehouse's row readers on it."""

    def __init__(self, wh: Warehouse, con):
        self.wh, self.con = wh, con
        self.tables = set(wh.list_tables(con, ("publish", "marts", "audit", "raw", "staging")))

    def has(self, *tables: str) -> bool:
        return all(t in self.tables for t in tables)

    def rows(self, sql: str, params=()) -> list[tuple]:
        return self.wh.fetchall(self.con, sql, params)

    def dicts(self, sql: str, params=()) -> list[dict]:
        return self.wh.rows(self.con, sql, params)

    def scalar(self, sql: str, params=()):
        return self.wh.scalar(self.con, sql, params)


def _d(value) -> dt.date | None:
    """A date from a DATE column (PostgreSQL/DuckDB give dates; be lenient with timestamps)."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    return value


def _num(value):
    if value is None:
        return None
    if isinstance(value, Decimal):
        return float(value)
    return value


def _sort_key(*values):
    """A total order on mixed None/str/number/date values, identical on both engines."""
    return tuple((v is None, "" if v is None else (v if not isinstance(v, str) else v)) for v in values)


def gather(warehouse_url: str, quarter: Quarter, *, run_id: str, viewer_role: str | None = None,
           generated_at: dt.datetime | None = None, env: dict[str, str] | None = None,
           test_data: str | None = None) -> ReviewData:
    """Read everything the pack shows for `quarter` (see the module docstring)."""
    wh = Warehouse.open(warehouse_url)
    identified = bool(viewer_role) and viewer_role in identified_roles(env)
    with wh.connection() as con:
        r = _Reader(wh, con)
        needed = ("publish.pub_review_findings", "publish.pub_review_access_certification",
                  "marts.fct_kpi_scorecard_history", "marts.fct_complainant_risk_tier_history")
        missing = [t for t in needed if not r.has(t)]
        if missing:
            raise ReviewDataError(
                f"the warehouse has no {', '.join(missing)}: run at least one night with this version of Vigil "
                f"(vigil run) before building a review pack")
        as_of = _d(r.scalar("SELECT max(snapshot_date) FROM publish.pub_review_findings "
                            "WHERE snapshot_date BETWEEN %s AND %s", (quarter.start, quarter.end)))
        if as_of is None:
            raise ReviewDataError(
                f"no published night of {quarter.label} ({quarter.start} .. {quarter.end}) in the warehouse: "
                f"nothing to review. Run the quarter's nights first (vigil run / backfill).")
        data = ReviewData(
            quarter=quarter, as_of=as_of, complete=as_of >= quarter.end,
            engine="postgresql" if type(wh).__name__.startswith("Postgres") else "duckdb",
            run_id=run_id, generated_at=generated_at or dt.datetime.now(dt.timezone.utc),
            viewer_role=viewer_role, identified=identified, test_data=test_data,
        )
        variables = dbt_vars()
        data.policy_version = str(variables.get("policy_version", "")) or None
        usernames = _usernames(r) if identified else {}
        _runs(r, data)
        _kpis(r, data)
        _leavers(r, data, usernames)
        _exceptions(r, data, usernames)
        _tiers(r, data)
        _complaints(r, data, variables)
        _handling_and_incidents(r, data)
        _certification(r, data, usernames)
        _data_quality(r, data)
        _methodology(r, data, variables)
        _response(r, data)
        _drills(r, data)
    _cover_facts(data)
    return data


# --------------------------------------------------------------------------- sections


def _usernames(r: _Reader) -> dict[tuple[str, str], str]:
    if not r.has("marts.dim_accounts"):
        return {}
    return {(s, a): u for s, a, u in r.rows("SELECT system, account_id, username FROM marts.dim_accounts") if u}


def _runs(r: _Reader, data: ReviewData) -> None:
    q, a = data.quarter, data.as_of
    nights: dict[dt.date, dict] = defaultdict(lambda: {"run_id": None, "status": "not published", "files": 0,
                                                        "rows": 0, "stale": 0, "expectations": 0,
                                                        "failed_critical": 0, "failed_warning": 0})
    if r.has("raw._vigil_loads"):
        data.history_start = _d(r.scalar("SELECT min(feed_date) FROM raw._vigil_loads"))
        for night, files, rows, stale in r.rows(
                "SELECT feed_date, count(*), sum(row_count), sum(CASE WHEN stale THEN 1 ELSE 0 END) "
                "FROM raw._vigil_loads WHERE feed_date BETWEEN %s AND %s GROUP BY feed_date", (q.start, a)):
            n = nights[_d(night)]
            n.update(files=int(files), rows=int(rows or 0), stale=int(stale or 0))
    if r.has("audit.audit_log"):
        events = r.rows("SELECT run_date, event, details FROM audit.audit_log WHERE run_date BETWEEN %s AND %s "
                        "AND event IN ('published', 'breaker_hold', 'breaker_released') ORDER BY run_date, occurred_at",
                        (q.start, a))
        seen: dict[dt.date, set] = defaultdict(set)
        part_held: dict[dt.date, bool] = {}
        for night, event, details in events:
            night = _d(night)
            seen[night].add(event)
            if event == "published":
                try:
                    published = json.loads(details)
                    nights[night]["run_id"] = published.get("run_id")
                    part_held[night] = bool(published.get("held"))  # a breaker held part of it (vigil.gates.breakers.SCOPES)
                except (TypeError, ValueError, AttributeError):
                    pass
        for night, evs in seen.items():
            if "published" in evs and part_held.get(night):
                status = "published, part held by a breaker"
            elif "published" in evs:
                status = "published after approval" if "breaker_released" in evs else "published"
            elif "breaker_hold" in evs:
                status = "held by a breaker"
            else:
                status = "not published"
            nights[night]["status"] = status
    if r.has("audit.dq_results"):
        for night, n_exp, crit, warn in r.rows(
                "SELECT run_date, count(*), "
                "sum(CASE WHEN NOT success AND severity = 'critical' THEN 1 ELSE 0 END), "
                "sum(CASE WHEN NOT success AND severity = 'warning' THEN 1 ELSE 0 END) "
                "FROM audit.dq_results WHERE run_date BETWEEN %s AND %s GROUP BY run_date", (q.start, a)):
            nights[_d(night)].update(expectations=int(n_exp), failed_critical=int(crit or 0),
                                     failed_warning=int(warn or 0))
    rows = [(night, n["run_id"], n["status"], n["files"], n["rows"], n["stale"], n["expectations"],
             n["failed_critical"], n["failed_warning"]) for night, n in sorted(nights.items())]
    data.add(Table("Runs", "Run evidence: the quarter's nights",
                   ["night", "run_id", "status", "files_loaded", "rows_loaded", "stale_files", "expectations",
                    "failed_critical", "failed_warning"], rows,
                   note="One row per night with any evidence (files loaded, gates, publish). The run id is the "
                        "run that published the night; gate results are that night's last run."))


#: Status of a change KPI (unit ``change``: relative to the previous period) whose previous period
#: is zero or has no value: no baseline to compare with, so no value and no RAG colour.
NO_BASELINE = "no_baseline"
NO_BASELINE_TEXT = "n/a (no baseline)"


def no_baseline(unit: str | None, denominator) -> bool:
    """A change KPI (numerator = this period - previous, denominator = previous) without a baseline."""
    return unit == "change" and (denominator is None or float(denominator) == 0)


def _kpis(r: _Reader, data: ReviewData) -> None:
    q = data.quarter
    slice_date = _d(r.scalar("SELECT max(as_of_date) FROM marts.fct_kpi_scorecard_history WHERE as_of_date <= %s "
                             "AND as_of_date >= %s", (data.as_of, q.start)))
    rows = r.dicts(
        "SELECT kpi, period_type, period_start, period_label, is_complete, value, numerator, denominator, target, "
        "status, policy_version FROM marts.fct_kpi_scorecard_history WHERE as_of_date = %s", (slice_date,)) \
        if slice_date else []
    meta: dict[str, dict] = {}
    if r.has("publish.pub_kpi_scorecard"):
        for m in r.dicts("SELECT DISTINCT kpi, period_type, unit, direction, amber_band FROM publish.pub_kpi_scorecard"):
            meta.setdefault(m["kpi"], {})[m["period_type"]] = m
    elif r.has("staging.kpi_targets"):
        for m in r.dicts("SELECT kpi, period_type, unit, direction, amber_band FROM staging.kpi_targets"):
            meta.setdefault(m["kpi"], {})[m["period_type"]] = m
    definitions = kpi_definitions()
    for kpi, per_type in definitions.items():  # the seed file: units of KPIs not reported yet, and the definitions
        for ptype, d in per_type.items():
            meta.setdefault(kpi, {}).setdefault(ptype, {"kpi": kpi, "period_type": ptype, "unit": d.get("unit"),
                                                        "direction": d.get("direction")})
    data.kpi_meta = {k: dict(v.get("quarter") or v.get("month") or {}) for k, v in meta.items()}

    def order(kpi: str):
        return (KPI_ORDER.index(kpi) if kpi in KPI_ORDER else len(KPI_ORDER), kpi)

    months = set(q.months)
    scorecard, trend = [], []
    for row in sorted(rows, key=lambda x: (order(x["kpi"]), x["period_type"] != "quarter", _d(x["period_start"]))):
        start = _d(row["period_start"])
        unit = (meta.get(row["kpi"], {}).get(row["period_type"]) or {}).get("unit")
        value, status = _num(row["value"]), row["status"]
        if no_baseline(unit, row["denominator"]):
            value, status = None, NO_BASELINE
        in_quarter = (row["period_type"] == "quarter" and start == q.start) or \
                     (row["period_type"] == "month" and start in months)
        if in_quarter:
            scorecard.append((row["kpi"], row["period_label"], value, _num(row["target"]), status))
        if start <= q.end:
            trend.append((row["kpi"], row["period_type"], row["period_label"], value, _num(row["target"]),
                          status, _num(row["numerator"]), _num(row["denominator"]), unit,
                          bool(row["is_complete"])))
    data.add(Table("KPIs", "KPI scorecard", ["kpi", "period", "value", "target", "status"], scorecard,
                   note=f"As reported on {slice_date} (marts.fct_kpi_scorecard_history). Status: green at or "
                        f"better than target, amber within the band, red beyond it; no_target: informational; "
                        f"no_data: nothing to measure; {NO_BASELINE}: a change against a previous period that "
                        f"was zero or empty, shown as {NO_BASELINE_TEXT}."))
    data.add(Table("KPI trend", "KPI history: every month and quarter reported on the as-of night",
                   ["kpi", "period_type", "period", "value", "target", "status", "numerator", "denominator", "unit",
                    "is_complete"], trend))
    reported = {row[0] for row in scorecard}
    kpis = sorted(set(definitions) | reported, key=order)
    defs = []
    for kpi in kpis:
        per_type = definitions.get(kpi, {})
        any_row = per_type.get("quarter") or per_type.get("month") or {}
        direction = any_row.get("direction") or (data.kpi_meta.get(kpi) or {}).get("direction")
        defs.append((
            kpi, KPI_TITLES.get(kpi, kpi), _periods_text(p for p in ("month", "quarter", "year") if p in per_type),
            any_row.get("formula") or None, any_row.get("numerator") or None, any_row.get("denominator") or None,
            {"higher": "higher is better", "lower": "lower is better"}.get(direction, direction),
            any_row.get("unit") or (data.kpi_meta.get(kpi) or {}).get("unit"),
            _target_text(per_type.get("month")), _target_text(per_type.get("quarter")),
            _target_text(per_type.get("year")),
        ))
    data.add(Table("KPI definitions", "KPI definitions (seed kpi_targets)",
                   ["kpi", "title", "periods", "formula", "numerator", "denominator", "better", "unit",
                    "month_target", "quarter_target", "year_target"], defs,
                   note="Each KPI is computed per calendar month, quarter and year from events dated in the period, up "
                        "to its cutoff (the period's end, or the as-of night for the current one). Source: "
                        "dbt_project/seeds/risk/kpi_targets.csv (docs/models.md, KPI scorecard)."))


def _periods_text(periods) -> str | None:
    """'month, quarter and year' (or 'quarter'); None for none."""
    names = list(periods)
    if len(names) <= 1:
        return names[0] if names else None
    return ", ".join(names[:-1]) + " and " + names[-1]


def _target_text(row: dict | None) -> str | None:
    """'>= 99% (amber band 1%)' from a kpi_targets row; 'informational' without a target."""
    if not row:
        return None
    if not (row.get("target") or "").strip():
        return "informational"

    def show(text: str, sign: bool = False) -> str:
        v = float(text)
        if row.get("unit") in ("share", "change"):
            return f"{v * 100:+g}%" if sign else f"{v * 100:g}%"
        return f"{v:g}"

    op = ">=" if row.get("direction") == "higher" else "<="
    band = (row.get("amber_band") or "").strip()
    return f"{op} {show(row['target'], row.get('unit') == 'change')}" + (f" (amber band {show(band)})" if band else "")


def _with_user(rows: list[tuple], usernames: dict, system_i: int, account_i: int) -> list[tuple]:
    return [row + (usernames.get((row[system_i], row[account_i])),) for row in rows]


def _leavers(r: _Reader, data: ReviewData, usernames: dict) -> None:
    a, q = data.as_of, data.quarter
    found = r.dicts(
        "SELECT finding_kind, status, employee_id, system, account_id, entitlement, event_date, due_date, "
        "days_overdue, priority, n_items, detail FROM publish.pub_review_findings WHERE snapshot_date = %s "
        "AND finding_kind IN ('leaver_access', 'notice_privileged_access')", (a,))
    overdue = sorted(
        ((f["employee_id"], f["system"], f["account_id"], _d(f["event_date"]), _d(f["due_date"]), f["days_overdue"],
          f["priority"], f["n_items"], f["detail"]) for f in found
         if f["finding_kind"] == "leaver_access" and f["status"] == "overdue"),
        key=lambda x: (x[6], -(x[5] or 0), x[1], x[2]))
    pending = sum(1 for f in found if f["finding_kind"] == "leaver_access" and f["status"] != "overdue")
    notice = sorted(
        ((f["employee_id"], f["system"], f["account_id"], f["entitlement"], _d(f["event_date"]), _d(f["due_date"]),
          f["days_overdue"], f["priority"], f["status"]) for f in found if f["finding_kind"] == "notice_privileged_access"),
        key=lambda x: (x[7], -(x[6] or 0), x[1], x[2], x[3]))
    cols = ["employee_id", "system", "account_id", "termination_date", "due_date", "days_overdue", "priority",
            "entitlements", "detail"]
    ncols = ["employee_id", "system", "account_id", "entitlement", "notice_date", "due_date", "days_overdue",
             "priority", "status"]
    if data.identified:
        overdue, cols = _with_user(overdue, usernames, 1, 2), cols + ["username"]
        notice, ncols = _with_user(notice, usernames, 1, 2), ncols + ["username"]
    data.add(Table("Leavers overdue", f"Leavers' accounts still enabled past their due date on {a}", cols, overdue,
                   note=f"{pending} more leaver account(s) were enabled but not yet due on {a}."))
    data.add(Table("Notice access", f"Privileged access of employees serving notice on {a} (AL-02)", ncols, notice))

    # Time to revoke: revocations dated in the quarter (UTC date of revoked_at) and observed by the
    # as-of night (revoked_on <= A), of employees who had left by then.
    counts = Counter()
    within = Counter()
    if r.has("marts.fct_leaver_revocations"):
        start_ts = dt.datetime.combine(q.start, dt.time(), dt.timezone.utc)
        end_ts = dt.datetime.combine(a + dt.timedelta(days=1), dt.time(), dt.timezone.utc)
        for hours, in_due in r.rows(
                "SELECT hours_to_revoke, revoked_within_due FROM marts.fct_leaver_revocations "
                "WHERE termination_date <= %s AND revoked_on <= %s AND revoked_at >= %s AND revoked_at < %s",
                (a, a, start_ts, end_ts)):
            label = _bucket(float(hours))
            counts[label] += 1
            within[label] += 1 if in_due else 0
    total = sum(counts.values())
    rows = [(label, counts[label], within[label], (counts[label] / total) if total else None)
            for label, _ in REVOCATION_BUCKETS]
    data.add(Table("Time to revoke", "Time to revoke leavers' accounts (revoked in the quarter)",
                   ["time_to_revoke", "accounts", "within_due", "share"], rows,
                   note="Hours from 00:00 UTC of the termination date to the revocation (AL-11); accounts "
                        f"revoked {q.start} .. {a} as observed by the night of {a}."))


def _bucket(hours: float) -> str:
    for label, upper in REVOCATION_BUCKETS:
        if upper is None or hours < upper:
            return label
    raise AssertionError("unreachable")


def _exceptions(r: _Reader, data: ReviewData, usernames: dict) -> None:
    a, q = data.as_of, data.quarter
    kinds = ", ".join(f"'{k}'" for k in EXCEPTION_KINDS)
    found = r.dicts(
        f"SELECT finding_kind, rule_id, priority, status, employee_id, system, account_id, entitlement, asset_id, "
        f"client_id, event_date, due_date, reported_date, days_overdue, detail FROM publish.pub_review_findings "
        f"WHERE snapshot_date = %s AND finding_kind IN ({kinds}) "
        f"AND (finding_kind <> 'post_termination_login' OR reported_date >= %s)", (a, q.start))
    rows = sorted(
        ((f["finding_kind"], f["rule_id"], f["priority"], f["status"], f["employee_id"], f["system"], f["account_id"],
          f["entitlement"], f["asset_id"], f["client_id"], _d(f["event_date"]), _d(f["due_date"]), f["days_overdue"],
          f["detail"]) for f in found),
        key=lambda x: _sort_key(EXCEPTION_KINDS.index(x[0]), x[2], x[4], x[5], x[6], x[7], x[8], x[9], x[10]))
    cols = ["kind", "rule_id", "priority", "status", "employee_id", "system", "account_id", "entitlement", "asset_id",
            "client_id", "event_date", "due_date", "days_overdue", "detail"]
    if data.identified:
        rows = [row + ((usernames.get((row[5], row[6])) if row[6] else None),) for row in rows]
        cols = cols + ["username"]
    by_kind = Counter((row[0], row[2]) for row in rows)
    summary = []
    for kind in EXCEPTION_KINDS:
        rule = EXCEPTION_TITLES[kind].rsplit("(", 1)[1].rstrip(")")
        counts = [by_kind[(kind, p)] for p in PRIORITIES]
        summary.append((kind, rule, *counts, sum(v for (k, _), v in by_kind.items() if k == kind)))
    data.add(Table("Exceptions summary", f"Exceptions open or finished in the review window on {a}",
                   ["kind", "rule_id", "P1", "P2", "P3", "total"], summary,
                   note="Open exceptions on the as-of night, plus those finished in the last review window "
                        "(assets returned late, late handovers, churn); post-termination logins first reported "
                        "in the quarter."))
    data.add(Table("Exceptions", "Exceptions, one row each", cols, rows,
                   note="event_date: AL-03 login, AL-05 last activity, AL-06 move, AL-08/AL-09 termination, AL-10 "
                        "closure; due_date: AL-03 termination, AL-08 return due, AL-09 handover due; days_overdue: "
                        "AL-03 days after termination. employee_id: AL-04 the owner the account claims, AL-09/10 "
                        "the departed RM."))


def _tiers(r: _Reader, data: ReviewData) -> None:
    q, a = data.quarter, data.as_of
    h = "marts.fct_complainant_risk_tier_history"
    closing = _d(r.scalar(f"SELECT max(as_of_date) FROM {h} WHERE as_of_date <= %s AND as_of_date >= %s", (a, q.start)))
    opening = _d(r.scalar(f"SELECT max(as_of_date) FROM {h} WHERE as_of_date < %s", (q.start,)))
    opening_note = f"the last night before the quarter ({opening})" if opening else None
    if opening is None:
        opening = _d(r.scalar(f"SELECT min(as_of_date) FROM {h} WHERE as_of_date >= %s AND as_of_date <= %s",
                              (q.start, a)))
        opening_note = f"the first night of the tier history ({opening}; it starts within the quarter)"
    data.opening_tier_date = opening
    dist = {"opening": Counter(), "closing": Counter()}
    for label, day in (("opening", opening), ("closing", closing)):
        if day:
            for tier, n in r.rows(f"SELECT tier, count(*) FROM {h} WHERE as_of_date = %s GROUP BY tier", (day,)):
                dist[label][tier] += int(n)
    rows = [(tier, dist["opening"][tier], dist["closing"][tier], dist["closing"][tier] - dist["opening"][tier])
            for tier in TIERS[:-1]]
    data.add(Table("Tier distribution", "Complainant risk tiers (CT-01) at the start and the end of the quarter",
                   ["tier", "opening", "closing", "change"], rows,
                   note=f"Opening: {opening_note}. Closing: the as-of night ({closing})."))
    moves = []
    moved_high = []
    if opening and closing:
        pair_sql = (f"SELECT coalesce(o.tier, 'not tiered') AS from_tier, coalesce(c.tier, 'not tiered') AS to_tier, "
                    f"count(*) AS n FROM (SELECT complainant_id, tier FROM {h} WHERE as_of_date = %s) o "
                    f"FULL OUTER JOIN (SELECT complainant_id, tier FROM {h} WHERE as_of_date = %s) c "
                    f"ON o.complainant_id = c.complainant_id GROUP BY coalesce(o.tier, 'not tiered'), "
                    f"coalesce(c.tier, 'not tiered')")
        counts = {(f, t): int(n) for f, t, n in r.rows(pair_sql, (opening, closing))}
        moves = [(f, t, counts[(f, t)], _direction(f, t)) for f in TIERS for t in TIERS if counts.get((f, t))]
        moved_high = sorted(
            (tuple(x) for x in r.rows(
                f"SELECT c.complainant_id, coalesce(o.tier, 'not tiered'), c.tier, c.total_points, "
                f"c.n_complaints_window, c.has_insider_link, c.n_external_escalations_window, c.n_open_past_deadline "
                f"FROM (SELECT * FROM {h} WHERE as_of_date = %s) c LEFT JOIN "
                f"(SELECT complainant_id, tier FROM {h} WHERE as_of_date = %s) o ON o.complainant_id = c.complainant_id "
                f"WHERE c.tier = 'high' AND coalesce(o.tier, 'not tiered') <> 'high'", (closing, opening))),
            key=lambda x: (-int(x[3] or 0), x[0]))
    data.add(Table("Tier movements", "Complainant tier movements over the quarter (opening -> closing)",
                   ["from_tier", "to_tier", "complainants", "direction"], moves))
    data.add(Table("Moved to high tier", "Complainants who moved into the high tier during the quarter",
                   ["complainant_id", "opening_tier", "closing_tier", "total_points", "complaints_in_window",
                    "insider_link", "external_escalations", "open_past_deadline"], moved_high))


def _direction(from_tier: str, to_tier: str) -> str:
    rank = {"not tiered": 0, "low": 1, "medium": 2, "high": 3}
    if rank[to_tier] > rank[from_tier]:
        return "up"
    return "down" if rank[to_tier] < rank[from_tier] else "same"


def _complaints(r: _Reader, data: ReviewData, variables: dict) -> None:
    q, a = data.quarter, data.as_of
    channels = [str(c) for c in variables.get("external_escalation_channels") or ["regulator", "media"]]
    breaches_raw = r.dicts(
        "SELECT complaint_id, complainant_id, category, branch_id, event_date, due_date, reported_date, status, "
        "days_overdue, priority, detail FROM publish.pub_review_findings WHERE snapshot_date = %s "
        "AND finding_kind = 'complaint_deadline_breach' AND (due_date >= %s OR status = 'open')", (a, q.start))
    products: dict[str, str] = {}
    if breaches_raw and r.has("marts.fct_complaints"):
        ids = sorted({b["complaint_id"] for b in breaches_raw})
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            products.update(r.rows("SELECT complaint_id, product FROM marts.fct_complaints WHERE complaint_id IN ("
                                   + ", ".join(["%s"] * len(chunk)) + ")", chunk))
    breaches = sorted(
        ((b["complaint_id"], b["complainant_id"], b["category"], products.get(b["complaint_id"]), b["branch_id"],
          _d(b["event_date"]), _d(b["due_date"]), _d(b["reported_date"]), b["status"], b["days_overdue"],
          b["priority"]) for b in breaches_raw),
        key=lambda x: _sort_key(x[10], -(x[9] or 0), x[0]))
    by_category = Counter(b[2] for b in breaches)
    categories = []
    if r.has("marts.fct_complaints"):
        placeholders = ", ".join(["%s"] * len(channels))
        rows = r.rows(
            f"SELECT category, count(*), sum(CASE WHEN channel IN ({placeholders}) OR escalated_externally THEN 1 "
            f"ELSE 0 END), sum(CASE WHEN employee_id IS NOT NULL THEN 1 ELSE 0 END) FROM marts.fct_complaints "
            f"WHERE received_date >= %s AND received_date <= %s AND first_feed_date <= %s GROUP BY category",
            (*channels, q.start, a, a))
        total = sum(int(n) for _, n, _, _ in rows)
        categories = sorted(((cat, int(n), int(n) / total if total else None, int(esc or 0), int(emp or 0),
                              by_category.get(cat, 0)) for cat, n, esc, emp in rows),
                            key=lambda x: (-x[1], x[0]))
    data.add(Table("Complaint categories", f"Complaints received {q.start} .. {a}, by category",
                   ["category", "received", "share", "escalated_externally", "naming_an_employee",
                    "deadline_breaches"], categories,
                   note="Complaints first delivered by the as-of night; deadline breaches as listed below."))
    data.add(Table("Deadline breaches", "Complaint response deadlines breached (CH-01)",
                   ["complaint_id", "complainant_id", "category", "product", "branch_id", "received_date",
                    "deadline_date", "resolved_date", "status", "days_past_deadline", "priority"], breaches,
                   note=f"Deadline in the quarter, or still open past its deadline on {a}."))
    surges = r.dicts(
        "SELECT branch_id, category, event_date, n_items, detail FROM publish.pub_review_findings "
        "WHERE snapshot_date = %s AND finding_kind = 'complaint_surge' AND event_date >= %s AND event_date <= %s",
        (a, q.start, a))
    data.add(Table("Surges", "Complaint surges (CH-02)", ["branch_id", "category", "surge_date", "complaints", "detail"],
                   sorted(((s["branch_id"], s["category"], _d(s["event_date"]), s["n_items"], s["detail"])
                           for s in surges), key=lambda x: (x[2], x[0], x[1]))))


def _handling_and_incidents(r: _Reader, data: ReviewData) -> None:
    """Key-complainant handling plans and the incident register as of the as-of night (CT-02, IN-01)."""
    q, a = data.quarter, data.as_of
    plans = r.dicts(
        "SELECT person_key, complainant_ids, tier, handling_group, tier_entered_on, last_contact_date, "
        "next_contact_due, is_contact_overdue, legal_linkage FROM publish.pub_review_complainant_handling "
        "WHERE snapshot_date = %s", (a,)) if r.has("publish.pub_review_complainant_handling") else []
    data.add(Table("Complainant handling", "Key-complainant handling plans (CT-02)",
                   ["person_key", "complainant_ids", "tier", "handling_group", "tier_entered_on", "last_contact",
                    "next_contact_due", "overdue", "legal_linkage"],
                   sorted(((p["person_key"], p["complainant_ids"], p["tier"], p["handling_group"],
                            _d(p["tier_entered_on"]), _d(p["last_contact_date"]), _d(p["next_contact_due"]),
                            bool(p["is_contact_overdue"]), bool(p["legal_linkage"])) for p in plans),
                          key=lambda x: (not x[7], x[2] != "high", x[6], x[0])),
                   note=f"Plans in force on {a}; overdue first. A person is every complainant id sharing a "
                        f"national-id token."))
    incidents = r.dicts(
        "SELECT incident_id, kind, severity, location_type, location, reported_date, hours_to_report, "
        "hours_to_activate, hours_to_restore, days_to_review, is_review_overdue, n_complaints_window, volume_ratio, "
        "satisfaction_window, satisfaction_baseline, n_linked_surges FROM publish.pub_review_incidents "
        "WHERE snapshot_date = %s AND (reported_date >= %s OR post_review_at IS NULL)", (a, q.start)) \
        if r.has("publish.pub_review_incidents") else []
    data.add(Table("Incidents", "Incident register: timeliness and customer impact (IN-01)",
                   ["incident_id", "kind", "severity", "place", "reported", "h_to_report", "h_to_activate",
                    "h_to_restore", "d_to_review", "review_overdue", "complaints", "volume_x_baseline",
                    "satisfaction", "satisfaction_baseline", "linked_surges"],
                   sorted(((i["incident_id"], i["kind"], i["severity"], i["location"] or i["location_type"],
                            _d(i["reported_date"]), _num(i["hours_to_report"]), _num(i["hours_to_activate"]),
                            _num(i["hours_to_restore"]), i["days_to_review"], bool(i["is_review_overdue"]),
                            i["n_complaints_window"], _num(i["volume_ratio"]), _num(i["satisfaction_window"]),
                            _num(i["satisfaction_baseline"]), i["n_linked_surges"]) for i in incidents),
                          key=lambda x: (x[4], x[0])),
                   note="Reported in the quarter, or its post-event review still open; targets: seed "
                        "incident_policy_targets."))


def _certification(r: _Reader, data: ReviewData, usernames: dict) -> None:
    rows = r.dicts(
        "SELECT manager_id, manager_is_active, manager_department, employee_id, department, position, system, "
        "account_id, entitlement, granted_date, is_privileged_account FROM publish.pub_review_access_certification "
        "WHERE snapshot_date = %s", (data.as_of,))
    detail = sorted(
        ((c["manager_id"], bool(c["manager_is_active"]), c["employee_id"], c["department"], c["position"], c["system"],
          c["account_id"], c["entitlement"], _d(c["granted_date"]), bool(c["is_privileged_account"])) for c in rows),
        key=lambda x: _sort_key(x[0], x[2], x[5], x[6], x[7]))
    cols = ["manager_id", "manager_active", "employee_id", "department", "position", "system", "account_id",
            "entitlement", "granted_date", "privileged_account"]
    if data.identified:
        detail, cols = _with_user(detail, usernames, 5, 6), cols + ["username"]
    per_manager: dict = {}
    departments = {c["manager_id"]: c["manager_department"] for c in rows}
    for row in detail:
        m = per_manager.setdefault(row[0], {"active": row[1], "team": set(), "n": 0})
        m["team"].add(row[2])
        m["n"] += 1
    summary = [(mgr, departments.get(mgr), m["active"], len(m["team"]), m["n"])
               for mgr, m in sorted(per_manager.items(), key=lambda kv: _sort_key(kv[0]))]
    data.add(Table("Certification summary", "Access certification: privileged entitlements per manager",
                   ["manager_id", "manager_department", "manager_active", "team_members", "entitlements"], summary,
                   note="Each manager certifies their team's privileged entitlements (AC-01). A manager who has "
                        "left (manager_active false) or no manager: reassign the certification."))
    data.add(Table("Access certification", f"Privileged entitlements to certify, as held on {data.as_of}", cols,
                   detail))


def _data_quality(r: _Reader, data: ReviewData) -> None:
    q, a = data.quarter, data.as_of
    summary, failures = [], []
    if r.has("audit.dq_results"):
        summary = sorted(
            (layer, severity, int(nights), int(n), int(failed or 0), int(bad_nights or 0))
            for layer, severity, nights, n, failed, bad_nights in r.rows(
                "SELECT layer, severity, count(DISTINCT run_date), count(*), "
                "sum(CASE WHEN success THEN 0 ELSE 1 END), count(DISTINCT CASE WHEN success THEN NULL ELSE run_date END) "
                "FROM audit.dq_results WHERE run_date BETWEEN %s AND %s GROUP BY layer, severity", (q.start, a)))
        failures = sorted(
            ((layer, suite, expectation, check, severity, int(n), _num(worst), _d(first), _d(last))
             for layer, suite, expectation, check, severity, n, worst, first, last in r.rows(
                "SELECT layer, suite, expectation, check_kind, severity, count(*), max(unexpected_count), "
                "min(run_date), max(run_date) FROM audit.dq_results WHERE run_date BETWEEN %s AND %s AND NOT success "
                "GROUP BY layer, suite, expectation, check_kind, severity", (q.start, a))),
            key=lambda x: (x[4] != "critical", -x[5], x[1], x[2]))
    data.add(Table("DQ summary", "Data-quality gates over the quarter's nights",
                   ["layer", "severity", "nights", "expectations", "failed", "nights_with_failures"], summary,
                   note="audit.dq_results: each night's last run. A critical failure stops the night before "
                        "publish; warnings are reported and the night goes on."))
    data.add(Table("DQ failures", "Expectations that failed on at least one night",
                   ["layer", "suite", "expectation", "check", "severity", "nights_failed", "max_unexpected",
                    "first_night", "last_night"], failures))


def _methodology(r: _Reader, data: ReviewData, variables: dict) -> None:
    q, a = data.quarter, data.as_of
    versions = [(v, _d(lo), _d(hi)) for v, lo, hi in r.rows(
        "SELECT policy_version, min(as_of_date), max(as_of_date) FROM marts.fct_kpi_scorecard_history "
        "WHERE as_of_date BETWEEN %s AND %s GROUP BY policy_version", (q.start, a))]
    findings_version = r.rows("SELECT DISTINCT policy_version FROM publish.pub_review_findings WHERE snapshot_date = %s",
                              (a,))
    known = {v for v, _, _ in versions}
    versions += [(v, a, a) for v, in findings_version if v not in known]
    data.add(Table("Policy versions", "Policy versions stamped on the quarter's nights",
                   ["policy_version", "first_night", "last_night"], sorted(versions, key=lambda x: (x[1], x[0]))))
    rules = []
    for rule, what, names in RULES:
        params = "; ".join(f"{n} = {_plain(variables.get(n))}" for n in names if n in variables)
        rules.append((rule, what, params))
    data.add(Table("Rule versions", "Rules and their parameters",
                   ["rule_id", "rule", "parameters"], rules,
                   note=f"Parameters are the dbt vars of the current policy version "
                        f"({data.policy_version or 'unknown'}); dbt_project/dbt_project.yml and docs/models.md."))


CASE_KINDS = ("leaver", "sod_conflict", "orphan_account", "dormant_account", "access_creep", "revocation_overdue",
              "departure_risk_high", "complainant_handling", "complaint_surge", "incident")
OLDEST_PER_OWNER = 5


def _response(r: _Reader, data: ReviewData) -> None:
    """The response loop (docs/cases.md): SLA performance per kind, the oldest open cases per owner team,
    and the quarter's response KPIs per department, as published on the as-of night."""
    a, q = data.as_of, data.quarter
    cases = r.dicts("SELECT case_id, kind, owner_team, opened_on, due_by, priority, status, closed_at "
                    "FROM publish.pub_review_cases WHERE snapshot_date = %s", (a,)) if r.has("publish.pub_review_cases") else []
    note = "" if cases else "No cases published for the as-of night (the response loop had not run yet)."
    summary = []
    for kind in sorted({c["kind"] for c in cases}, key=lambda k: (CASE_KINDS.index(k) if k in CASE_KINDS else 99, k)):
        mine = [c for c in cases if c["kind"] == kind]
        open_ = [c for c in mine if c["status"] != "closed_verified"]
        closed = [c for c in mine if c["status"] == "closed_verified" and q.start <= _d(c["closed_at"]) <= a]
        on_time = [c for c in closed if _d(c["closed_at"]) <= _d(c["due_by"])]
        summary.append((kind, len(open_), sum(1 for c in open_ if _d(c["due_by"]) < a),
                        sum(1 for c in open_ if c["status"] == "resolved_claimed"), len(closed), len(on_time),
                        round(len(on_time) / len(closed), 4) if closed else None))
    data.add(Table("Response SLA", f"Cases by kind on {a}: open, overdue, closed in the quarter within SLA",
                   ["kind", "open", "overdue", "claimed_unverified", "closed_in_quarter", "closed_within_sla",
                    "share_within_sla"], summary,
                   note=note or "overdue: open past due_by; claimed_unverified: resolved in the ITSM, the data still "
                                "shows the condition; closed: verified by tonight's data (docs/cases.md)."))
    oldest = []
    for team in sorted({c["owner_team"] for c in cases}):
        open_ = sorted((c for c in cases if c["owner_team"] == team and c["status"] != "closed_verified"),
                       key=lambda c: (_d(c["opened_on"]), c["case_id"]))
        oldest += [(team, c["case_id"], c["kind"], _d(c["opened_on"]), _d(c["due_by"]), c["priority"], c["status"],
                    (a - _d(c["opened_on"])).days) for c in open_[:OLDEST_PER_OWNER]]
    data.add(Table("Oldest open cases", f"The {OLDEST_PER_OWNER} oldest open cases of each owner team",
                   ["owner_team", "case_id", "kind", "opened_on", "due_by", "priority", "status", "age_days"], oldest))
    by_dept = []
    if r.has("publish.pub_review_response_kpis"):
        found = r.dicts("SELECT department, kpi, value FROM publish.pub_review_response_kpis WHERE snapshot_date = %s "
                        "AND period_start = %s", (a, q.start))
        kpis = ("time_to_acknowledge_days", "time_to_verified_closure_days", "closed_within_sla",
                "cross_department_completion", "cases_open", "cases_overdue")
        values = {(f["department"], f["kpi"]): _num(f["value"]) for f in found}
        by_dept = [(dept, *(values.get((dept, k)) for k in kpis)) for dept in sorted({f["department"] for f in found})]
    data.add(Table("Response by department", f"Response KPIs of {q.label} per department of the subject",
                   ["department", "days_to_acknowledge", "days_to_verified_closure", "share_within_sla",
                    "cross_department_completion", "open", "overdue"], by_dept,
                   note="Means over the quarter's cases (publish.pub_review_response_kpis); open and overdue on the as-of night."))


#: The drill steps the Drills table times (vigil.actions.drills.STEPS), with their column names.
DRILL_STEPS = (("detected", "min_to_detect"), ("ticket_issued", "min_to_ticket"),
               ("ticket_delivered", "min_to_ticket_delivered"), ("case_opened", "min_to_case"),
               ("case_delivered", "min_to_case_delivered"), ("alert_sent", "min_to_alert"))


def _drills(r: _Reader, data: ReviewData) -> None:
    """The quarter's drills (docs/drills.md): how long each step took from the drill's start, as the
    night that ran it recorded (the audit event drill_result; the latest per drill). Drills are in no
    other table of the pack and in no KPI."""
    q, a = data.quarter, data.as_of
    found = r.rows("SELECT occurred_at, details FROM audit.audit_log WHERE event = 'drill_result' "
                   "AND run_date BETWEEN %s AND %s ORDER BY occurred_at", (q.start, a)) \
        if r.has("audit.audit_log") else []
    latest: dict[str, dict] = {}
    for _, details in found:
        d = json.loads(details)
        latest[d["drill_id"]] = d
    rows = []
    for d in sorted(latest.values(), key=lambda d: (d["started_at"], d["drill_id"])):
        secs = d.get("seconds_from_start") or {}
        rows.append((d["drill_id"], d["kind"], dt.date.fromisoformat(d["run_date"]), d["started_at"][:19].replace("T", " "),
                     *(round(secs[s] / 60, 1) if secs.get(s) is not None else None for s, _ in DRILL_STEPS)))
    data.add(Table("Drills", f"Drills of {q.label}: minutes from the drill's start to each step",
                   ["drill_id", "kind", "night", "started_utc", *(c for _, c in DRILL_STEPS)], rows,
                   note="A drill's synthetic leaver or incident (DRILL- ids) goes through the night's real rules; "
                        "its ticket, case and alerts go to the drill channels or the dry-run sink, never to "
                        "production; drills count in no KPI or other table. Blank: the step was not reached, or "
                        "the drill's kind has no such step (an incident has no ticket) (docs/drills.md)."))


def _plain(value) -> str:
    if value is None:  # an unset var (e.g. no response-time baseline configured)
        return "not set"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(map(str, value)) + "]"
    return str(value)


def _cover_facts(data: ReviewData) -> None:
    q, a = data.quarter, data.as_of
    runs = data.tables["Runs"].rows
    published = [r for r in runs if str(r[2]).startswith("published")]
    first = data.history_start
    expected_from = max(q.start, first) if first else q.start
    expected = {expected_from + dt.timedelta(days=i) for i in range((a - expected_from).days + 1)} if expected_from <= a \
        else set()
    missing = sorted(expected - {r[0] for r in published})
    breaker_nights = sum(1 for r in runs if "approval" in r[2] or "held" in r[2])
    failed_gates = sum(1 for r in runs if r[7])
    facts = [("Data", f"{TEST_DATA_LABEL}: {data.test_data}. Planted test values (formula-injection strings, CJK "
                       f"text, awkward names) appear in it; not for a committee.")] if data.test_data else []
    facts += [
        ("Quarter", q.label),
        ("Period", f"{q.start} to {q.end}"),
        ("As of", f"{a} (the quarter's last published night)" + ("" if data.complete else
                                                                 " - PROVISIONAL: the quarter is not complete")),
        ("Nights published", f"{len(published)} of {len(expected)} expected since {expected_from}"),
        ("Nights without a published run", ", ".join(map(str, missing[:10])) + (" ..." if len(missing) > 10 else "")
         if missing else "none"),
        ("Nights held or released by a breaker", str(breaker_nights)),
        ("Nights with a critical data-quality failure", str(failed_gates)),
        ("Warehouse history starts", str(first) if first else "unknown"),
        ("Policy version", data.policy_version or "unknown"),
        ("Identifiers", f"identified view for role {data.viewer_role!r} (usernames shown)" if data.identified
         else "pseudonymous: internal ids only (employee_id, complainant_id, client_id, account_id)"),
        ("Engine", data.engine),
        ("Pack run id", data.run_id),
        ("Generated at", data.generated_at.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")),
    ]
    data.facts = facts
