"""The quarterly review pack on the demo warehouse (2026-03-02..06: quarter 2026Q1, provisional).

Sections and charts in the PDF, a rendered page, the XLSX read back, formula-injection and CJK
canaries, no raw PII anywhere in the pack or its log, identified views only for allowed roles,
the same numbers when built twice, and the same pack from PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import zipfile
from pathlib import Path

import pytest

from fixtures.nights import raw_pii_values
from vigil.reports import ReviewDataError, build_review_pack
from vigil.reports.data import EXCEPTION_KINDS, KPI_TITLES, NO_BASELINE, NO_BASELINE_TEXT, TEST_DATA_LABEL
from vigil.reports.pdf import RAG, SECTIONS, SERIES

QUARTER = "2026Q1"


# --------------------------------------------------------------------------- helpers


def pdf_pages(path: Path) -> list[str]:
    from pypdf import PdfReader

    return [p.extract_text() or "" for p in PdfReader(str(path)).pages]


def workbook_rows(path: Path, *, skip: tuple[str, ...] = ()) -> dict[str, list[tuple]]:
    """Every sheet's values, sheet by sheet (openpyxl)."""
    import openpyxl

    wb = openpyxl.load_workbook(path)
    return {ws.title: [tuple(c.value for c in row) for row in ws.iter_rows()] for ws in wb if ws.title not in skip}


def numbers_only(path: Path) -> dict[str, list[tuple]]:
    """What must not change between two builds: every sheet but About (run id, time of building)."""
    return workbook_rows(path, skip=("About",))


def page_index(pages: list[str], heading: str) -> int:
    return next(i for i, text in enumerate(pages) if heading in text.splitlines())



