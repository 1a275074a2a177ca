"""Quarterly review pack: PDF (ReportLab) and XLSX (XlsxWriter) from the warehouse's history.

    from vigil.reports import build_review_pack, parse_quarter
    build_review_pack("warehouse/vigil.duckdb", "2026Q1", out=Path("vigil_out"), run_id="...")

docs/review-pack.md describes the sections, where each figure comes from and why a past quarter's
pack is reproducible.
"""

from vigil.reports.data import IDENTIFIED_ROLES_ENV, ReviewDataError, last_published_night
from vigil.reports.pack import build_review_pack
from vigil.reports.quarter import Quarter, parse_quarter, quarter_for_run

__all__ = ["build_review_pack", "parse_quarter", "Quarter", "ReviewDataError", "IDENTIFIED_ROLES_ENV",
           "last_published_night", "quarter_for_run"]
