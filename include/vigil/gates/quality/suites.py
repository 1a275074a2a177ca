"""The committed Great Expectations suites: generated from the feed contract, read back as JSON.

Every raw feed table gets ``expectations/raw.<feed>__<table>.critical.json`` (fails the night) and,
where it has anything to warn about, ``raw.<feed>__<table>.warning.json`` (reported only). The files
are GX Core 1.x ExpectationSuite JSON, byte for byte the format GX's own filesystem store writes
(sorted keys, two-space indent), with deterministic ids so regenerating them changes nothing.

    python -m vigil.gates.quality.suites           # rewrite expectations/raw.*.json from the contract
    python -m vigil.gates.quality.suites --check   # exit 1 if the committed files differ (CI does this via a test)

Every published mart gets ``expectations/publish.<model>.critical.json`` too, generated from the
model's dbt contract (``dbt_project/models/marts/publish/**/_publish_*__models.yml``: its columns,
``unique``/``not_null``/``accepted_values`` tests and compound keys) plus the few rules a contract
cannot say (``PUBLISH_RULES``: score and KPI ranges, as-of date, references). The publish gate runs
them on ``publish_candidate`` before anything is published.

Suites use two runtime parameters (GX ``{"$PARAMETER": ...}``), filled in by the gate:
``min_row_count`` (80 % of the previous night's rows, 0 on a first night), ``max_hire_date``
(run date + 365 days) and ``run_date``. This module never imports great_expectations (it costs seconds).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from vigil.config import project_dir
from vigil.ingest.contract import HIRE_DATE_MAX_DAYS_AHEAD, LINEAGE_COLUMNS, TABLES, Table

REPO = project_dir()
PUBLISH_MODELS_DIR = REPO / "dbt_project" / "models" / "marts" / "publish"
EXPECTATIONS_DIR = Path(os.environ.get("VIGIL_EXPECTATIONS_DIR") or REPO / "expectations")
SEVERITIES = ("critical", "warning")
LAYERS = ("raw", "publish")

#: Fraction of the previous night's row count a snapshot table must at least keep.
ROW_COUNT_MIN_RATIO = 0.8
#: HIRE_DATE_MAX_DAYS_AHEAD (from the contract): a hire date further ahead of the run date is a data error.
#: PII reaches the warehouse only as hex(HMAC-SHA256(...)): 64 lower-case hex digits, checked as
#: "only hex digits" (regex) and "64 characters" (length). One regex `^[0-9a-f]{64}$` says the same
#: but PostgreSQL's regex engine runs a counted repetition ~20x slower (90k rows/s measured).
TOKEN_REGEX = "^[0-9a-f]+$"
TOKEN_LENGTH = 64

#: GX type names per contract type: PostgreSQL's own spelling of the column type (GX compares type
#: names as strings there). On DuckDB, duckdb-engine reflects generic SQLAlchemy types (String,
#: Numeric, DateTime, ...); vigil.gates.quality.engines resolves these same names to those classes.
GX_TYPES: dict[str, str] = {
    "text": "VARCHAR",
    "date": "DATE",
    "timestamp": "TIMESTAMP WITH TIME ZONE",
    "boolean": "BOOLEAN",
    "integer": "INTEGER",
    "decimal": "NUMERIC(18, 2)",
}
LINEAGE_GX_TYPES: dict[str, str] = {
    "DATE": "DATE", "VARCHAR": "VARCHAR", "BIGINT": "BIGINT", "TIMESTAMPTZ": "TIMESTAMP WITH TIME ZONE",
}

_ID_NAMESPACE = uuid.UUID("6f1d4b1e-6b8e-4c58-9d0c-7a5b0e0d9a11")


@dataclass(frozen=True)
class SuiteRef:
    """A suite file: ``<layer>.<table>.<severity>.json``."""

    layer: str
    table: str
    severity: str
    path: Path

    @property
    def name(self) -> str:
        return f"{self.layer}.{self.table}.{self.severity}"


# --------------------------------------------------------------------------------------- reading

def parse_name(path: Path) -> SuiteRef:
    stem = path.name.removesuffix(".json")
    parts = stem.split(".")
    if len(parts) != 3 or parts[0] not in LAYERS or parts[2] not in SEVERITIES:
        raise ValueError(
            f"{path.name}: suite files are named <layer>.<table>.<severity>.json with layer in {LAYERS} "
            f"and severity in {SEVERITIES}"
        )
    return SuiteRef(parts[0], parts[1], parts[2], path)


def discover(layer: str, tables: list[str] | tuple[str, ...] | None = None, suites_dir: Path = EXPECTATIONS_DIR) -> list[SuiteRef]:
    """The committed suites of `layer` (for `tables`, if given), ordered by table then severity."""
    refs = [parse_name(p) for p in sorted(Path(suites_dir).glob(f"{layer}.*.json"))]
    if tables is not None:
        wanted = set(tables)
        unknown = wanted - {r.table for r in refs}
        if unknown:
            raise FileNotFoundError(f"no {layer} suite in {suites_dir} for: {', '.join(sorted(unknown))}")
        refs = [r for r in refs if r.table in wanted]
    return sorted(refs, key=lambda r: (r.table, SEVERITIES.index(r.severity)))


def load_json(ref: SuiteRef) -> dict:
    data = json.loads(ref.path.read_text(encoding="utf-8"))
    if data.get("name") != ref.name:
        raise ValueError(f"{ref.path.name}: suite name {data.get('name')!r} does not match the file name")
    for e in data.get("expectations", []):
        e.setdefault("severity", ref.severity)  # hand-written files may leave it to the file name
        if e["severity"] != ref.severity:
            raise ValueError(f"{ref.path.name}: expectation {e.get('meta', {}).get('name')} has severity "
                             f"{e.get('severity')!r}, the file says {ref.severity!r}")
    return data


# ------------------------------------------------------------------------------------ generating

class _Suite:
    def __init__(self, name: str, severity: str, meta: dict):
        self.name, self.severity, self.meta = name, severity, meta
        self.expectations: list[dict] = []

    def add(self, gx_type: str, check: str, name: str, description: str | None = None, *,
            columns: list[str] | None = None, **kwargs) -> None:
        e = {
            "id": str(uuid.uuid5(_ID_NAMESPACE, f"{self.name}/{name}")),
            "kwargs": kwargs,
            "meta": {"check": check, "name": name} | ({"columns": columns} if columns else {}),
            "severity": self.severity,
            "type": gx_type,
        }
        if description:
            e["description"] = description
        self.expectations.append(e)

    def to_json(self) -> dict:
        return {
            "expectations": self.expectations,
            "id": str(uuid.uuid5(_ID_NAMESPACE, self.name)),
            "meta": {"great_expectations_version": _gx_version(), "vigil": self.meta},
            "name": self.name,
            "notes": None,
        }


def _gx_version() -> str:
    try:
        return metadata.version("great_expectations")
    except metadata.PackageNotFoundError:  # pragma: no cover - GX is a dependency
        return "unknown"


def _anti_join(child: str, parent: str, pairs: tuple[tuple[str, str], ...], *, same_night: bool) -> str:
    """Rows of the validated batch whose (child columns) have no row in `parent` (same night, or any
    delivery up to that night). A LEFT JOIN keeps GX from re-aliasing {batch}; nulls are not orphans."""
    on = " AND ".join(f"p.{pc} = b.{cc}" for cc, pc in pairs)
    date = "p._feed_date = b._feed_date" if same_night else "p._feed_date <= b._feed_date"
    not_null = " AND ".join(f"b.{cc} IS NOT NULL" for cc, _ in pairs)
    first = pairs[0][1]
    if same_night:
        return (f"SELECT b.* FROM {{batch}} AS b LEFT JOIN raw.{parent} AS p ON {date} AND {on} "
                f"WHERE {not_null} AND p.{first} IS NULL")
    cols = ", ".join(pc for _, pc in pairs)
    return (f"SELECT b.* FROM {{batch}} AS b LEFT JOIN (SELECT {cols}, min(_feed_date) AS _feed_date "
            f"FROM raw.{parent} GROUP BY {cols}) AS p ON {date} AND {on} WHERE {not_null} AND p.{first} IS NULL")


#: Referential checks: (child table, parent table, ((child col, parent col), ...), same night?, severity).
#: IAM/CRM/complaints point at HR by employee id, but those systems hold accounts and clients of
#: people HR does not know (service accounts, external staff: the demo plants them on purpose) —
#: finding them is what the marts are for, so they are warnings. Within one feed a dangling
#: reference means a broken extract: entitlements without their account fail the night.
REFERENCES: tuple[tuple[str, str, tuple[tuple[str, str], ...], bool, str], ...] = (
    ("iam__entitlements", "iam__accounts", (("system", "system"), ("account_id", "account_id")), True, "critical"),
    ("iam__logins", "iam__accounts", (("system", "system"), ("account_id", "account_id")), True, "warning"),
    ("iam__accounts", "hr__employees", (("employee_id", "employee_id"),), True, "warning"),
    ("hr__performance", "hr__employees", (("employee_id", "employee_id"),), True, "warning"),
    ("hr__job_changes", "hr__employees", (("employee_id", "employee_id"),), True, "warning"),
    ("hr__assets", "hr__employees", (("employee_id", "employee_id"),), True, "warning"),
    ("crm__clients", "hr__employees", (("rm_employee_id", "employee_id"),), True, "warning"),
    ("crm__rm_assignments", "crm__clients", (("client_id", "client_id"),), True, "warning"),
    ("complaints__complaints", "complaints__complainants", (("complainant_id", "complainant_id"),), False, "warning"),
)

#: Date sanity as (table, later column, earlier column, severity): later >= earlier when both are set.
DATE_ORDER: tuple[tuple[str, str, str, str], ...] = (
    ("hr__employees", "termination_date", "hire_date", "critical"),
    ("hr__employees", "termination_date", "notice_date", "critical"),
    ("hr__employees", "contract_end_date", "hire_date", "warning"),
    ("hr__assets", "returned_date", "issued_date", "warning"),
    ("crm__clients", "closed_date", "opened_date", "warning"),
    ("crm__rm_assignments", "end_date", "start_date", "warning"),
    ("iam__accounts", "disabled_at", "created_at", "warning"),
    ("complaints__complaints", "updated_at", "received_at", "warning"),
    ("complaints__complaints", "resolved_at", "received_at", "warning"),
)

#: Snapshot tables whose row count must keep ROW_COUNT_MIN_RATIO of the previous night's. An
#: emptied-out roster means a broken extract, so hr__employees fails the night; the others warn.
ROW_COUNT_CRITICAL = ("hr__employees",)


def _raw_suites(t: Table) -> dict[str, dict]:
    table = t.raw_table
    meta = lambda sev: {  # noqa: E731
        "layer": "raw", "table": f"raw.{table}", "severity": sev, "batch": "_feed_date = run date",
        "generated_by": "vigil.gates.quality.suites (from vigil.ingest.contract)",
    }
    crit = _Suite(f"raw.{table}.critical", "critical", meta("critical"))
    warn = _Suite(f"raw.{table}.warning", "warning", meta("warning"))
    by_sev = {"critical": crit, "warning": warn}

    # schema and types
    columns = [c.warehouse_name for c in t.columns] + [n for n, _ in LINEAGE_COLUMNS]
    crit.add("expect_table_columns_to_match_set", "schema", "schema:columns", column_set=columns)  # exact_match: GX's default
    for c in t.columns:
        crit.add("expect_column_values_to_be_of_type", "type", f"type:{c.warehouse_name}",
                 column=c.warehouse_name, type_="VARCHAR" if c.pii else GX_TYPES[c.type])
    for n, sql_type in LINEAGE_COLUMNS:
        crit.add("expect_column_values_to_be_of_type", "type", f"type:{n}", column=n, type_=LINEAGE_GX_TYPES[sql_type])
    # required values and lineage
    for c in t.columns:
        if c.required:
            crit.add("expect_column_values_to_not_be_null", "not_null", f"not_null:{c.warehouse_name}", column=c.warehouse_name)
    for n in ("_source_file", "_source_sha256", "_source_line", "_loaded_at", "_run_id"):
        crit.add("expect_column_values_to_not_be_null", "not_null", f"not_null:{n}", column=n)
    # keys (the batch is one night's partition)
    if len(t.key) == 1:
        crit.add("expect_column_values_to_be_unique", "unique", f"unique:{t.key[0]}", column=t.key[0])
    else:
        crit.add("expect_compound_columns_to_be_unique", "unique", f"unique:{','.join(t.key)}", column_list=list(t.key))
    # accepted values, ranges, pseudonymisation
    for c in t.columns:
        if c.values:
            crit.add("expect_column_values_to_be_in_set", "accepted_values", f"accepted_values:{c.name}",
                     column=c.name, value_set=list(c.values))
        if c.min_value is not None or c.max_value is not None:
            crit.add("expect_column_values_to_be_between", "range", f"range:{c.name}",
                     column=c.name, min_value=c.min_value, max_value=c.max_value)
        if c.pii:
            crit.add("expect_column_values_to_match_regex", "pseudonymised", f"pseudonymised:{c.warehouse_name}:hex",
                     column=c.warehouse_name, regex=TOKEN_REGEX)
            crit.add("expect_column_value_lengths_to_equal", "pseudonymised", f"pseudonymised:{c.warehouse_name}:length",
                     column=c.warehouse_name, value=TOKEN_LENGTH)
    # date sanity
    if table == "hr__employees":
        crit.add("expect_column_values_to_be_between", "date_sanity", "date_sanity:hire_date<=run_date+365",
                 column="hire_date", max_value={"$PARAMETER": "max_hire_date"})
    for tbl, later, earlier, sev in DATE_ORDER:
        if tbl == table:
            by_sev[sev].add("expect_column_pair_values_a_to_be_greater_than_b", "date_sanity",
                            f"date_sanity:{later}>={earlier}", column_A=later, column_B=earlier,
                            or_equal=True, ignore_row_if="either_value_is_missing")
    # referential
    for child, parent, pairs, same_night, sev in REFERENCES:
        if child == table:
            cols = ",".join(cc for cc, _ in pairs)
            when = "the same night" if same_night else "any delivery up to the run date"
            by_sev[sev].add(
                "unexpected_rows_expectation", "referential", f"referential:{cols}->{parent}",
                description=f"Every {table}.({cols}) has a row in raw.{parent} ({when}).",
                columns=[cc for cc, _ in pairs],
                unexpected_rows_query=_anti_join(table, parent, pairs, same_night=same_night),
            )
    # row count relative to the previous night (snapshot tables)
    if t.mode == "snapshot":
        sev = "critical" if table in ROW_COUNT_CRITICAL else "warning"
        by_sev[sev].add("expect_table_row_count_to_be_between", "row_count", "row_count:>=80%_of_previous_night",
                        min_value={"$PARAMETER": "min_row_count"})

    return {s.name: s.to_json() for s in (crit, warn) if s.expectations}


#: What a dbt contract cannot say about a published mart, per model: (check, name, GX type, kwargs).
#: Row-level rules are ``unexpected_rows_expectation`` queries over the validated table ({batch}).
_SHARE_KPI = "unit = 'share' AND (value < 0 OR value > 1)"
PUBLISH_RULES: dict[str, list[tuple[str, str, str, dict]]] = {
    "pub_leaver_access_exposure": [
        ("range", "range:days_overdue>=0", "expect_column_values_to_be_between", {"column": "days_overdue", "min_value": 0}),
        ("range", "range:n_entitlements>=0", "expect_column_values_to_be_between", {"column": "n_entitlements", "min_value": 0}),
        ("not_null", "not_null:due_at", "expect_column_values_to_not_be_null", {"column": "due_at"}),
        ("date_sanity", "date_sanity:termination_date<=run_date", "expect_column_values_to_be_between",
         {"column": "termination_date", "max_value": {"$PARAMETER": "run_date"}}),
    ],
    "pub_leaver_entitlements": [
        ("referential", "referential:ticket_key->pub_leaver_access_exposure", "unexpected_rows_expectation",
         {"unexpected_rows_query": "SELECT b.* FROM {batch} AS b LEFT JOIN publish_candidate.pub_leaver_access_exposure AS p "
                                   "ON p.ticket_key = b.ticket_key WHERE p.ticket_key IS NULL"}),
    ],
    "pub_departure_risk": [
        ("range", "range:score>=0", "expect_column_values_to_be_between", {"column": "score", "min_value": 0}),
        ("range", "range:impact_multiplier>=1", "expect_column_values_to_be_between", {"column": "impact_multiplier", "min_value": 1}),
    ],
    "pub_complainant_tiers": [
        ("range", "range:total_points>=0", "expect_column_values_to_be_between", {"column": "total_points", "min_value": 0}),
    ],
    "pub_kpi_scorecard": [
        ("accepted_values", "accepted_values:status", "expect_column_values_to_be_in_set",
         {"column": "status", "value_set": ["green", "amber", "red", "no_target", "no_data"]}),
        ("range", "range:share_kpis_in_0..1", "unexpected_rows_expectation",
         {"unexpected_rows_query": f"SELECT * FROM {{batch}} WHERE {_SHARE_KPI}"}),
        ("range", "range:counts_hours_days>=0", "unexpected_rows_expectation",
         {"unexpected_rows_query": "SELECT * FROM {batch} WHERE unit IN ('count', 'hours', 'days') AND value < 0"}),
    ],
}


def publish_models(models_dir: Path = PUBLISH_MODELS_DIR) -> dict[str, dict]:
    """Model name -> its entry in the publish layer's dbt YAML (columns, tests, constraints)."""
    import yaml

    models: dict[str, dict] = {}
    for path in sorted(Path(models_dir).rglob("_publish_*__models.yml")):
        for m in yaml.safe_load(path.read_text(encoding="utf-8")).get("models", []):
            models[m["name"]] = m
    return models


