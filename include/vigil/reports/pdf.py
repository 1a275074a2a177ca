"""The review pack as a PDF (ReportLab platypus, charts drawn with reportlab.graphics).

Text is set in WenQuanYi Micro Hei (a TrueType collection covering Latin, Chinese, Japanese and
Korean; ``subfontIndex=0``), embedded as a subset, so CJK text in the data renders and extracts;
without a CJK font (resolve_font) the pack is set in a Latin-only font and says so, never fails.
Charts: value ticks from axis_ticks (distinct labels, whole numbers for counts), lines broken at
months without data (segments). The PDF's creation date is the pack's ``generated_at``.
Tables show at most ``PDF_ROW_LIMIT`` rows per list (the access certification up to
``PDF_CERTIFICATION_ROW_LIMIT``); the XLSX always has every row, and the PDF says so when it cuts.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

from vigil.reports.data import (
    EXCEPTION_KINDS, EXCEPTION_TITLES, KPI_ORDER, KPI_TITLES, NO_BASELINE, NO_BASELINE_TEXT,
    PDF_CERTIFICATION_ROW_LIMIT, PDF_ROW_LIMIT, TEST_DATA_LABEL, ReviewData, Table,
)

CJK_FONT_ENV = "VIGIL_CJK_FONT"
DEFAULT_CJK_FONT = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
#: TrueType fonts covering Chinese, Japanese and Korean, tried in order after VIGIL_CJK_FONT
#: (ReportLab embeds TrueType outlines only: an OpenType/CFF font such as Noto Sans CJK does not fit).
CJK_FONT_CANDIDATES = (
    DEFAULT_CJK_FONT,  # fonts-wqy-microhei: scripts/bootstrap.sh (make install) installs it
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
)
#: Latin-only fonts for when no CJK font is installed: the system's DejaVu Sans, else the Bitstream
#: Vera that ReportLab itself ships (always there).
FALLBACK_FONTS = ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "<reportlab>/fonts/Vera.ttf")
CJK_FONT = "VigilCJK"
FALLBACK_FONT = "VigilFallback"
FONT = CJK_FONT  # the font of the document being written (write_pdf sets it)
_font: "PackFont"  # ditto, with its path and whether it covers CJK
CJK_SAMPLE = "手机银行"  # what a CJK font must cover (the demo's CJK canary)

log = logging.getLogger(__name__)
RAG = {"green": "#2E7D32", "amber": "#F9A825", "red": "#C62828", "no_target": "#90A4AE", "no_data": "#CFD8DC",
       NO_BASELINE: "#CFD8DC"}
RAG_LIGHT = {"green": "#C8E6C9", "amber": "#FFF3C4", "red": "#FFCDD2", "no_target": "#ECEFF1", "no_data": "#F5F5F5",
             NO_BASELINE: "#F5F5F5"}
TEST_DATA_COLOR = "#B71C1C"
SERIES = "#1F5FA8"  # the value line of every trend chart
SERIES_2 = "#8FB3DE"
INK = "#1B2A3A"

#: Column headings per exception kind in the PDF (the XLSX keeps the generic names, see its note).
EXCEPTION_HEADINGS = {
    "post_termination_login": {"event_date": "login_date", "due_date": "termination_date",
                               "days_overdue": "days_after_termination"},
    "dormant_account": {"event_date": "last_activity"},
    "access_creep": {"event_date": "moved_on"},
    "sod_conflict": {"entitlement": "toxic_pair"},
    "asset_overdue": {"event_date": "termination_date"},
    "asset_returned_late": {"event_date": "termination_date", "days_overdue": "days_late"},
    "handover_overdue": {"employee_id": "rm_employee_id", "event_date": "rm_termination_date",
                         "due_date": "handover_due"},
    "handover_late": {"employee_id": "rm_employee_id", "event_date": "rm_termination_date",
                      "due_date": "handover_due", "days_overdue": "days_late"},
    "rm_departure_churn": {"employee_id": "rm_employee_id", "event_date": "closed_date"},
    "orphan_account": {"employee_id": "claimed_owner_id"},
}

SECTIONS = (
    "KPI scorecard", "Leavers and revocation timeliness", "Exceptions", "Complainant tiers", "Complaints",
    "Access certification", "Data quality", "Methodology and rule versions", "Response",
)


@dataclass(frozen=True)
class PackFont:
    name: str  # the ReportLab font name
    path: str
    cjk: bool  # False: a Latin-only fallback, CJK text shows as empty boxes
    warning: str | None = None


_registered: dict[tuple[str, str], PackFont] = {}


def _try_register(name: str, path: str, *, cjk: bool, warning: str | None = None) -> tuple[PackFont | None, str]:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFError, TTFont

    key = (name, path)
    if key in _registered:
        return _registered[key], ""
    if not Path(path).is_file():
        return None, f"{path} is missing"
    alias = f"{name}-{len(_registered)}"
    try:
        font = TTFont(alias, path, subfontIndex=0)
        if cjk and not all(font.face.charToGlyph.get(ord(c)) for c in CJK_SAMPLE):
            return None, f"{path} does not cover Chinese/Japanese/Korean"
        pdfmetrics.registerFont(font)
    except (TTFError, OSError, ValueError, KeyError, IndexError, AttributeError) as exc:
        return None, f"{path} is not a usable TrueType font ({str(exc).splitlines()[0][:120]})"
    pdfmetrics.registerFontFamily(alias, normal=alias, bold=alias, italic=alias, boldItalic=alias)
    pf = PackFont(alias, path, cjk, warning)
    _registered[key] = pf
    return pf, ""


def resolve_font(candidates: tuple[str, ...] | list[str] | None = None,
                 env: dict[str, str] | None = None) -> PackFont:
    """The pack's font: VIGIL_CJK_FONT, else the first installed CJK TrueType font of
    CJK_FONT_CANDIDATES; without one a Latin-only fallback and a warning (logged, and printed on the
    pack's cover), never an exception."""
    import reportlab

    env = os.environ if env is None else env
    tried = []
    wanted = ([env[CJK_FONT_ENV]] if env.get(CJK_FONT_ENV) else []) + \
        list(CJK_FONT_CANDIDATES if candidates is None else candidates)
    for path in wanted:
        font, why = _try_register(CJK_FONT, path, cjk=True)
        if font:
            return font
        tried.append(why)
    warning = ("no CJK font for the review pack (" + "; ".join(tried) + "): Chinese, Japanese and Korean text "
               "shows as empty boxes. Install fonts-wqy-microhei (make install does where it can) or set "
               f"{CJK_FONT_ENV} to a TrueType .ttf/.ttc covering CJK.")
    for path in FALLBACK_FONTS:
        path = path.replace("<reportlab>", os.path.dirname(reportlab.__file__))
        font, _ = _try_register(FALLBACK_FONT, path, cjk=False, warning=None)
        if font:
            return PackFont(font.name, font.path, False, warning + f" Using {font.path}.")
    raise AssertionError("ReportLab ships Vera.ttf")  # pragma: no cover


def register_fonts(path: str | os.PathLike | None = None) -> str:
    """Register the pack's font (see resolve_font); returns its ReportLab name."""
    return resolve_font([str(path)] if path else None).name


# --------------------------------------------------------------------------- formatting


def fmt_value(value, unit: str | None = None) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()[:10] if not isinstance(value, dt.datetime) else value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, float) or hasattr(value, "as_tuple"):
        v = float(value)
        if unit == "share":
            return f"{v * 100:.1f}%"
        if unit == "change":
            return f"{v * 100:+.1f}%"
        if unit == "hours":
            return f"{v:.1f} h"
        if unit == "days":
            return f"{v:.1f} d"
        if unit == "count":
            return f"{v:.0f}"
        if unit == "score":
            return f"{v:.2f}"
        if unit == "rate":
            return f"{v:.1f}"
        return f"{v:.0f}" if v == int(v) and abs(v) < 1e12 else f"{v:.2f}"
    return str(value).replace("\r", " ").replace("\n", " ").replace("\t", " ").replace("\x00", "")


