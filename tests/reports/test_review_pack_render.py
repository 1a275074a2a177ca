"""The review pack's PDF and XLSX from a small in-memory quarter (no nightly run needed): KPI
definitions, changes without a baseline, chart axes and gaps, the PDF's creation date, test-data
marking and the font fallback. The demo-warehouse pack is tests/reports/test_review_pack.py."""

from __future__ import annotations

import csv
import datetime as dt
import logging
from pathlib import Path

import pytest

from vigil.build.dbt_runner import DBT_PROJECT_DIR
from vigil.reports import pdf as pdfmod
from vigil.reports.data import (
    NO_BASELINE, NO_BASELINE_TEXT, TEST_DATA_LABEL, ReviewData, Table, _cover_facts, _kpis, _Reader, kpi_definitions, no_baseline,
    test_data_evidence,
)
from vigil.reports.quarter import Quarter
from vigil.reports.xlsx import write_xlsx

BUILT = dt.datetime(2026, 4, 1, 6, 30, 15, tzinfo=dt.timezone.utc)
SEED = Path(DBT_PROJECT_DIR) / "seeds" / "risk" / "kpi_targets.csv"
RED_FILL = b"0.776471 0.156863 0.156863 rg"  # RAG red (#C62828) as a fill colour in a content stream

# (name, columns) of every table the PDF reads, in the pack's order
TABLES = {
    "Runs": ["night", "run_id", "status", "files_loaded", "rows_loaded", "stale_files", "expectations",
             "failed_critical", "failed_warning"],
    "KPIs": ["kpi", "period", "value", "target", "status"],
    "KPI trend": ["kpi", "period_type", "period", "value", "target", "status", "numerator", "denominator", "unit",
                  "is_complete"],
    "KPI definitions": ["kpi", "title", "periods", "formula", "numerator", "denominator", "better", "unit",
                        "month_target", "quarter_target", "year_target"],
    "Leavers overdue": ["employee_id"], "Notice access": ["employee_id"],
    "Time to revoke": ["time_to_revoke", "accounts", "within_due", "share"],
    "Exceptions summary": ["kind"], "Exceptions": ["kind"],
    "Tier distribution": ["tier", "opening", "closing", "change"], "Tier movements": ["from_tier"],
    "Moved to high tier": ["complainant_id"],
    "Complaint categories": ["category", "received", "share", "escalated_externally", "naming_an_employee",
                             "deadline_breaches"],
    "Deadline breaches": ["complaint_id", "product"], "Surges": ["branch_id"],
    "Certification summary": ["manager_id", "manager_department", "manager_active", "team_members", "entitlements"],
    "Access certification": ["manager_id"], "DQ summary": ["layer"], "DQ failures": ["layer"],
    "Policy versions": ["policy_version"], "Rule versions": ["rule_id"],
    "Response SLA": ["kind"], "Oldest open cases": ["owner_team"], "Response by department": ["department"],
    "Drills": ["drill_id", "kind", "night", "started_utc", "min_to_detect", "min_to_ticket", "min_to_ticket_delivered",
               "min_to_case", "min_to_case_delivered", "min_to_alert"],
}


def review(*, test_data: str | None = None, kpis=(), trend=(), product: str = "手机银行") -> ReviewData:
    data = ReviewData(quarter=Quarter.parse("2026Q1"), as_of=dt.date(2026, 3, 31), complete=True, engine="duckdb",
                      run_id="review__t", generated_at=BUILT, viewer_role=None, identified=False, test_data=test_data,
                      facts=[("Quarter", "2026Q1")])
    rows = {"KPIs": list(kpis), "KPI trend": list(trend),
            "Time to revoke": [("0-24 h", 2, 1, 0.5), ("24-48 h", 1, 1, 0.25), ("2-7 days", 1, 0, 0.25)],
            "Tier distribution": [("high", 1, 2, 1), ("medium", 0, 1, 1), ("low", 3, 1, -2)],
            "Deadline breaches": [("C1", product)]}
    for name, cols in TABLES.items():
        data.add(Table(name, name, cols, rows.get(name, [])))
    data.kpi_meta = {"post_termination_logins": {"unit": "count"}, "post_termination_logins_change": {"unit": "change"},
                     "revocation_timeliness": {"unit": "share"}}
    _cover_facts(data)
    return data