def _test_name(test) -> tuple[str, dict]:
    if isinstance(test, str):
        return test, {}
    (name, args), = test.items()
    args = args or {}
    return name, args.get("arguments", args)


def _publish_suite(model: dict) -> dict:
    name = model["name"]
    suite = _Suite(f"publish.{name}.critical", "critical", {
        "layer": "publish", "table": f"publish_candidate.{name}", "severity": "critical", "batch": "whole table",
        "generated_by": "vigil.gates.quality.suites (from the dbt contract of the model and PUBLISH_RULES)",
    })
    columns = [c["name"] for c in model.get("columns", [])]
    suite.add("expect_table_columns_to_match_set", "schema", "schema:columns", column_set=columns)
    for c in model.get("columns", []):
        col = c["name"]
        tests = [_test_name(t) for t in c.get("data_tests", c.get("tests", [])) or []]
        not_null = any(t == "not_null" for t, _ in tests) or any(
            k.get("type") == "not_null" for k in c.get("constraints", []) or [])
        if not_null:
            suite.add("expect_column_values_to_not_be_null", "not_null", f"not_null:{col}", column=col)
        for t, args in tests:
            if t == "unique":
                suite.add("expect_column_values_to_be_unique", "unique", f"unique:{col}", column=col)
            elif t == "accepted_values":
                suite.add("expect_column_values_to_be_in_set", "accepted_values", f"accepted_values:{col}",
                          column=col, value_set=list(args["values"]))
    for t, args in (_test_name(t) for t in model.get("data_tests", model.get("tests", [])) or []):
        if t == "unique_combination_of_columns":
            cols = list(args["combination_of_columns"])
            suite.add("expect_compound_columns_to_be_unique", "unique", f"unique:{','.join(cols)}", column_list=cols)
    if "as_of_date" in columns:
        # Published tonight means built for tonight: a stale candidate must never be published.
        suite.add("expect_column_values_to_be_between", "freshness", "freshness:as_of_date=run_date",
                  column="as_of_date", min_value={"$PARAMETER": "run_date"}, max_value={"$PARAMETER": "run_date"})
    for check, rule, gx_type, kwargs in PUBLISH_RULES.get(name, []):
        suite.add(gx_type, check, rule, **kwargs)
    return suite.to_json()