NO_BASELINE_INK = "#607D8B"


def status_text(status: str | None) -> str:
    return NO_BASELINE_TEXT if status == NO_BASELINE else (status or "").replace("_", " ")


def kpi_value_text(value, unit: str | None, status: str | None) -> str:
    """A KPI value as the scorecard shows it: 'n/a (no baseline)' for a change without a baseline."""
    return NO_BASELINE_TEXT if status == NO_BASELINE else fmt_value(value, unit)


def _fit(text: str, width: float, size: float) -> str:
    from reportlab.pdfbase.pdfmetrics import stringWidth

    if stringWidth(text, FONT, size) <= width:
        return text
    lo, hi = 0, len(text)
    while lo < hi:  # longest prefix that fits with an ellipsis
        mid = (lo + hi + 1) // 2
        if stringWidth(text[:mid] + "…", FONT, size) <= width:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo] + "…"


# --------------------------------------------------------------------------- document


class _Styles:
    def __init__(self):
        from reportlab.lib.colors import HexColor
        from reportlab.lib.styles import ParagraphStyle

        ink = HexColor(INK)
        self.title = ParagraphStyle("title", fontName=FONT, fontSize=26, leading=32, textColor=ink, spaceAfter=10)
        self.subtitle = ParagraphStyle("subtitle", fontName=FONT, fontSize=14, leading=18, textColor=HexColor("#44607F"),
                                       spaceAfter=16)
        self.h1 = ParagraphStyle("h1", fontName=FONT, fontSize=17, leading=22, textColor=ink, spaceAfter=8,
                                 keepWithNext=1)
        self.h2 = ParagraphStyle("h2", fontName=FONT, fontSize=11.5, leading=15, textColor=HexColor("#24476B"),
                                 spaceBefore=8, spaceAfter=4, keepWithNext=1)
        self.body = ParagraphStyle("body", fontName=FONT, fontSize=8.5, leading=11.5, spaceAfter=4)
        self.note = ParagraphStyle("note", fontName=FONT, fontSize=7.2, leading=9.5, textColor=HexColor("#555555"),
                                   spaceAfter=4)
        self.cell_header = ParagraphStyle("cellh", fontName=FONT, fontSize=6.8, leading=8.2, textColor=ink)
        self.warn = ParagraphStyle("warn", fontName=FONT, fontSize=10, leading=13, textColor=HexColor("#B71C1C"),
                                   spaceAfter=8)