def without_run_lines(pages: list[str]) -> list[str]:
    """The PDF's text without what differs between two builds: the pack's run id and build time."""
    run_id = re.compile(r"review__\S+")
    built = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC")
    return [built.sub("<time>", run_id.sub("<run>", p)) for p in pages]


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module", autouse=True)
def demo_landing(demo_warehouse):
    """Every pack of this module is built as `vigil review` with VIGIL_LANDING set: from the demo feeds."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VIGIL_LANDING", str(demo_warehouse.settings.landing))
        yield


@pytest.fixture(scope="module")
def pack(demo_warehouse, tmp_path_factory):
    out = tmp_path_factory.mktemp("review-out")
    result = build_review_pack(demo_warehouse.settings.warehouse, QUARTER, out=out, run_id="review__test__1")
    return result


@pytest.fixture(scope="module")
def pages(pack) -> list[str]:
    return pdf_pages(Path(pack["pdf"]))


@pytest.fixture(scope="module")
def sheets(pack) -> dict[str, list[tuple]]:
    return workbook_rows(Path(pack["xlsx"]))


def table_of(sheets: dict, name: str) -> tuple[list[str], list[tuple]]:
    """(header, rows) of a data sheet: row 1 title, row 2 note, row 3 header, then the rows."""
    rows = sheets[name]
    header = [v for v in rows[2] if v is not None]
    return header, [r[: len(header)] for r in rows[3:]]


# --------------------------------------------------------------------------- the files


def test_pack_is_written_where_the_quarter_says_and_is_provisional(pack, demo_warehouse):
    out = Path(pack["pdf"]).parent
    assert out.parts[-2:] == ("reviews", QUARTER)
    assert Path(pack["pdf"]).name == "review_pack.pdf" and Path(pack["xlsx"]).name == "review_pack.xlsx"
    assert Path(pack["pdf"]).read_bytes()[:5] == b"%PDF-" and zipfile.is_zipfile(pack["xlsx"])
    assert pack["as_of_date"] == demo_warehouse.last.isoformat()  # the quarter's last night so far
    assert pack["complete"] is False and pack["identified"] is False
    assert (pack["period_start"], pack["period_end"]) == ("2026-01-01", "2026-03-31")
    assert pack["pages"] >= 10
    assert not list(out.glob(".*tmp"))  # written atomically


def test_pdf_has_every_section_in_order(pages, pack):
    from pypdf import PdfReader

    text = "\n".join(pages)
    assert "Quarterly compliance review" in pages[0] and "2026Q1" in pages[0]
    assert "01 January 2026 – 31 March 2026" in pages[0] and "Provisional" in pages[0]
    assert "Run evidence" in pages[0]
    starts = [page_index(pages, f"{i}. {s}") for i, s in enumerate(SECTIONS, start=1)]
    assert starts == sorted(starts) and len(set(starts)) == len(SECTIONS)
    for heading in ("Month-by-month trends", "Overdue revocations", "Time-to-revoke distribution",
                    "Movements between tiers", "Top complaint categories", "Deadline breaches", "Complaint surges",
                    "Failed expectations", "Policy versions", "Rules"):
        assert heading in text, heading
    for kind_title in ("Orphan accounts", "Dormant accounts", "Post-termination logins", "Access creep",
                       "Segregation-of-duties conflicts", "Unreturned assets", "Overdue client handovers",
                       "Churn after RM departure"):
        assert kind_title in text, kind_title
    outline = [o.title for o in PdfReader(pack["pdf"]).outline]
    assert outline == [f"{i}. {s}" for i, s in enumerate(SECTIONS, start=1)]


def test_pdf_has_its_charts(pack, pages):
    """Trend charts, the time-to-revoke, tier and category bar charts are vector drawings."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    doc = pdfium.PdfDocument(pack["pdf"])
    trends = page_index(pages, "Month-by-month trends")
    kinds = [o.type for o in doc[trends].get_objects()]
    paths = kinds.count(pdfium_c.FPDF_PAGEOBJ_PATH)
    assert paths > 200, paths  # 9 small multiples a page: axes, ticks, grid lines, markers, line segments
    for kpi in ("revocation_timeliness", "complaint_resolution_rate", "asset_return"):
        assert KPI_TITLES[kpi] in pages[trends] + pages[trends + 1]
    assert "Mar" in pages[trends] and "Jan" in pages[trends]  # month axis labels
    for heading, label in (("2. Leavers and revocation timeliness", "0-24 h"),
                           ("4. Complainant tiers", "Complainants per tier"),
                           ("5. Complaints", "Top complaint categories")):
        i = page_index(pages, heading)
        assert label in pages[i]
        assert [o.type for o in doc[i].get_objects()].count(pdfium_c.FPDF_PAGEOBJ_PATH) > 20, heading
    # the value lines are drawn in the series colour
    image = doc[trends].render(scale=1).to_pil().convert("RGB")
    series = tuple(int(SERIES[i:i + 2], 16) for i in (1, 3, 5))
    assert sum(1 for px in image.getdata() if px == series) > 200  # markers, and lines between consecutive months


def test_a_rendered_page_looks_right(pack, pages, tmp_path):
    """The KPI scorecard page rendered to PNG: landscape, mostly white, RAG colours present."""
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(pack["pdf"])
    i = page_index(pages, "1. KPI scorecard")
    image = doc[i].render(scale=1.5).to_pil().convert("RGB")
    image.save(tmp_path / "scorecard.png")
    image.save("/tmp/review_page.png")
    doc[page_index(pages, "Month-by-month trends")].render(scale=1.5).to_pil().save(tmp_path / "trends.png")
    w, h = image.size
    assert w > h and w >= 1200
    pixels = list(image.getdata())
    white = sum(1 for p in pixels if p == (255, 255, 255)) / len(pixels)
    assert 0.5 < white < 0.98
    colours = {name: tuple(int(RAG[name][j:j + 2], 16) for j in (1, 3, 5)) for name in ("green", "red")}
    for name, rgb in colours.items():
        assert sum(1 for p in pixels if p == rgb) > 200, name
    # nothing drawn past the margins (the frame is 34 pt in on every side; 1 pt = 1.5 px here)
    strip = [image.getpixel((x, y)) for x in range(0, w) for y in range(h - 20, h)]
    assert all(p == (255, 255, 255) for p in strip)


