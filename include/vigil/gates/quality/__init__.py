"""Data-quality gates: committed Great Expectations suites run against the warehouse (DuckDB or PostgreSQL).

Light to import (great_expectations is imported only when a gate runs): the DAG may import this.

    from vigil.gates.quality import run_suites
    result = run_suites(settings.warehouse, "raw", run_date=D, out=settings.out, run_id=run_id)
    result.raise_for_critical()

See docs/quality.md.
"""

from __future__ import annotations

__all__ = ["ExpectationOutcome", "GateResult", "QualityGate", "QualityGateFailed", "SuiteOutcome", "run_suites"]


def __getattr__(name: str):
    # Lazy, so `python -m vigil.gates.quality.suites` does not import the gate first.
    if name in ("QualityGate", "run_suites"):
        from vigil.gates.quality import gate  # lazy: see above

        return getattr(gate, name)
    if name in ("ExpectationOutcome", "GateResult", "QualityGateFailed", "SuiteOutcome"):
        from vigil.gates.quality import results  # lazy: see above

        return getattr(results, name)
    raise AttributeError(f"module 'vigil.gates.quality' has no attribute {name!r}")