class _Doc:
    """A landscape A4 BaseDocTemplate with a header, a footer and an outline entry per section."""

    def __init__(self, path: Path, data: ReviewData):
        from reportlab.lib.pagesizes import A4, landscape
        from reportlab.platypus import BaseDocTemplate, Frame, PageTemplate

        self.data = data
        self.pagesize = landscape(A4)
        margin = 34
        frame = Frame(margin, margin, self.pagesize[0] - 2 * margin, self.pagesize[1] - 2 * margin - 10, id="body")
        self.width = frame._width - 12
        outer = self

        created = pdf_date(data.generated_at)

        class Doc(BaseDocTemplate):
            def beforeDocument(self):
                # The PDF's CreationDate/ModDate: the time the pack says it was built (its cover's
                # "Generated at"), not the clock at rendering nor ReportLab's invariant 2000-01-01.
                self.canv.setDateFormatter(lambda *_: created)

            def afterFlowable(self, flowable):
                key = getattr(flowable, "_outline", None)
                if key:
                    self.canv.bookmarkPage(key)
                    self.canv.addOutlineEntry(flowable.getPlainText(), key, level=0)

        self.doc = Doc(str(path), pagesize=self.pagesize, leftMargin=margin, rightMargin=margin, topMargin=margin,
                       bottomMargin=margin,
                       title=(f"{TEST_DATA_LABEL}: " if data.test_data else "") +
                       f"Vigil quarterly review {data.quarter.label}", author="Vigil",
                       subject=f"Compliance review pack, as of {data.as_of}", creator="vigil.reports",
                       keywords="test data, demo" if data.test_data else "", invariant=1)
        self.doc.addPageTemplates([PageTemplate(id="page", frames=[frame], onPage=outer._decorate)])

    def _decorate(self, canvas, doc):
        from reportlab.lib.colors import HexColor

        d = self.data
        w, h = self.pagesize
        canvas.saveState()
        canvas.setFont(FONT, 7)
        canvas.setFillColor(HexColor("#55606B"))
        canvas.drawString(34, h - 24, f"Vigil · Quarterly compliance review {d.quarter.label}")
        status = "complete quarter" if d.complete else "PROVISIONAL: quarter not complete"
        canvas.drawRightString(w - 34, h - 24, f"as of {d.as_of} · {status}")
        canvas.setStrokeColor(HexColor("#B0BEC5"))
        canvas.line(34, h - 28, w - 34, h - 28)
        ident = f"identified view ({d.viewer_role})" if d.identified else "pseudonymous: internal ids only"
        canvas.drawString(34, 18, f"{ident} · pack run {d.run_id}")
        canvas.drawRightString(w - 34, 18, f"page {doc.page}")
        if d.test_data:  # on every page, in red, header and footer
            canvas.setFillColor(HexColor(TEST_DATA_COLOR))
            canvas.setFont(FONT, 8)
            canvas.drawCentredString(w / 2, h - 24, f"{TEST_DATA_LABEL}: not for a committee")
            canvas.drawCentredString(w / 2, 18, TEST_DATA_LABEL)
        canvas.restoreState()

    def build(self, story):
        self.doc.build(story)


def pdf_date(when: dt.datetime) -> str:
    """A PDF date string (D:YYYYMMDDHHmmSS+00'00') of `when` in UTC (naive: taken as UTC)."""
    if when.tzinfo is not None:
        when = when.astimezone(dt.timezone.utc)
    return f"D:{when:%Y%m%d%H%M%S}+00'00'"


def _heading(text: str, style, key: str):
    from reportlab.platypus import Paragraph

    p = Paragraph(escape(text), style)
    p._outline = key
    return p


def _table(rows: list[list], widths: list[float], *, header_rows: int = 1, font_size: float = 6.8, styles=()):
    from reportlab.lib.colors import HexColor
    from reportlab.platypus import LongTable, TableStyle

    t = LongTable(rows, colWidths=widths, repeatRows=header_rows, hAlign="LEFT")
    base = [
        ("FONTNAME", (0, 0), (-1, -1), FONT),
        ("FONTSIZE", (0, 0), (-1, -1), font_size),
        ("LEADING", (0, 0), (-1, -1), font_size + 1.6),
        ("TEXTCOLOR", (0, 0), (-1, -1), HexColor(INK)),
        ("BACKGROUND", (0, 0), (-1, header_rows - 1), HexColor("#DDE3EA")),
        ("LINEBELOW", (0, 0), (-1, header_rows - 1), 0.6, HexColor("#7A8A99")),
        ("GRID", (0, 0), (-1, -1), 0.25, HexColor("#C9D1D9")),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("TOPPADDING", (0, 0), (-1, -1), 1.6),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 1.6),
        ("LEFTPADDING", (0, 0), (-1, -1), 3),
        ("RIGHTPADDING", (0, 0), (-1, -1), 3),
    ]
    for i in range(header_rows, len(rows)):
        if (i - header_rows) % 2:
            base.append(("BACKGROUND", (0, i), (-1, i), HexColor("#F6F8FA")))
    t.setStyle(TableStyle(base + list(styles)))
    return t


