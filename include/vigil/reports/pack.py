"""build_review_pack: gather the quarter's data once, write the PDF and the XLSX from it."""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import time
from pathlib import Path

from vigil.reports.data import gather, test_data_evidence
from vigil.reports.quarter import Quarter
from vigil.reports.pdf import write_pdf
from vigil.reports.xlsx import write_xlsx

log = logging.getLogger(__name__)


def pack_dir(out: Path, quarter: Quarter, *, identified_role: str | None = None) -> Path:
    """<out>/reviews/<quarter>/ ; an identified view goes one folder further down, per role, so the
    pseudonymous pack (what most readers get) is never overwritten by one showing usernames."""
    folder = Path(out) / "reviews" / quarter.label
    if identified_role:
        folder = folder / ("identified-" + re.sub(r"[^A-Za-z0-9_.-]+", "_", identified_role))
    return folder


def build_review_pack(warehouse_url: str, quarter: str, *, out: Path, run_id: str,
                      viewer_role: str | None = None, landing: str | os.PathLike | None = None,
                      generated_at: dt.datetime | None = None) -> dict:
    """Build the quarterly review pack for `quarter` ('2026Q3') from the warehouse.

    Writes <out>/reviews/<quarter>/review_pack.pdf and review_pack.xlsx (a viewer role listed in
    VIGIL_REVIEW_IDENTIFIED_ROLES gets .../identified-<role>/ with usernames added) and returns
    their paths with the as-of night and the row count of every table.
    Raises ValueError for a malformed quarter and vigil.reports.ReviewDataError when the
    warehouse has no published night in the quarter.

    A pack built from Vigil's generated demo feeds (``landing``, default VIGIL_LANDING, holds
    ``_demo/planted.json``; or `out` holds the demo-mode key; or VIGIL_MODE=demo) is marked TEST DATA
    on its cover, every page and its About sheet. ``generated_at`` (default: now) is the time the
    pack states it was built, and the PDF's and the workbook's creation date.
    """
    q = Quarter.parse(quarter)
    started = time.perf_counter()
    data = gather(warehouse_url, q, run_id=run_id, viewer_role=viewer_role, generated_at=generated_at,
                  test_data=test_data_evidence(out=Path(out), landing=landing))
    gathered = time.perf_counter()
    folder = pack_dir(Path(out), q, identified_role=viewer_role if data.identified else None)
    folder.mkdir(parents=True, exist_ok=True)
    pdf, xlsx = folder / "review_pack.pdf", folder / "review_pack.xlsx"
    for target, writer in ((pdf, write_pdf), (xlsx, write_xlsx)):
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            writer(data, tmp)
            os.replace(tmp, target)  # readers never see half a file
        finally:
            tmp.unlink(missing_ok=True)
    pages = _page_count(pdf)
    result = {
        "quarter": q.label,
        "period_start": q.start.isoformat(),
        "period_end": q.end.isoformat(),
        "as_of_date": data.as_of.isoformat(),
        "complete": data.complete,
        "identified": data.identified,
        "test_data": data.test_data,
        "pdf": str(pdf),
        "xlsx": str(xlsx),
        "pages": pages,
        "counts": data.counts(),
        "run_id": run_id,
        "seconds": {"gather": round(gathered - started, 3), "total": round(time.perf_counter() - started, 3)},
    }
    log.info("review pack %s as of %s (%s): %s pages, %s rows; %s and %s", q.label, data.as_of,
             "complete" if data.complete else "provisional", pages, sum(result["counts"].values()), pdf, xlsx)
    return result


def _page_count(pdf: Path) -> int | None:
    try:
        from pypdf import PdfReader
    except ImportError:  # pypdf is a test extra; the count is informational
        return None
    return len(PdfReader(str(pdf)).pages)