# --------------------------------------------------------------------------- the workbook


def test_xlsx_has_one_sheet_per_table_and_a_kpis_sheet(pack, sheets):
    assert list(sheets) == ["About", *pack["counts"]]
    for name, count in pack["counts"].items():
        header, rows = table_of(sheets, name)
        assert len(rows) == count, name
    header, rows = table_of(sheets, "KPIs")
    assert header == ["kpi", "period", "value", "target", "status"]
    assert rows
    assert {r[4] for r in rows} <= {"green", "amber", "red", "no_target", "no_data", NO_BASELINE}
    assert all(isinstance(r[2], (int, float)) for r in rows if r[2] is not None)
    assert all(isinstance(r[3], (int, float)) for r in rows if r[3] is not None)
    periods = {(r[0], r[1]) for r in rows}
    assert {("revocation_timeliness", p) for p in ("2026-Q1", "2026-01", "2026-02", "2026-03")} <= periods


def test_kpis_are_the_scorecard_of_the_as_of_night(demo_warehouse, sheets):
    _, rows = table_of(sheets, "KPIs")
    got = {(r[0], r[1]): (r[2], r[3], r[4]) for r in rows}
    expected = demo_warehouse.rows(
        f"select kpi, period_label, value, target, status, denominator from marts.fct_kpi_scorecard_history "
        f"where as_of_date = date '{demo_warehouse.last}' and ((period_type = 'quarter' and period_start = date "
        f"'2026-01-01') or (period_type = 'month' and period_start between date '2026-01-01' and date '2026-03-01'))")
    assert len(got) == len(expected) > 20
    no_baseline = 0
    for e in expected:
        value, target, status = got[(e["kpi"], e["period_label"])]
        # previous quarter zero or empty, or no response-time baseline configured: n/a, grey
        if e["kpi"].endswith(("_change", "_vs_baseline")) and not e["denominator"]:
            assert (value, status) == (None, NO_BASELINE)
            no_baseline += 1
            continue
        assert status == e["status"]
        assert value == (None if e["value"] is None else pytest.approx(float(e["value"])))
        assert target == (None if e["target"] is None else pytest.approx(float(e["target"])))
    # the demo's history starts in March 2026: no post-termination login is dated in Q4 2025
    assert no_baseline >= 1 and got[("post_termination_logins_change", "2026-Q1")][2] == NO_BASELINE
    # the demo configures no response-time baseline: the baseline KPIs have no value, never a made-up one
    assert got[("mean_hours_to_revoke_vs_baseline", "2026-Q1")] == (None, pytest.approx(-0.30), NO_BASELINE)


def test_a_demo_pack_is_marked_test_data_and_defines_its_kpis(pack, pages, sheets):
    assert "_demo/planted.json" in pack["test_data"]
    assert all(TEST_DATA_LABEL in p for p in pages)  # every page, the planted values' pages included
    assert all(str(rows[0][0]).startswith(TEST_DATA_LABEL) for rows in sheets.values())
    i = page_index(pages, "1. KPI scorecard")
    scorecard = " ".join((pages[i] + pages[i + 1]).split())
    assert NO_BASELINE_TEXT in scorecard and "KPI definitions" in scorecard
    assert "higher is better" in scorecard and "lower is better" in scorecard
    header, rows = table_of(sheets, "KPI definitions")
    assert header[:7] == ["kpi", "title", "periods", "formula", "numerator", "denominator", "better"]
    assert {r[0] for r in rows} == set(KPI_TITLES)


def test_numbers_are_numbers_and_dates_are_dates(sheets):
    _, runs = table_of(sheets, "Runs")
    assert runs and all(isinstance(r[0], dt.datetime) for r in runs)
    assert all(isinstance(v, int | float) for r in runs for v in r[3:])
    _, dist = table_of(sheets, "Time to revoke")
    assert all(isinstance(r[1], int | float) and isinstance(r[2], int | float) for r in dist)
    _, overdue = table_of(sheets, "Leavers overdue")
    assert overdue and all(isinstance(r[5], int | float) and isinstance(r[4], dt.datetime) for r in overdue)