def data_table(st: _Styles, columns: list[str], rows: list[tuple], avail: float, *, units: dict | None = None,
               font_size: float = 6.8, limit: int | None = PDF_ROW_LIMIT, sheet: str | None = None,
               wrap: bool = False) -> list:
    """A table of plain cells sized to its content and fitted to the page width (wrap: long
    cells wrap onto more lines instead of being cut with an ellipsis)."""
    from reportlab.pdfbase.pdfmetrics import stringWidth
    from reportlab.platypus import Paragraph

    units = units or {}
    shown = rows if limit is None else rows[:limit]
    if not shown:
        return [Paragraph("None.", st.body)]
    texts = [[fmt_value(v, units.get(c)) for c, v in zip(columns, row)] for row in shown]
    pad = 7
    natural = []
    for i, c in enumerate(columns):
        cells = max((stringWidth(r[i], FONT, font_size) for r in texts[:400]), default=0)
        head = min(stringWidth(c, FONT, font_size), 70)
        natural.append(max(cells, head, 18) + pad)
    total = sum(natural)
    if total > avail:  # shrink the widest columns first
        excess = total - avail
        order = sorted(range(len(natural)), key=lambda i: -natural[i])
        widths = natural[:]
        while excess > 0.5:
            top = widths[order[0]]
            peers = [i for i in order if widths[i] >= top - 0.5]
            nxt = max((widths[i] for i in order if widths[i] < top - 0.5), default=40)
            step = min(excess / len(peers), top - max(nxt, 40))
            if step <= 0.01:
                break
            for i in peers:
                widths[i] -= step
            excess -= step * len(peers)
        natural = widths
    header = [Paragraph(escape(c.replace("_", " ")), st.cell_header) for c in columns]
    if wrap:
        from reportlab.lib.styles import ParagraphStyle

        cell = ParagraphStyle("cellw", fontName=FONT, fontSize=font_size, leading=font_size + 1.6)
        body = [[Paragraph(escape(t), cell) for t in r] for r in texts]
    else:
        body = [[_fit(t, w - pad, font_size) for t, w in zip(r, natural)] for r in texts]
    out = [_table([header] + body, natural, font_size=font_size)]
    if limit is not None and len(rows) > limit:
        out.append(Paragraph(f"… {len(rows) - limit:,} more row(s): see sheet “{escape(sheet or '')}” of "
                             f"review_pack.xlsx.", st.note))
    return out


def _section_table(st, table: Table, avail: float, **kw) -> list:
    from reportlab.platypus import Paragraph

    out = []
    if table.note:
        out.append(Paragraph(escape(table.note), st.note))
    out += data_table(st, table.columns, table.rows, avail, sheet=table.name, **kw)
    return out


# --------------------------------------------------------------------------- charts


def _axis_fonts(chart):
    for axis in (chart.categoryAxis, chart.valueAxis):
        axis.labels.fontName = FONT
        axis.labels.fontSize = 6
        axis.strokeColor = _c("#90A4AE")
    chart.valueAxis.gridStrokeColor = _c("#E3E8EC")
    chart.valueAxis.visibleGrid = True


def _c(hex_color: str):
    from reportlab.lib.colors import HexColor

    return HexColor(hex_color)


#: Units whose values are whole things (logins, accounts): ticks at whole numbers only.
INTEGER_UNITS = ("count",)
#: Units shown in percent (values are fractions).
PERCENT_UNITS = ("share", "change")


def axis_ticks(lo: float, hi: float, unit: str | None, *, max_ticks: int = 6) -> tuple[list[float], "callable"]:
    """Ticks for a value axis spanning [lo, hi] (0 always included), and their label format.

    Steps are 1, 2 or 5 x 10^k of the unit as shown (percent points for a share), never finer than
    1 for a count, so every label is distinct and exact (no 2%, 2%; no 0.5 logins)."""
    percent = unit in PERCENT_UNITS
    scale = 100.0 if percent else 1.0
    lo, hi = min(lo, 0.0) * scale, max(hi, 0.0) * scale
    if hi - lo <= 0:
        hi = lo + (1.0 if not percent else 10.0)
    raw = (hi - lo) / max(max_ticks - 1, 1)
    exp = math.floor(math.log10(raw))
    step = None
    for k in (exp, exp + 1):
        for m in (1, 2, 5):
            candidate = m * 10.0 ** k
            if candidate >= raw * (1 - 1e-9):
                step = candidate
                break
        if step:
            break
    if unit in INTEGER_UNITS:
        step = max(step, 1.0)
    first = math.floor(lo / step + 1e-9) * step
    last = math.ceil(hi / step - 1e-9) * step
    n = int(round((last - first) / step))
    ticks = [round(first + i * step, 10) for i in range(n + 1)]
    decimals = 0 if step >= 1 else int(-math.floor(math.log10(step) + 1e-9))

    def label(v: float) -> str:
        shown = v * scale
        if abs(shown) < step / 1e6:
            shown = 0.0
        if unit == "change":
            return f"{shown:+.{decimals}f}%" if shown else "0%"
        return f"{shown:.{decimals}f}%" if percent else f"{shown:.{decimals}f}"

    return [t / scale for t in ticks], label


def segments(values: list) -> list[list]:
    """One series per run of consecutive months with a value (None elsewhere), so no line is drawn
    across a month without data; a month on its own is a point."""
    out, current = [], None
    for i, v in enumerate(values):
        if v is None:
            current = None
            continue
        if current is None:
            current = [None] * len(values)
            out.append(current)
        current[i] = float(v)
    return out


