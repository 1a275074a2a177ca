"""What a data-quality gate found, and where it is kept (``audit.dq_results``). No GX import here."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

AUDIT_SCHEMA = "audit"
RESULTS_TABLE = f"{AUDIT_SCHEMA}.dq_results"
RESULTS_DDL = f"""CREATE TABLE IF NOT EXISTS {RESULTS_TABLE} (
    run_id VARCHAR NOT NULL,
    run_date DATE NOT NULL,
    layer VARCHAR NOT NULL,
    suite VARCHAR NOT NULL,
    table_name VARCHAR NOT NULL,
    expectation VARCHAR NOT NULL,
    expectation_type VARCHAR NOT NULL,
    check_kind VARCHAR NOT NULL,
    severity VARCHAR NOT NULL,
    success BOOLEAN NOT NULL,
    element_count BIGINT,
    unexpected_count BIGINT,
    unexpected_percent DOUBLE PRECISION,
    observed VARCHAR,
    error VARCHAR,
    validated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (run_date, suite, expectation)
)"""
RESULT_COLUMNS = (
    "run_id", "run_date", "layer", "suite", "table_name", "expectation", "expectation_type", "check_kind",
    "severity", "success", "element_count", "unexpected_count", "unexpected_percent", "observed", "error",
    "validated_at",
)


class QualityGateFailed(RuntimeError):
    """A critical expectation failed: the night must not go on."""

    def __init__(self, result: GateResult):
        self.result = result
        super().__init__(result.describe_failures())


@dataclass
class ExpectationOutcome:
    suite: str
    table: str
    expectation: str  # stable name from the suite, e.g. "not_null:employee_id"
    expectation_type: str  # GX type, e.g. "expect_column_values_to_not_be_null"
    check: str  # schema | type | not_null | unique | accepted_values | range | pseudonymised | date_sanity | referential | row_count
    severity: str  # critical | warning
    success: bool
    element_count: int | None = None
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    observed: object = None  # GX observed_value, when the expectation reports one
    partial_unexpected: list = field(default_factory=list)  # a few offending values (never PII: tokens only)
    error: str | None = None  # the expectation could not be evaluated (counts as a failure)
    gx_id: str | None = field(default=None, repr=False)  # the expectation's id in the GX suite

    def line(self) -> str:
        if self.error:
            what = f"error: {self.error}"
        elif self.unexpected_count is not None:
            what = f"{self.unexpected_count} of {self.element_count} rows unexpected"
            if self.partial_unexpected:
                what += f" (e.g. {', '.join(map(str, self.partial_unexpected[:5]))})"
        else:
            what = f"observed {self.observed!r}"
        return f"{self.severity} {self.suite} {self.expectation}: {what}"


@dataclass
class SuiteOutcome:
    suite: str
    layer: str
    table: str  # the logical table, e.g. "hr__employees"
    relation: str  # what was validated, e.g. "audit.dq_batch__raw__hr__employees" (raw.hr__employees, _feed_date = D)
    severity: str
    success: bool
    expectations: list[ExpectationOutcome] = field(default_factory=list)
    skipped: str | None = None  # why the suite did not run (e.g. an optional table not delivered that night)
    seconds: float = 0.0

    @property
    def failed(self) -> list[ExpectationOutcome]:
        return [e for e in self.expectations if not e.success]


@dataclass
class GateResult:
    run_id: str
    run_date: dt.date
    layer: str
    engine: str  # duckdb | postgresql
    suites: list[SuiteOutcome] = field(default_factory=list)
    data_docs_index: Path | None = None
    validations_dir: Path | None = None  # GX validation result JSON files, one per suite and run
    persisted_rows: int = 0
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)  # prepare, validate, persist, data_docs

    @property
    def expectations(self) -> list[ExpectationOutcome]:
        return [e for s in self.suites for e in s.expectations]

    @property
    def failed_critical(self) -> list[ExpectationOutcome]:
        return [e for e in self.expectations if not e.success and e.severity == "critical"]

    @property
    def failed_warning(self) -> list[ExpectationOutcome]:
        return [e for e in self.expectations if not e.success and e.severity == "warning"]

    @property
    def ok(self) -> bool:
        """True when no critical expectation failed (warnings do not stop a night)."""
        return not self.failed_critical

    def outcome(self, suite: str, expectation: str) -> ExpectationOutcome:
        for e in self.expectations:
            if e.suite == suite and e.expectation == expectation:
                return e
        raise KeyError(f"{suite}: no expectation {expectation!r} in this result")

    def describe_failures(self) -> str:
        lines = [f"data-quality gate {self.layer} {self.run_date}: {len(self.failed_critical)} critical, "
                 f"{len(self.failed_warning)} warning expectation(s) failed"]
        lines += ["  " + e.line() for e in self.failed_critical + self.failed_warning]
        if self.data_docs_index:
            lines.append(f"  Data Docs: {self.data_docs_index}")
        return "\n".join(lines)

    def raise_for_critical(self) -> None:
        if not self.ok:
            raise QualityGateFailed(self)

    def to_dict(self) -> dict:
        """JSON-ready summary (for the run summary)."""
        return {
            "layer": self.layer, "run_id": self.run_id, "run_date": self.run_date.isoformat(), "engine": self.engine,
            "ok": self.ok, "seconds": round(self.seconds, 2),
            "timings": {k: round(v, 2) for k, v in self.timings.items()},
            "suites": {s.suite: ("skipped: " + s.skipped) if s.skipped else ("passed" if s.success else "failed")
                       for s in self.suites},
            "failed_critical": [e.line() for e in self.failed_critical],
            "failed_warning": [e.line() for e in self.failed_warning],
            "expectations": len(self.expectations),
            "data_docs_index": str(self.data_docs_index) if self.data_docs_index else None,
        }

    def rows(self, validated_at: dt.datetime) -> list[tuple]:
        """One audit.dq_results row per expectation."""
        out = []
        for s in self.suites:
            for e in s.expectations:
                out.append((
                    self.run_id, self.run_date, self.layer, e.suite, s.table, e.expectation, e.expectation_type,
                    e.check, e.severity, e.success, e.element_count, e.unexpected_count, e.unexpected_percent,
                    None if e.observed is None else json.dumps(e.observed, default=str, sort_keys=True)[:4000],
                    e.error[:4000] if e.error else None, validated_at,
                ))
        return out

    def as_json(self) -> str:
        return json.dumps(asdict(self), default=str, indent=2)