def pdf_text(path: Path) -> list[str]:
    from pypdf import PdfReader

    return [p.extract_text() or "" for p in PdfReader(str(path)).pages]


def strings_in(drawing) -> list[str]:
    """Every text a reportlab drawing draws (axis labels, titles)."""
    from reportlab.graphics.shapes import Group, String, UserNode

    out = []

    def walk(node):
        if isinstance(node, UserNode):  # axes, markers: widgets drawn on demand
            walk(node.provideNode())
        elif isinstance(node, String):
            out.append(node.text)
        elif isinstance(node, Group):
            for child in node.contents:
                walk(child)

    walk(drawing)
    return out


def polylines(drawing, color: str) -> list[list[tuple[float, float]]]:
    from reportlab.graphics.shapes import Group, PolyLine, UserNode
    from reportlab.lib.colors import HexColor

    want = HexColor(color)
    out = []

    def walk(node):
        if isinstance(node, UserNode):
            walk(node.provideNode())
        elif isinstance(node, PolyLine) and node.strokeColor == want:
            pts = node.points
            out.append(list(zip(pts[0::2], pts[1::2])))
        elif isinstance(node, Group):
            for child in node.contents:
                walk(child)

    walk(drawing)
    return out


@pytest.fixture(scope="module")
def font():
    return pdfmod.resolve_font()


# --------------------------------------------------------------------------- KPI definitions


def test_every_kpi_of_the_seed_is_defined_there_and_in_docs_models():
    with SEED.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert rows and all(r["formula"].strip() and r["numerator"].strip() and r["denominator"].strip()
                        and r["direction"] in ("higher", "lower") for r in rows)
    by_kpi: dict[str, set] = {}
    for r in rows:  # month and quarter rows of a KPI define it the same way
        by_kpi.setdefault(r["kpi"], set()).add((r["formula"], r["numerator"], r["denominator"], r["direction"]))
    assert all(len(v) == 1 for v in by_kpi.values()), by_kpi
    assert set(kpi_definitions()) == set(by_kpi)
    models = (Path(DBT_PROJECT_DIR).parent / "docs" / "models.md").read_text(encoding="utf-8")
    assert all(f"| `{kpi}` |" in models for kpi in by_kpi), "docs/models.md's KPI table lists every KPI of the seed"