def trend_chart(title: str, labels: list[str], values: list, target, unit: str | None, quarter_months: int = 3,
                width: float = 246, height: float = 132):
    """One KPI's months: its values as a line (broken where a month has no value), its target
    dashed, the quarter's months shaded; value ticks from axis_ticks."""
    from reportlab.graphics.charts.linecharts import HorizontalLineChart
    from reportlab.graphics.shapes import Drawing, Rect, String
    from reportlab.graphics.widgets.markers import makeMarker

    d = Drawing(width, height)
    d.add(String(4, height - 11, title, fontName=FONT, fontSize=7.6, fillColor=_c(INK)))
    chart = HorizontalLineChart()
    chart.x, chart.y, chart.width, chart.height = 34, 18, width - 44, height - 38
    present = [float(v) for v in values if v is not None]
    runs = segments(values)
    series = []
    if target is not None:  # first, so the value line is drawn over it
        series.append([float(target)] * len(values))
    series += runs
    chart.data = series if series else [[0.0] * len(values)]
    span = present + ([float(target)] if target is not None else [])
    ticks, label = axis_ticks(min(span, default=0.0), max(span, default=1.0), unit, max_ticks=6)
    chart.valueAxis.valueMin, chart.valueAxis.valueMax = ticks[0], ticks[-1]
    chart.valueAxis.valueSteps = ticks
    chart.valueAxis.labelTextFormat = label
    chart.categoryAxis.categoryNames = labels
    chart.categoryAxis.labels.angle = 0
    _axis_fonts(chart)
    first = 0
    if target is not None:
        chart.lines[0].strokeColor = _c("#C62828")
        chart.lines[0].strokeWidth = 0.8
        chart.lines[0].strokeDashArray = (3, 2)
        first = 1
    elif not series:
        chart.lines[0].strokeColor = None
    for i in range(first, len(series)):
        chart.lines[i].strokeColor = _c(SERIES)
        chart.lines[i].strokeWidth = 1.6
        chart.lines[i].symbol = makeMarker("FilledCircle", size=2.6, fillColor=_c(SERIES), strokeColor=_c(SERIES))
    n = max(len(labels), 1)
    step = chart.width / n
    k = min(quarter_months, n)
    d.add(Rect(chart.x + step * (n - k), chart.y, step * k, chart.height, fillColor=_c("#EEF3F8"), strokeColor=None))
    d.add(chart)
    if not present:
        d.add(String(chart.x + chart.width / 2, chart.y + chart.height / 2, "no data", fontName=FONT, fontSize=7,
                     textAnchor="middle", fillColor=_c("#90A4AE")))
    return d


def bar_chart(title: str, labels: list[str], series: list[list[float]], names: list[str], *, width: float = 380,
              height: float = 170, horizontal: bool = False, colors=(SERIES, SERIES_2)):
    from reportlab.graphics.charts.barcharts import HorizontalBarChart, VerticalBarChart
    from reportlab.graphics.charts.legends import Legend
    from reportlab.graphics.shapes import Drawing, String

    d = Drawing(width, height)
    d.add(String(4, height - 11, title, fontName=FONT, fontSize=8, fillColor=_c(INK)))
    chart = HorizontalBarChart() if horizontal else VerticalBarChart()
    left = 110 if horizontal else 36
    chart.x, chart.y = left, 22
    chart.width, chart.height = width - left - (100 if len(series) > 1 else 16), height - 44
    chart.data = [[float(v or 0) for v in s] for s in series] or [[0.0]]
    chart.categoryAxis.categoryNames = labels
    _axis_fonts(chart)
    top = max((v for s in chart.data for v in s), default=0)
    ticks, label = axis_ticks(0.0, top * 1.1 if top else 1.0, "count", max_ticks=6)  # bars count things
    chart.valueAxis.valueMin, chart.valueAxis.valueMax = ticks[0], ticks[-1]
    chart.valueAxis.valueSteps = ticks
    chart.valueAxis.labelTextFormat = label
    chart.barSpacing = 1
    chart.groupSpacing = 6
    for i, color in enumerate(colors[: len(chart.data)]):
        chart.bars[i].fillColor = _c(color)
        chart.bars[i].strokeColor = None
    chart.barLabelFormat = "%.0f"
    chart.barLabels.fontName = FONT
    chart.barLabels.fontSize = 6
    chart.barLabels.nudge = 6
    d.add(chart)
    if len(series) > 1:
        legend = Legend()
        legend.x, legend.y = width - 90, height - 30
        legend.fontName = FONT
        legend.fontSize = 7
        legend.colorNamePairs = [(_c(c), n) for c, n in zip(colors, names)]
        d.add(legend)
    return d


# --------------------------------------------------------------------------- sections