def test_formula_injection_canary_survives_as_text(demo_warehouse, pack):
    import openpyxl

    planted = {c["id"]: c["value"] for c in demo_warehouse.cases("formula_injection_texts")}
    formula = next(v for v in planted.values() if v.startswith("="))
    ws = openpyxl.load_workbook(pack["xlsx"])["Deadline breaches"]
    cells = [c for row in ws.iter_rows() for c in row if c.value == formula]
    assert cells, "the planted formula payload must be listed (an overdue complaint's product)"
    assert all(c.data_type == "s" and c.quotePrefix for c in cells)
    with zipfile.ZipFile(pack["xlsx"]) as z:
        for name in z.namelist():
            if name.startswith("xl/worksheets/"):
                assert not re.search(rb"<f[ >]", z.read(name)), name  # no formula cell anywhere


def test_cjk_text_renders_in_the_pdf(demo_warehouse, pack, pages):
    from pypdf import PdfReader

    cjk = next(c["value"] for c in demo_warehouse.cases("formula_injection_texts") if re.search(r"[\u4e00-\u9fff]",
                                                                                                  c["value"]))
    breaches = page_index(pages, "5. Complaints")
    assert cjk in pages[breaches] or cjk in pages[breaches + 1]
    fonts = set()
    for page in PdfReader(pack["pdf"]).pages:
        for font in (page["/Resources"].get_object().get("/Font") or {}).values():
            fonts.add(str(font.get_object()["/BaseFont"]))
    assert any("WenQuanYi" in f or "MicroHei" in f for f in fonts), fonts
    # glyphs, not boxes: pdfium's own text layer finds the characters where they were drawn
    import pypdfium2 as pdfium

    page = pdfium.PdfDocument(pack["pdf"])[breaches]
    text = page.get_textpage().get_text_range()
    assert cjk in text


def test_no_raw_pii_in_the_pack_or_its_log(demo_warehouse, tmp_path, caplog):
    values = raw_pii_values(Path(demo_warehouse.settings.landing))
    canaries = demo_warehouse.planted["canaries"]
    assert set(canaries["national_ids"]) | set(canaries["phones"]) <= values and len(values) > 500
    with caplog.at_level(logging.DEBUG):
        result = build_review_pack(demo_warehouse.settings.warehouse, QUARTER, out=tmp_path, run_id="review__pii")
    texts = ["\n".join(pdf_pages(Path(result["pdf"]))), repr(result), caplog.text]
    texts += [str(v) for rows in workbook_rows(Path(result["xlsx"])).values() for row in rows for v in row
              if isinstance(v, str)]
    blob = "\n".join(texts)
    assert "E00000" in blob and "P9000001" in blob  # the scan reads real content
    found = sorted(v for v in values if v in blob)
    assert found == []
    lowered = blob.lower()
    assert not [c for c in canaries["names"] + canaries["emails"] if c.lower() in lowered]
    assert "canary-nid" not in lowered and "7700 900" not in blob
    tokens = {v for r in demo_warehouse.rows("select full_name_token, national_id_token, email_token "
                                             "from marts.dim_employees") for v in r.values() if v}
    assert tokens and not [t for t in tokens if t in blob]  # not even the pseudonymisation tokens