def test_the_pack_prints_each_kpi_definition_from_the_seed(tmp_path, font):
    import duckdb
    import openpyxl

    from vigil.store.warehouse import Warehouse

    wh_path = tmp_path / "w.duckdb"
    con = duckdb.connect(str(wh_path))
    con.execute("CREATE SCHEMA marts")
    con.execute("CREATE TABLE marts.fct_kpi_scorecard_history (kpi VARCHAR, period_type VARCHAR, period_start DATE, "
                "period_label VARCHAR, is_complete BOOLEAN, value DECIMAL(18,4), numerator DECIMAL(18,4), "
                "denominator DECIMAL(18,4), target DECIMAL(18,4), status VARCHAR, policy_version VARCHAR, "
                "as_of_date DATE)")
    con.close()
    data = review()
    data.tables.pop("KPIs"), data.tables.pop("KPI trend"), data.tables.pop("KPI definitions")
    wh = Warehouse.open(str(wh_path))
    with wh.connection() as c:
        _kpis(_Reader(wh, c), data)
    defs = data.tables["KPI definitions"]
    seed = kpi_definitions()
    assert [r[0] for r in defs.rows] and {r[0] for r in defs.rows} == set(seed)
    for kpi, title, periods, formula, numerator, denominator, better, unit, month_t, quarter_t, year_t in defs.rows:
        row = seed[kpi].get("quarter") or seed[kpi]["month"]
        assert (formula, numerator, denominator) == (row["formula"], row["numerator"], row["denominator"])
        assert better == f"{row['direction']} is better" and unit == row["unit"]
        names = [p for p in ("month", "quarter", "year") if p in seed[kpi]]
        assert periods == (", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0])
    rt = next(r for r in defs.rows if r[0] == "revocation_timeliness")
    assert rt[8:] == (">= 99% (amber band 1%)", ">= 99% (amber band 1%)", ">= 99% (amber band 1%)")
    assert rt[2] == "month, quarter and year"
    assert next(r for r in defs.rows if r[0] == "mean_hours_to_revoke_change")[8:] == \
        (None, "<= -30% (amber band 15%)", None)
    assert next(r for r in defs.rows if r[0] == "mean_hours_to_revoke_vs_baseline")[8:] == \
        ("<= -30% (amber band 15%)",) * 3
    assert next(r for r in defs.rows if r[0] == "reputational_escalations")[8:] == \
        ("<= 1 (amber band 1)", "<= 3 (amber band 2)", "<= 12 (amber band 8)")
    assert next(r for r in defs.rows if r[0] == "post_termination_logins")[9] == "informational"

    pdf = pdfmod.write_pdf(data, tmp_path / "p.pdf", font=font)
    text = " ".join(" ".join(pdf_text(pdf)).split())
    assert "KPI definitions" in text
    for kpi, *_ in defs.rows:  # title, and the (wrapped, not cut) denominator of every KPI
        assert " ".join(seed[kpi].get("quarter", seed[kpi].get("month"))["denominator"].split()[:4]) in text
    wb = openpyxl.load_workbook(write_xlsx(data, tmp_path / "p.xlsx"))
    assert [c.value for c in wb["KPI definitions"][3]] == defs.columns


# --------------------------------------------------------------------------- no baseline


@pytest.mark.parametrize("unit, denominator, expected", [
    ("change", None, True), ("change", 0, True), ("change", 0.0, True), ("change", 1, False), ("change", -1, False),
    ("share", 0, False), ("count", None, False),
])
def test_a_change_without_a_previous_value_has_no_baseline(unit, denominator, expected):
    assert no_baseline(unit, denominator) is expected


def test_a_change_against_a_zero_previous_quarter_is_grey_na_not_red(tmp_path, font):
    """post_termination_logins_change: previous quarter 0 logins, this quarter 3 -> the model says red;
    the pack shows n/a (no baseline) in grey. Previous 1 -> a real change, red as the model says."""
    import duckdb

    from vigil.store.warehouse import Warehouse

    wh_path = tmp_path / "w.duckdb"
    con = duckdb.connect(str(wh_path))
    con.execute("CREATE SCHEMA marts")
    con.execute("CREATE TABLE marts.fct_kpi_scorecard_history (kpi VARCHAR, period_type VARCHAR, period_start DATE, "
                "period_label VARCHAR, is_complete BOOLEAN, value DECIMAL(18,4), numerator DECIMAL(18,4), "
                "denominator DECIMAL(18,4), target DECIMAL(18,4), status VARCHAR, policy_version VARCHAR, "
                "as_of_date DATE)")
    rows = [  # kpi, period_start, label, value, numerator, denominator, target, status
        ("post_termination_logins_change", "2026-01-01", "2026-Q1", None, 3, 0, -0.2, "red"),
        ("post_termination_logins_change", "2025-10-01", "2025-Q4", 2.0, 2, 1, -0.2, "red"),
        ("mean_hours_to_revoke_change", "2026-01-01", "2026-Q1", None, None, None, -0.3, "no_data"),
        ("revocation_timeliness", "2026-01-01", "2026-Q1", 0.0, 0, 4, 0.99, "red"),
    ]
    for kpi, start, label, value, num, den, target, status in rows:
        con.execute("INSERT INTO marts.fct_kpi_scorecard_history VALUES (?, 'quarter', ?, ?, true, ?, ?, ?, ?, ?, "
                    "'v1', DATE '2026-03-31')", [kpi, start, label, value, num, den, target, status])
    con.close()
    data = review()
    data.tables.pop("KPIs"), data.tables.pop("KPI trend"), data.tables.pop("KPI definitions")
    wh = Warehouse.open(str(wh_path))
    with wh.connection() as c:
        _kpis(_Reader(wh, c), data)
    card = {r[0]: r for r in data.tables["KPIs"].rows}
    assert card["post_termination_logins_change"][2:] == (None, -0.2, NO_BASELINE)  # 0 before: no baseline
    assert card["mean_hours_to_revoke_change"][4] == NO_BASELINE  # nothing before: no baseline
    assert card["revocation_timeliness"][4] == "red"  # a share of 0 is a value, not a missing baseline
    trend = {(r[0], r[2]): r for r in data.tables["KPI trend"].rows}
    assert trend[("post_termination_logins_change", "2025-Q4")][5] == "red"  # previous 1: a change, red

    only = review(kpis=[r for r in data.tables["KPIs"].rows if r[0] != "revocation_timeliness"])
    only.kpi_meta = data.kpi_meta
    path = pdfmod.write_pdf(only, tmp_path / "p.pdf", font=font)
    from pypdf import PdfReader

    page = PdfReader(str(path)).pages[1]  # the KPI scorecard
    assert "KPI scorecard" in page.extract_text()
    assert page.extract_text().count(NO_BASELINE_TEXT) >= 4  # value and status of both change KPIs
    assert RED_FILL not in page.get_contents().get_data()  # no red status cell


# --------------------------------------------------------------------------- charts


@pytest.mark.parametrize("top", [0, 1, 2, 3, 7, 11, 250])
def test_count_axes_tick_at_whole_numbers_only(top, font):
    pdfmod.FONT = font.name
    values = [None] * 9 + [0, top, top]
    d = pdfmod.trend_chart("Post-termination logins", [f"M{i}" for i in range(12)], values, None, "count")
    labels = [t for t in strings_in(d) if t.lstrip("-").replace(".", "").isdigit()]
    assert labels and all("." not in t for t in labels), labels  # no 0.5 logins
    assert len(labels) == len(set(labels))
    assert int(labels[-1]) >= top


@pytest.mark.parametrize("lo, hi", [(0.0, 0.02), (0.005, 0.015), (0.9, 1.0), (0.97, 0.99), (0.0, 0.0),
                                    (0.0, 0.001), (0.0, 1.0)])
def test_share_axes_have_distinct_exact_percent_labels(lo, hi, font):
    pdfmod.FONT = font.name
    d = pdfmod.trend_chart("Revocation timeliness", [f"M{i}" for i in range(12)], [None] * 10 + [lo, hi], 0.99,
                           "share")
    labels = [t for t in strings_in(d) if t.endswith("%")]
    assert len(labels) >= 2 and len(labels) == len(set(labels)), labels  # no 2%, 2%, 1%
    ticks, label = pdfmod.axis_ticks(lo, max(hi, 0.99), "share", max_ticks=5)
    for t in ticks:  # each label is the tick's exact value
        assert float(label(t).rstrip("%")) == pytest.approx(t * 100, abs=1e-9)


def test_bar_chart_axes_count_in_whole_numbers(font):
    pdfmod.FONT = font.name
    d = pdfmod.bar_chart("Time to revoke", ["a", "b"], [[1, 2], [0, 1]], ["revoked", "within"])
    labels = [t for t in strings_in(d) if t.isdigit() or "." in t]
    assert labels and all(t.isdigit() for t in labels), labels


def test_no_line_is_drawn_across_months_without_data(font):
    pdfmod.FONT = font.name
    values = [None, 0.5, None, None, 0.7, 0.8, None, 0.9, None, None, None, 1.0]
    d = pdfmod.trend_chart("t", [f"M{i}" for i in range(12)], values, 0.99, "share")
    lines = polylines(d, pdfmod.SERIES)
    assert sorted(len(points) for points in lines if len(points) > 1) == [2]  # only May-June is a line
    assert pdfmod.segments(values) == [
        [None, 0.5] + [None] * 10,
        [None] * 4 + [0.7, 0.8] + [None] * 6,
        [None] * 7 + [0.9] + [None] * 4,
        [None] * 11 + [1.0],
    ]
    assert pdfmod.segments([None] * 3) == [] and pdfmod.segments([1, 2, 3]) == [[1.0, 2.0, 3.0]]


def test_trend_months_are_the_twelve_to_the_quarter_end():
    assert pdfmod.trend_months(dt.date(2026, 3, 31)) == [f"2025-{m:02d}" for m in range(4, 13)] + \
        ["2026-01", "2026-02", "2026-03"]


# --------------------------------------------------------------------------- creation date, test data


def test_the_pdf_creation_date_is_the_packs_and_rebuilding_gives_the_same_bytes(tmp_path, font):
    from pypdf import PdfReader

    a = pdfmod.write_pdf(review(), tmp_path / "a.pdf", font=font)
    b = pdfmod.write_pdf(review(), tmp_path / "b.pdf", font=font)
    meta = PdfReader(str(a)).metadata
    assert meta["/CreationDate"] == meta["/ModDate"] == "D:20260401063015+00'00'"
    assert "2026-04-01 06:30:15 UTC" in pdf_text(a)[0]  # the cover says the same
    assert a.read_bytes() == b.read_bytes()
    import openpyxl

    assert openpyxl.load_workbook(write_xlsx(review(), tmp_path / "a.xlsx")).properties.created == \
        dt.datetime(2026, 4, 1, 6, 30, 15)


def test_a_pack_of_demo_data_says_test_data_on_every_page_and_sheet(tmp_path, font):
    import openpyxl
    from pypdf import PdfReader

    canary = "=2+5+cmd|' /C calc'!A0"
    data = review(test_data="the nights loaded Vigil's generated demo feeds", product=canary)
    assert data.facts[0][0] == "Data" and data.facts[0][1].startswith(TEST_DATA_LABEL)
    pdf = pdfmod.write_pdf(data, tmp_path / "t.pdf", font=font)
    pages = pdf_text(pdf)
    assert any(canary in p for p in pages)  # the planted value is there, on a page marked test data
    assert all(TEST_DATA_LABEL in p for p in pages)
    assert PdfReader(str(pdf)).metadata["/Title"].startswith(TEST_DATA_LABEL)
    wb = openpyxl.load_workbook(write_xlsx(data, tmp_path / "t.xlsx"))
    assert all(str(ws["A1"].value).startswith(TEST_DATA_LABEL) for ws in wb)

    plain = pdfmod.write_pdf(review(), tmp_path / "p.pdf", font=font)
    assert not any(TEST_DATA_LABEL in p for p in pdf_text(plain))


def test_demo_data_is_recognised_from_its_landing_its_key_or_the_mode(tmp_path):
    landing, out = tmp_path / "landing", tmp_path / "out"
    (landing / "_demo").mkdir(parents=True)
    out.mkdir()
    assert test_data_evidence(out=out, landing=landing, env={}) is None  # no marker, no key, production
    (landing / "_demo" / "planted.json").write_text("{}")
    assert "demo feeds" in test_data_evidence(out=out, landing=landing, env={})
    assert "demo feeds" in test_data_evidence(out=out, env={"VIGIL_LANDING": str(landing)})
    assert test_data_evidence(out=out, landing=tmp_path, env={}) is None
    (out / "demo-pseudonymisation.key").write_text("k")
    assert "demo mode" in test_data_evidence(out=out, landing=tmp_path, env={})
    assert test_data_evidence(out=tmp_path, env={"VIGIL_MODE": "demo"}) == "VIGIL_MODE=demo"
    assert test_data_evidence(out=tmp_path, env={"VIGIL_MODE": "production"}) is None


# --------------------------------------------------------------------------- fonts


def test_without_a_cjk_font_the_pack_falls_back_with_a_warning(tmp_path, caplog):
    not_a_font = tmp_path / "broken.ttc"
    not_a_font.write_bytes(b"not a font at all")
    fallback = pdfmod.resolve_font([str(tmp_path / "missing.ttc"), str(not_a_font)], env={})
    assert not fallback.cjk and Path(fallback.path).is_file()
    assert "missing.ttc is missing" in fallback.warning and "broken.ttc is not a usable TrueType font" in \
        fallback.warning
    # VIGIL_CJK_FONT pointing at nothing: also a warning, never an exception
    assert not pdfmod.resolve_font([], env={pdfmod.CJK_FONT_ENV: str(tmp_path / "nope.ttf")}).cjk
    # a Latin-only font is no CJK font
    latin = pdfmod.resolve_font([fallback.path], env={})
    assert not latin.cjk and "does not cover Chinese/Japanese/Korean" in latin.warning

    with caplog.at_level(logging.WARNING, logger="vigil.reports.pdf"):
        pdf = pdfmod.write_pdf(review(), tmp_path / "f.pdf", font=fallback)
    assert [r for r in caplog.records if "no CJK font" in r.getMessage()]
    cover = " ".join(pdf_text(pdf)[0].split())
    assert "Font: no CJK font" in cover and "Quarterly compliance review" in cover


def test_the_installed_cjk_font_is_found_and_covers_cjk(tmp_path):
    font = pdfmod.resolve_font()
    if not font.cjk:
        pytest.fail(f"make install should have installed a CJK font: {font.warning}")
    pdf = pdfmod.write_pdf(review(), tmp_path / "c.pdf", font=font)
    assert any("手机银行" in p for p in pdf_text(pdf))