def _cover(st: _Styles, data: ReviewData, avail: float) -> list:
    from reportlab.platypus import Paragraph, Spacer

    q = data.quarter
    out = [Spacer(1, 40), Paragraph("Quarterly compliance review", st.title),
           Paragraph(escape(f"{q.label} · {q.start:%d %B %Y} – {q.end:%d %B %Y}"), st.subtitle)]
    if data.test_data:
        out.append(Paragraph(escape(f"{TEST_DATA_LABEL}: this pack was built from generated demo feeds "
                                    f"({data.test_data}). Its planted test values (formula-injection strings, "
                                    f"CJK text) are test data; not for a committee."), st.warn))
    if not _font.cjk:
        out.append(Paragraph(escape(f"Font: {_font.warning}"), st.warn))
    if not data.complete:
        out.append(Paragraph(escape(f"Provisional: the quarter is not complete. Figures are as of {data.as_of}, the "
                                    f"last published night; rebuild the pack after {q.end} for the final figures."),
                             st.warn))
    rows = [(label, value) for label, value in data.facts]
    out += data_table(st, ["", ""], rows, avail * 0.8, font_size=8, limit=None)
    out.append(Spacer(1, 10))
    out.append(Paragraph(
        "Contents: " + " · ".join(f"{i}. {escape(s)}" for i, s in enumerate(SECTIONS, start=1)) + " · "
        "Run evidence (below).", st.note))
    out.append(Paragraph("Run evidence", st.h2))
    out += _section_table(st, data.tables["Runs"], avail, limit=None)
    return out


def _kpi_section(st: _Styles, data: ReviewData, avail: float) -> list:
    from reportlab.platypus import CondPageBreak, Paragraph, Table as RLTable

    q = data.quarter
    scorecard = data.tables["KPIs"].rows
    trend = data.tables["KPI trend"].rows
    definitions = data.tables["KPI definitions"]
    by_kpi: dict[str, dict[str, tuple]] = defaultdict(dict)
    for kpi, period, value, target, status in scorecard:
        by_kpi[kpi][period] = (value, target, status)
    previous = {row[0]: row for row in trend if row[1] == "quarter" and row[2] == q.previous().kpi_label}
    month_labels = [f"{m:%Y-%m}" for m in q.months]
    header = ["KPI", "unit", "target", q.kpi_label, "status", *[f"{m:%b %Y}" for m in q.months],
              f"{q.previous().kpi_label}"]
    rows, styles = [], []
    kpis = sorted(by_kpi, key=lambda k: (KPI_ORDER.index(k) if k in KPI_ORDER else 99, k))
    for i, kpi in enumerate(kpis, start=1):
        unit = (data.kpi_meta.get(kpi) or {}).get("unit")
        value, target, status = by_kpi[kpi].get(q.kpi_label, (None, None, "no_data"))
        cells = [KPI_TITLES.get(kpi, kpi), unit or "", fmt_value(target, unit), kpi_value_text(value, unit, status),
                 status_text(status)]
        styles += [("BACKGROUND", (4, i), (4, i), _c(RAG.get(status, "#FFFFFF"))),
                   ("TEXTCOLOR", (4, i), (4, i), _c("#FFFFFF" if status in ("green", "red") else INK))]
        if status == NO_BASELINE:
            styles.append(("TEXTCOLOR", (3, i), (3, i), _c(NO_BASELINE_INK)))
        for j, label in enumerate(month_labels):
            mv = by_kpi[kpi].get(label)
            cells.append(kpi_value_text(mv[0], unit, mv[2]) if mv else "")
            if mv:
                styles.append(("BACKGROUND", (5 + j, i), (5 + j, i), _c(RAG_LIGHT.get(mv[2], "#FFFFFF"))))
        prev = previous.get(kpi)
        cells.append(kpi_value_text(prev[3], unit, prev[5]) if prev else "")
        rows.append(cells)
    widths = [avail * w for w in (0.27, 0.06, 0.08, 0.09, 0.08, 0.1, 0.1, 0.1, 0.09)]
    header_cells = [Paragraph(escape(h), st.cell_header) for h in header]
    out = [_heading(f"1. {SECTIONS[0]}", st.h1, "s1"),
           Paragraph(escape(data.tables["KPIs"].note), st.note),
           _table([header_cells] + rows, widths, font_size=7.4, styles=styles),
           Paragraph("Status colours: green at or better than target · amber within the tolerance band · red beyond "
                     f"it · grey: informational, nothing to measure, or {NO_BASELINE_TEXT} (a change against a "
                     "previous period that was zero or empty). Month cells are tinted by their own status.",
                     st.note),
           Paragraph("KPI definitions", st.h2),
           Paragraph(escape(definitions.note), st.note),
           # the title names the KPI here; its id (column kpi) is in the sheet
           *data_table(st, definitions.columns[1:], [row[1:] for row in definitions.rows], avail, limit=None,
                       font_size=6.4, wrap=True),
           CondPageBreak(300), Paragraph("Month-by-month trends", st.h2),
           Paragraph(escape(f"The last 12 months to {q.end:%B %Y} as reported on {data.as_of}; the quarter's "
                            f"months are shaded, the dashed line is the monthly target."), st.note)]
    months: dict[str, list] = defaultdict(list)
    for kpi, ptype, period, value, target, status, *_rest in trend:
        if ptype == "month":
            months[kpi].append((period, value, target))
    axis = trend_months(q.end)
    charts = []
    for kpi in kpis:
        reported = {p: (v, t) for p, v, t in months.get(kpi, []) if p in axis}
        if not reported:
            continue
        unit = (data.kpi_meta.get(kpi) or {}).get("unit")
        labels = [dt.date.fromisoformat(p + "-01").strftime("%b") for p in axis]
        target = next((reported[p][1] for p in reversed(axis) if p in reported and reported[p][1] is not None), None)
        charts.append(trend_chart(KPI_TITLES.get(kpi, kpi), labels, [reported.get(p, (None, None))[0] for p in axis],
                                  target, unit))
    grid = [charts[i:i + 3] for i in range(0, len(charts), 3)]
    if grid:
        grid[-1] += [""] * (3 - len(grid[-1]))
        t = RLTable(grid, colWidths=[avail / 3] * 3, hAlign="LEFT")
        out.append(t)
    return out