def generate() -> dict[str, dict]:
    """Suite name -> suite JSON for every raw feed table (from the feed contract) and every published
    mart (from its dbt contract)."""
    out: dict[str, dict] = {}
    for t in TABLES:
        out.update(_raw_suites(t))
    for model in publish_models().values():
        suite = _publish_suite(model)
        out[suite["name"]] = suite
    return out


def dumps(suite: dict) -> str:
    """Exactly how GX's filesystem store writes a suite."""
    return json.dumps(suite, indent=2, sort_keys=True) + "\n"


def write(suites_dir: Path = EXPECTATIONS_DIR) -> list[Path]:
    written = []
    for name, suite in generate().items():
        p = Path(suites_dir) / f"{name}.json"
        p.write_text(dumps(suite), encoding="utf-8")
        written.append(p)
    return written


def drift(suites_dir: Path = EXPECTATIONS_DIR) -> list[str]:
    """Names of generated suites whose committed file is missing or differs; stale raw files too."""
    generated = generate()
    problems = []
    for name, suite in generated.items():
        p = Path(suites_dir) / f"{name}.json"
        if not p.exists() or p.read_text(encoding="utf-8") != dumps(suite):
            problems.append(name)
    for p in [*Path(suites_dir).glob("raw.*.json"), *Path(suites_dir).glob("publish.*.json")]:
        if p.name.removesuffix(".json") not in generated:
            problems.append(f"{p.name} (not generated: delete it)")
    return sorted(problems)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m vigil.gates.quality.suites", description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="only report drift between contract and committed suites")
    ap.add_argument("--dir", type=Path, default=EXPECTATIONS_DIR)
    args = ap.parse_args(argv)
    if args.check:
        problems = drift(args.dir)
        for p in problems:
            print(f"out of date: {p}")
        return 1 if problems else 0
    for p in write(args.dir):
        print(p.relative_to(REPO) if p.is_relative_to(REPO) else p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