def test_usernames_only_for_a_configured_role(demo_warehouse, tmp_path, monkeypatch, sheets):
    assert all("username" not in table_of(sheets, name)[0] for name in sheets if name != "About")
    monkeypatch.setenv("VIGIL_REVIEW_IDENTIFIED_ROLES", "compliance_officer, dpo")
    denied = build_review_pack(demo_warehouse.settings.warehouse, QUARTER, out=tmp_path, run_id="r1",
                               viewer_role="auditor")
    assert denied["identified"] is False and Path(denied["pdf"]).parent == tmp_path / "reviews" / QUARTER
    header, _ = table_of(workbook_rows(Path(denied["xlsx"])), "Access certification")
    assert "username" not in header
    allowed = build_review_pack(demo_warehouse.settings.warehouse, QUARTER, out=tmp_path, run_id="r2",
                                viewer_role="compliance_officer")
    assert allowed["identified"] is True
    assert Path(allowed["xlsx"]).parent == tmp_path / "reviews" / QUARTER / "identified-compliance_officer"
    header, rows = table_of(workbook_rows(Path(allowed["xlsx"])), "Access certification")
    assert header[-1] == "username"
    names = {(r["system"], r["account_id"]): r["username"]
             for r in demo_warehouse.rows("select system, account_id, username from marts.dim_accounts")}
    assert rows and all(r[-1] == names[(r[5], r[6])] for r in rows)
    assert "identified view for role 'compliance_officer'" in "\n".join(pdf_pages(Path(allowed["pdf"])))
    # the pseudonymous pack in reviews/<quarter>/ is still the one without usernames
    header, _ = table_of(workbook_rows(Path(denied["xlsx"])), "Access certification")
    assert "username" not in header


def test_building_twice_gives_the_same_numbers(demo_warehouse, pack, pages, tmp_path):
    again = build_review_pack(demo_warehouse.settings.warehouse, QUARTER, out=tmp_path, run_id="review__test__2")
    assert again["counts"] == pack["counts"] and again["as_of_date"] == pack["as_of_date"]
    assert numbers_only(Path(again["xlsx"])) == numbers_only(Path(pack["xlsx"]))
    assert without_run_lines(pdf_pages(Path(again["pdf"]))) == without_run_lines(pages)


# --------------------------------------------------------------------------- content against the warehouse


def test_sections_hold_what_the_warehouse_published_on_the_as_of_night(demo_warehouse, sheets):
    wh, last = demo_warehouse, demo_warehouse.last
    _, overdue = table_of(sheets, "Leavers overdue")
    expected = {(r["system"], r["account_id"]) for r in wh.rows(
        "select system, account_id from publish.pub_leaver_access_exposure where is_overdue")}
    assert {(r[1], r[2]) for r in overdue} == expected and expected
    la1 = {(c["system"], c["account_id"]) for c in wh.cases("leavers_lingering_access") if c["key"] == "LA1"}
    assert la1 <= expected

    _, summary = table_of(sheets, "Exceptions summary")
    published = {r["exception_kind"]: r["n"] for r in wh.rows(
        "select exception_kind, count(*) as n from publish.pub_access_exceptions group by all")}
    logins = wh.rows("select count(*) as n from publish.pub_post_termination_logins "
                     "where first_reported_on >= date '2026-01-01'")[0]["n"]
    got = {r[0]: r[5] for r in summary}
    assert list(got) == list(EXCEPTION_KINDS)
    assert {k: v for k, v in got.items() if v} == {**published, "post_termination_login": logins}

    _, breaches = table_of(sheets, "Deadline breaches")
    overdue_complaints = {c["complaint_id"] for c in wh.cases("overdue_open_complaints")}
    assert overdue_complaints <= {r[0] for r in breaches}
    assert not {c["complaint_id"] for c in wh.cases("overdue_open_boundary")} & {r[0] for r in breaches}

    _, surges = table_of(sheets, "Surges")
    surge = wh.cases("complaint_surge")[0]
    assert [(r[0], r[1], r[2].date().isoformat(), r[3]) for r in surges] == \
        [(surge["branch_id"], surge["category"], surge["date"], surge["count"])]

    _, tiers = table_of(sheets, "Tier distribution")
    closing = {r["tier"]: r["n"] for r in wh.rows(
        f"select tier, count(*) as n from marts.fct_complainant_risk_tier_history where as_of_date = date '{last}' "
        f"group by all")}
    assert {r[0]: r[2] for r in tiers} == {t: closing.get(t, 0) for t in ("high", "medium", "low")}

    _, cert = table_of(sheets, "Access certification")
    independent = wh.rows(
        "select e.system, e.account_id, e.entitlement, d.manager_id from marts.fct_entitlements e "
        "join marts.dim_employees d using (employee_id) where e.is_privileged and e.account_status = 'enabled' "
        "and e.owner_status = 'matched' and d.is_active")
    assert {(r[5], r[6], r[7], r[0]) for r in cert} == {(r["system"], r["account_id"], r["entitlement"],
                                                          r["manager_id"]) for r in independent}
    assert independent

    _, dq = table_of(sheets, "DQ summary")
    n = wh.rows("select count(*) as n from audit.dq_results where run_date between date '2026-01-01' and "
                f"date '{last}'")[0]["n"]
    assert sum(r[3] for r in dq) == n > 0

    _, runs = table_of(sheets, "Runs")
    assert [r[0].date() for r in runs] == [wh.start + dt.timedelta(days=i) for i in range(wh.days)]
    assert all(r[2].startswith("published") and r[1] for r in runs)