def trend_months(end: dt.date, n: int = 12) -> list[str]:
    """The n calendar months ('2026-03') up to and including the month of `end`, oldest first."""
    y, m = end.year, end.month
    out = []
    for _ in range(n):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y, m - 1) if m > 1 else (y - 1, 12)
    return out[::-1]


def _leavers_section(st, data: ReviewData, avail: float) -> list:
    from reportlab.platypus import Paragraph

    dist = data.tables["Time to revoke"]
    out = [_heading(f"2. {SECTIONS[1]}", st.h1, "s2")]
    kpis = {(k, p): (v, t, s) for k, p, v, t, s in data.tables["KPIs"].rows}
    q = data.quarter
    rt = kpis.get(("revocation_timeliness", q.kpi_label))
    mh = kpis.get(("mean_hours_to_revoke", q.kpi_label))
    if rt or mh:
        out.append(Paragraph(escape(
            f"Revocation timeliness for {q.kpi_label}: {fmt_value(rt[0] if rt else None, 'share')} of leavers' "
            f"accounts revoked by their due date (target {fmt_value(rt[1] if rt else None, 'share')}, "
            f"{(rt[2] if rt else 'no_data').replace('_', ' ')}); mean time to revoke "
            f"{fmt_value(mh[0] if mh else None, 'hours')}."), st.body))
    out.append(Paragraph("Overdue revocations", st.h2))
    out += _section_table(st, data.tables["Leavers overdue"], avail)
    out.append(Paragraph("Time-to-revoke distribution", st.h2))
    out.append(bar_chart("Accounts revoked in the quarter, by time to revoke", [r[0] for r in dist.rows],
                         [[r[1] for r in dist.rows], [r[2] for r in dist.rows]], ["revoked", "within due date"],
                         width=min(avail, 560), height=170))
    out += _section_table(st, dist, avail * 0.6, units={"share": "share"}, limit=None)
    out.append(Paragraph("Privileged access during notice (AL-02)", st.h2))
    out += _section_table(st, data.tables["Notice access"], avail)
    return out


def _exceptions_section(st, data: ReviewData, avail: float) -> list:
    from reportlab.platypus import Paragraph

    out = [_heading(f"3. {SECTIONS[2]}", st.h1, "s3")]
    out += _section_table(st, data.tables["Exceptions summary"], avail * 0.6, limit=None)
    table = data.tables["Exceptions"]
    rows_by_kind = defaultdict(list)
    for row in table.rows:
        rows_by_kind[row[0]].append(row)
    for kind in EXCEPTION_KINDS:
        rows = rows_by_kind.get(kind, [])
        out.append(Paragraph(escape(f"{EXCEPTION_TITLES[kind]}: {len(rows)}"), st.h2))
        if not rows:
            continue
        keep = [i for i, c in enumerate(table.columns)
                if c not in ("kind", "rule_id") and any(r[i] is not None for r in rows)]
        names = EXCEPTION_HEADINGS.get(kind, {})
        out += data_table(st, [names.get(table.columns[i], table.columns[i]) for i in keep],
                          [tuple(r[i] for i in keep) for r in rows], avail, sheet=table.name)
    return out


def _tiers_section(st, data: ReviewData, avail: float) -> list:
    from reportlab.platypus import Paragraph

    dist = data.tables["Tier distribution"]
    out = [_heading(f"4. {SECTIONS[3]}", st.h1, "s4"), Paragraph(escape(dist.note), st.note),
           bar_chart("Complainants per tier", [r[0] for r in dist.rows], [[r[1] for r in dist.rows],
                                                                           [r[2] for r in dist.rows]],
                     ["opening", "closing"], width=min(avail, 460), height=160)]
    out += data_table(st, dist.columns, dist.rows, avail * 0.5, limit=None)
    out.append(Paragraph("Movements between tiers", st.h2))
    out += _section_table(st, data.tables["Tier movements"], avail * 0.6, limit=None)
    out.append(Paragraph("Moved into the high tier", st.h2))
    out += _section_table(st, data.tables["Moved to high tier"], avail)
    return out


def _complaints_section(st, data: ReviewData, avail: float) -> list:
    from reportlab.platypus import Paragraph

    cats = data.tables["Complaint categories"]
    top = cats.rows[:10]
    out = [_heading(f"5. {SECTIONS[4]}", st.h1, "s5"), Paragraph("Top complaint categories", st.h2)]
    if top:
        out.append(bar_chart(cats.title, [r[0] for r in reversed(top)], [[r[1] for r in reversed(top)]],
                             ["received"], width=min(avail, 520), height=40 + 16 * len(top), horizontal=True))
    out += _section_table(st, cats, avail * 0.8, units={"share": "share"})
    out.append(Paragraph("Deadline breaches", st.h2))
    out += _section_table(st, data.tables["Deadline breaches"], avail)
    out.append(Paragraph("Complaint surges", st.h2))
    out += _section_table(st, data.tables["Surges"], avail)
    for name, heading in (("Complainant handling", "Key-complainant handling"), ("Incidents", "Incident register")):
        if name in data.tables:
            out.append(Paragraph(heading, st.h2))
            out += _section_table(st, data.tables[name], avail)
    return out


def _certification_section(st, data: ReviewData, avail: float) -> list:
    from reportlab.platypus import Paragraph

    summary = data.tables["Certification summary"]
    detail = data.tables["Access certification"]
    out = [_heading(f"6. {SECTIONS[5]}", st.h1, "s6")]
    out += _section_table(st, summary, avail * 0.7)
    by_manager = defaultdict(list)
    for row in detail.rows:
        by_manager[row[0]].append(row)
    shown = 0
    cols = [c for c in detail.columns if c not in ("manager_id", "manager_active")]
    for mgr, dept, active, team, n in summary.rows:
        rows = by_manager.get(mgr, [])
        if shown >= PDF_CERTIFICATION_ROW_LIMIT:
            out.append(Paragraph(f"… {len(detail.rows) - shown:,} more entitlement(s) of further managers: see sheet "
                                 f"“{escape(detail.name)}” of review_pack.xlsx.", st.note))
            break
        who = f"Manager {mgr}" if mgr else "No manager (top of the organisation)"
        extra = "" if active or not mgr else " — manager has left or is unknown to HR: reassign"
        out.append(Paragraph(escape(f"{who} ({dept or 'department unknown'}): {team} team member(s), "
                                    f"{n} privileged entitlement(s){extra}"), st.h2))
        take = rows[: PDF_CERTIFICATION_ROW_LIMIT - shown]
        out += data_table(st, cols, [row[2:] for row in take], avail, limit=None)
        shown += len(take)
    return out


def _dq_section(st, data: ReviewData, avail: float) -> list:
    from reportlab.platypus import Paragraph

    out = [_heading(f"7. {SECTIONS[6]}", st.h1, "s7")]
    out += _section_table(st, data.tables["DQ summary"], avail * 0.7, limit=None)
    out.append(Paragraph("Failed expectations", st.h2))
    out += _section_table(st, data.tables["DQ failures"], avail)
    return out


def _methodology_section(st, data: ReviewData, avail: float) -> list:
    from reportlab.platypus import Paragraph

    q = data.quarter
    paragraphs = [
        f"Period and as-of night. The pack covers {q.start} to {q.end}. Every figure is as of {data.as_of}, the "
        f"quarter's last published night: findings and access certification from that night's slice of the "
        f"published review tables, KPI figures from that night's scorecard, complainant tiers from that night's "
        f"tier history, dated events (revocations, complaints) up to that night and only as known on it. Later "
        f"nights do not change these slices, so rebuilding the pack gives the same numbers.",
        "Identifiers. Personal data is pseudonymised when it is loaded (keyed HMAC tokens); the pack shows internal "
        "ids only (employee_id, complainant_id, client_id, account_id) and never a name, national id, phone, e-mail "
        "or complaint text." + (" This identified view adds usernames for the viewer role it was built for."
                                if data.identified else ""),
        "Status (RAG). Green: at or better than the target; amber: within the tolerance band; red: beyond it. "
        "A value exactly at the target is green, exactly at the band's edge amber (seed kpi_targets).",
        "Data quality. Every night's raw feeds and published tables pass Great Expectations suites before "
        "anything is published; a critical failure stops the night. The figures are each night's last run.",
    ]
    out = [_heading(f"8. {SECTIONS[7]}", st.h1, "s8")]
    out += [Paragraph(escape(p), st.body) for p in paragraphs]
    out.append(Paragraph("Policy versions", st.h2))
    out += _section_table(st, data.tables["Policy versions"], avail * 0.5, limit=None)
    out.append(Paragraph("Rules", st.h2))
    out += _section_table(st, data.tables["Rule versions"], avail, limit=None, font_size=6.6)
    return out


def _response_section(st, data: ReviewData, avail: float) -> list:
    from reportlab.platypus import Paragraph

    out = [_heading(f"9. {SECTIONS[8]}", st.h1, "s9"), Paragraph("SLA performance by kind", st.h2)]
    out += _section_table(st, data.tables["Response SLA"], avail * 0.8, limit=None)
    out.append(Paragraph("Oldest open cases per owner team", st.h2))
    out += _section_table(st, data.tables["Oldest open cases"], avail)
    out.append(Paragraph("Per department", st.h2))
    out += _section_table(st, data.tables["Response by department"], avail, limit=None)
    if "Drills" in data.tables:  # docs/drills.md: the quarter's drills, timed
        out.append(Paragraph("Drills: the plan's practicality and speed", st.h2))
        out += _section_table(st, data.tables["Drills"], avail, limit=None)
    return out


def write_pdf(data: ReviewData, path: Path, *, font: PackFont | None = None) -> Path:
    from reportlab.platypus import PageBreak

    global FONT, _font
    _font = font or resolve_font()
    FONT = _font.name
    if _font.warning:
        log.warning("review pack %s: %s", data.quarter.label, _font.warning)
    st = _Styles()
    doc = _Doc(Path(path), data)
    avail = doc.width
    story: list = _cover(st, data, avail)
    for section in (_kpi_section, _leavers_section, _exceptions_section, _tiers_section, _complaints_section,
                    _certification_section, _dq_section, _methodology_section, _response_section):
        story.append(PageBreak())
        story += section(st, data, avail)
    doc.build(story)
    return Path(path)