def test_a_quarter_without_nights_or_malformed_is_refused(demo_warehouse, tmp_path):
    with pytest.raises(ReviewDataError, match="no published night of 2025Q4"):
        build_review_pack(demo_warehouse.settings.warehouse, "2025Q4", out=tmp_path, run_id="r")
    with pytest.raises(ValueError, match="not a quarter"):
        build_review_pack(demo_warehouse.settings.warehouse, "2026Q5", out=tmp_path, run_id="r")
    assert not (tmp_path / "reviews").exists()


# --------------------------------------------------------------------------- PostgreSQL


def _copy_tables(duck_path: str, pg_url: str, tables: list[str]) -> None:
    import duckdb
    import psycopg

    types = {"VARCHAR": "text", "DATE": "date", "BOOLEAN": "boolean", "INTEGER": "integer", "BIGINT": "bigint",
             "DOUBLE": "double precision", "TIMESTAMP WITH TIME ZONE": "timestamptz", "HUGEINT": "numeric"}
    src = duckdb.connect(duck_path, read_only=True)
    try:
        with psycopg.connect(pg_url, autocommit=True) as pg:
            for table in tables:
                schema, name = table.split(".")
                cols = src.execute("select column_name, data_type from information_schema.columns where "
                                   "table_schema = ? and table_name = ? order by ordinal_position",
                                   [schema, name]).fetchall()
                ddl = ", ".join(f'"{c}" {types.get(t, t if t.startswith("DECIMAL") else "text")}' for c, t in cols)
                pg.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
                pg.execute(f"CREATE TABLE {table} ({ddl})")
                rows = src.execute(f"select * from {table}").fetchall()
                if rows:
                    with pg.cursor() as cur:
                        cur.executemany(f"INSERT INTO {table} VALUES ({', '.join(['%s'] * len(cols))})", rows)
    finally:
        src.close()


@pytest.mark.postgres
def test_postgres_warehouse_gives_the_same_pack(demo_warehouse, pack, pg_url, tmp_path):
    tables = ["publish.pub_review_findings", "publish.pub_review_access_certification", "publish.pub_kpi_scorecard",
              "marts.fct_kpi_scorecard_history", "marts.fct_complainant_risk_tier_history",
              "marts.fct_leaver_revocations", "marts.fct_complaints", "marts.dim_accounts", "audit.dq_results",
              "audit.audit_log", "raw._vigil_loads", "publish.pub_review_cases",
              "publish.pub_review_complainant_handling", "publish.pub_review_incidents",
              "publish.pub_review_response_kpis"]
    _copy_tables(demo_warehouse.settings.warehouse, pg_url, tables)
    result = build_review_pack(pg_url, QUARTER, out=tmp_path, run_id="review__pg")
    assert result["counts"] == pack["counts"] and result["as_of_date"] == pack["as_of_date"]
    assert numbers_only(Path(result["xlsx"])) == numbers_only(Path(pack["xlsx"]))
    engine = [r[:2] for r in workbook_rows(Path(result["xlsx"]))["About"] if r[0] == "Engine"]
    assert engine == [("Engine", "postgresql")]
