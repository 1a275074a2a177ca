"""`vigil import cfpb`: 1,000 real CFPB complaints through the importer, Vigil's own reader and the
complaint models, checked against an independent pandas reading of the same CSV.

The pandas side restates the mapping of docs/cfpb-import.md for the issues and values this sample
holds; it never calls the importer's functions, so a slip on either side shows up as a difference.
The sample is shared material (../shared, see its README); it is read in place, never copied.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import os
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import yaml
from fixtures.nights import REPO, TEST_KEY, minimal_night_as_of, write_night

from vigil.config import Settings
from vigil.ingest.importers import ImportSourceError
from vigil.ingest.importers.cfpb import import_cfpb
from vigil.ingest.contract import table

# ../shared from the repository's root; VIGIL_SHARED points elsewhere (e.g. for a clone in /tmp).
SHARED = Path(os.environ.get("VIGIL_SHARED") or REPO.parent / "shared")
SAMPLE = SHARED / "data" / "cfpb" / "consumer_complaints_2013_sample.csv"
SAMPLE_SHA256 = "c16e96c8159debcb293e3f373dc0bb3ce334afeb93ec4dc2c52547eaf2e3ed52"  # ../shared/README.md

# ------------------------------------------------------------------ the mapping, restated (docs/cfpb-import.md)

SPEC_CATEGORY = {  # every issue in the sample
    "fraud": ["Identity theft / Fraud / Embezzlement", "Fraud or scam"],
    "credit_dispute": [
        "Incorrect information on credit report", "Credit reporting company's investigation",
        "Cont'd attempts collect debt not owed", "Disclosure verification of debt", "Billing disputes",
        "Credit decision / Underwriting", "Credit determination",
    ],
    "mis_selling": [
        "Application, originator, mortgage broker", "Advertising and marketing", "Incorrect/missing disclosures or info",
        "Credit card protection / Debt protection", "Credit monitoring or identity protection",
        "Unsolicited issuance of credit card", "Taking out the loan or lease", "Convenience checks",
    ],
    "fees": [
        "Late fee", "Other fee", "APR or interest rate", "Settlement process and costs",
        "Problems caused by my funds being low", "Wrong amount charged or received", "Balance transfer",
    ],
    "data_privacy": ["Improper contact or sharing of info", "Privacy", "Improper use of my credit report"],
    "service": [
        "Loan modification,collection,foreclosure", "Loan servicing, payments, escrow account",
        "Account opening, closing, or management", "Deposits and withdrawals", "Communication tactics",
        "Taking/threatening an illegal action", "False statements or representation", "Repaying your loan",
        "Managing the loan or lease", "Problems when you are unable to pay", "Closing/Cancelling account",
        "Customer service / Customer relations", "Transaction issue", "Other transaction issues",
        "Making/receiving payments, sending money", "Money was not available when promised",
        "Using a debit or ATM card", "Application processing delay", "Forbearance / Workout plans",
        "Payoff process", "Billing statement", "Account terms and changes", "Delinquent account",
        "Credit line increase/decrease", "Rewards", "Unable to get credit report/credit score", "Sale of account",
        "Bankruptcy",
    ],
    "other": ["Other"],
}
SPEC_OUTCOME = {
    "Closed with monetary relief": "upheld",
    "Closed with non-monetary relief": "partially_upheld",
    "Closed with explanation": "rejected",
    "Closed": "rejected",
    "Untimely response": None,
}
# a referral (another agency forwarded the complaint to the CFPB) is correspondence, never `regulator`
SPEC_CHANNEL = {"Web": "online", "Phone": "phone", "Referral": "letter", "Postal mail": "letter", "Fax": "letter",
                "Email": "email"}
# CT-01 tiers of the sample's complainants on D = 2013-10-15 (before issue 20: high 103, medium 215, low 669)
TIERS_ON_THE_SAMPLE = {"high": 93, "medium": 151, "low": 743}
# CH-02 incidents on the sample on D and the days they fall on (before issue 20: 38 on 8 of the 9 days)
SURGES_ON_THE_SAMPLE, SURGE_DAYS_ON_THE_SAMPLE = 30, 8
VARS = yaml.safe_load((REPO / "dbt_project" / "dbt_project.yml").read_text())["vars"]  # the policy in force


def expected_from_source(as_of: dt.date) -> pd.DataFrame:
    """The sample as it stood on day D, mapped in pandas straight from the CFPB columns."""
    src = pd.read_csv(SAMPLE, dtype=str, keep_default_na=False)
    received = pd.to_datetime(src["date_received"], format="%m/%d/%Y")
    sent = pd.to_datetime(src["date_sent_to_company"], format="%m/%d/%Y")
    issue_to_cat = {i: c for c, issues in SPEC_CATEGORY.items() for i in issues}
    late = sent > pd.Timestamp(as_of)  # forwarded to the company after D: on D still open
    closed = src["company_response_to_consumer"].str.startswith("Closed") & ~late
    zip5 = src["zipcode"].where(src["zipcode"] == "", src["zipcode"].str.zfill(5))
    proxy = src["company"].str.lower() + "|" + src["state"] + "|" + zip5
    resolved = sent.where(sent > received, received).where(closed)  # the proxy: the day it was forwarded
    escalated = src["consumer_disputed?"].map({"Yes": True, "No": False})
    out = pd.DataFrame({
        "complaint_id": "CFPB-" + src["complaint_id"],
        "complainant": proxy.where(zip5 != "", "one-off|" + src["complaint_id"]),
        "received_date": received.dt.date,
        "resolved": resolved,
        "received": received,
        "category": src["issue"].map(issue_to_cat),
        "channel": src["submitted_via"].map(SPEC_CHANNEL),
        "status": closed.map({True: "closed", False: "in_progress"}).where(~late, "open"),
        "outcome": src["company_response_to_consumer"].map(SPEC_OUTCOME).where(~late, None),
        "escalated": escalated.where(~late, False),
        "branch_id": src["state"].replace("", None),
        "days_open": (resolved.fillna(pd.Timestamp(as_of)) - received).dt.days,
    })
    assert out["category"].notna().all() and out["channel"].notna().all(), "the spec above misses a sample value"
    return out


def counts(series: pd.Series) -> dict:
    return {(None if pd.isna(k) else k): int(v) for k, v in series.value_counts(dropna=False).items()}


# ------------------------------------------------------------------ one import, one night, for the module


@pytest.fixture(scope="module")
def source() -> pd.DataFrame:
    assert SAMPLE.is_file(), f"the shared CFPB sample is missing: {SAMPLE} (../shared/README.md; or set VIGIL_SHARED)"
    assert hashlib.sha256(SAMPLE.read_bytes()).hexdigest() == SAMPLE_SHA256, "the shared CFPB sample changed"
    return pd.read_csv(SAMPLE, dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def night(source) -> dt.date:
    """D of the pipeline run: the last day a complaint was received (2013-10-15), so that the models'
    90-day surge window covers every received day and 30 complaints are still open on D."""
    return pd.to_datetime(source["date_received"], format="%m/%d/%Y").max().date()


@pytest.fixture(scope="module")
def expected(night) -> pd.DataFrame:
    return expected_from_source(night)


def _settings(base: Path) -> Settings:
    return Settings(
        landing=str(base / "landing"), warehouse=str(base / "warehouse" / "vigil.duckdb"), out=base / "out",
        mode="production", pseudonymisation_key=TEST_KEY, duckdb_memory_limit="1GB", create_warehouse=True,
    )


@pytest.fixture(scope="module")
def imported(tmp_path_factory, night):
    base = tmp_path_factory.mktemp("cfpb")
    settings = _settings(base)
    result = import_cfpb(SAMPLE, settings.landing, as_of=night)
    return settings, result


@pytest.fixture(scope="module")
def warehouse(imported):
    """hr, iam, crm: the minimal valid night moved to D; complaints: the CFPB import. One nightly run."""
    from vigil.pipeline import run_nightly

    settings, result = imported
    # the roster must make sense on D (the raw gate rejects hires years after D)
    write_night(Path(settings.landing), result.date, data=minimal_night_as_of(result.date), feeds=("hr", "iam", "crm"))
    summary = run_nightly(settings, result.date)
    assert summary.ok, summary.error
    con = duckdb.connect(settings.warehouse, read_only=True)
    yield con
    con.close()


def q(con, sql: str, params=()) -> list[tuple]:
    return con.execute(sql, list(params)).fetchall()


# ------------------------------------------------------------------ the delivery


def test_delivery_layout_and_manifest(imported, expected):
    import json

    settings, result = imported
    assert result.date == dt.date(2013, 10, 15)
    folder = Path(settings.landing) / "complaints" / "2013-10-15"
    assert result.folder == folder
    assert sorted(p.name for p in folder.iterdir()) == ["_manifest.json", "complainants.csv", "complaints.csv"]
    assert not [p for p in (Path(settings.landing) / "complaints").iterdir() if p.name.startswith(".")]
    manifest = json.loads((folder / "_manifest.json").read_text())
    assert manifest["feed"] == "complaints" and manifest["date"] == "2013-10-15"
    for name, entry in manifest["files"].items():
        raw = (folder / name).read_bytes()
        assert entry["sha256"] == hashlib.sha256(raw).hexdigest()
        assert entry["rows"] == raw.count(b"\n") - 1  # no field of this import holds a line break
        assert b"\r" not in raw and not raw.startswith(b"\xef\xbb\xbf")
        assert raw.split(b"\n", 1)[0].decode() == ",".join(table("complaints", name[:-4]).column_names)
    assert manifest["files"]["complaints.csv"]["rows"] == 1000
    assert manifest["files"]["complainants.csv"]["rows"] == expected["complainant"].nunique() == 987
    assert any(w.startswith("30 complaints were forwarded to the company after 2013-10-15") for w in result.warnings)


def test_delivery_passes_vigils_own_reader(imported, tmp_path):
    """extract_feed validates both files against the contract and checks the manifest."""
    from vigil.pipeline import extract_feed

    settings, result = imported
    s = Settings(landing=settings.landing, warehouse=str(tmp_path / "unused.duckdb"), out=tmp_path / "out",
                 mode="production", pseudonymisation_key=TEST_KEY, duckdb_memory_limit="1GB")
    out = extract_feed(s, "complaints", result.date, "test-run")
    assert {t["table"]: t["rows"] for t in out["tables"]} == {"complaints": 1000, "complainants": 987}
    assert out["warnings"] == []


def test_default_date_and_determinism(source, tmp_path):
    """Without --as-of, D is the latest date in the file and every response is kept; the same file
    gives the same bytes."""
    first = import_cfpb(SAMPLE, tmp_path / "a")
    again = import_cfpb(SAMPLE, tmp_path / "b")
    dates = pd.concat([pd.to_datetime(source[c], format="%m/%d/%Y") for c in ("date_received", "date_sent_to_company")])
    assert first.date == again.date == dates.max().date() == dt.date(2014, 1, 6)
    for name in ("complaints.csv", "complainants.csv", "_manifest.json"):
        assert (first.folder / name).read_bytes() == (again.folder / name).read_bytes(), name
    full = expected_from_source(first.date)
    rows = pd.read_csv(first.folder / "complaints.csv", dtype=str, keep_default_na=False)
    assert counts(rows["status"]) == counts(full["status"]) == {"closed": 999, "in_progress": 1}
    assert counts(rows["outcome"].replace("", None)) == counts(full["outcome"])
    assert (rows["escalated_externally"] == "true").sum() == int(full["escalated"].sum()) == 211


# ------------------------------------------------------------------ the marts against pandas


def test_fct_complaints_matches_the_source(warehouse, expected, night):
    exp, con = expected, warehouse
    assert q(con, "SELECT count(*), count(DISTINCT complaint_id), min(as_of_date) FROM marts.fct_complaints") == [
        (1000, 1000, night)]
    assert dict(q(con, "SELECT category, count(*) FROM marts.fct_complaints GROUP BY ALL")) == counts(exp["category"])
    assert dict(q(con, "SELECT status, count(*) FROM marts.fct_complaints GROUP BY ALL")) == counts(exp["status"])
    assert dict(q(con, "SELECT outcome, count(*) FROM marts.fct_complaints GROUP BY ALL")) == counts(exp["outcome"])
    assert dict(q(con, "SELECT channel, count(*) FROM marts.fct_complaints GROUP BY ALL")) == counts(exp["channel"])
    assert q(con, "SELECT count(*) FILTER (WHERE escalated_externally) FROM marts.fct_complaints")[0][0] == int(
        exp["escalated"].sum()) == 207
    assert q(con, "SELECT count(*) FILTER (WHERE is_open) FROM marts.fct_complaints")[0][0] == int(
        (exp["status"] != "closed").sum()) == 31
    # nothing the CFPB does not publish is invented
    assert q(con, """SELECT count(employee_id), count(satisfaction), count(amount), count(client_id),
                            count(*) FILTER (WHERE insider_link) FROM marts.fct_complaints""") == [(0, 0, 0, 0, 0)]
    got = dict(q(con, "SELECT complaint_id, days_open FROM marts.fct_complaints"))
    assert got == dict(zip(exp["complaint_id"], exp["days_open"].astype(int)))


def test_complaint_deadlines(warehouse, expected, night):
    """fct_complaint_deadlines with the policy in dbt_project.yml (15 days, no extensions for CFPB ids)."""
    exp = expected
    deadline = exp["received"] + pd.Timedelta(days=VARS["complaint_response_days"])
    resolved = exp["resolved"]
    status = pd.Series("open_within_deadline", index=exp.index)
    status[resolved.notna() & (resolved <= deadline)] = "resolved_on_time"
    status[resolved.notna() & (resolved > deadline)] = "resolved_late"
    status[resolved.isna() & (pd.Timestamp(night) > deadline)] = "open_past_deadline"
    got = dict(q(warehouse, "SELECT deadline_status, count(*) FROM marts.fct_complaint_deadlines GROUP BY ALL"))
    assert got == counts(status)
    # late: forwarded to the company more than 15 days after receipt (the proxy is a lower bound, so
    # these breached whatever the company did); open: the untimely one + 30 not yet forwarded on D
    assert got == {"resolved_on_time": 943, "resolved_late": 26, "open_past_deadline": 31}
    breached = q(warehouse, "SELECT count(*) FILTER (WHERE is_breached) FROM marts.fct_complaint_deadlines")[0][0]
    assert breached == int(status.isin(["resolved_late", "open_past_deadline"]).sum()) == 57
    external = exp["escalated"].fillna(False).astype(bool) | exp["channel"].isin(VARS["external_escalation_channels"])
    assert q(warehouse, "SELECT count(*) FILTER (WHERE is_externally_escalated) FROM marts.fct_complaint_deadlines"
             )[0][0] == int(external.sum())


def test_complaint_surges(warehouse, expected, night):
    """fct_complaint_surge_checks: per (state, category, day), the day's count against the 28-day
    baseline, the last 7 days and the same weekday of the 4 weeks before, recomputed from the CSV."""
    exp = expected[expected["branch_id"].notna()]
    D = pd.Timestamp(night)
    daily = exp.groupby(["branch_id", "category", "received"]).size().rename("n").reset_index()
    checked = daily[daily["received"] > D - pd.Timedelta(days=VARS["surge_report_days"])]
    base_days, recent_days, weeks = VARS["surge_baseline_days"], VARS["surge_recent_days"], VARS["surge_weekday_weeks"]

    def before(r, days: int) -> pd.DataFrame:
        same = daily[(daily["branch_id"] == r["branch_id"]) & (daily["category"] == r["category"])]
        return same[(same["received"] < r["received"]) & (same["received"] >= r["received"] - pd.Timedelta(days=days))]

    def weekday(r) -> int:
        b = before(r, 7 * weeks)
        return int(b[(r["received"] - b["received"]).dt.days % 7 == 0]["n"].sum())

    checked = checked.assign(baseline=checked.apply(lambda r: int(before(r, base_days)["n"].sum()), axis=1),
                             recent=checked.apply(lambda r: int(before(r, recent_days)["n"].sum()), axis=1),
                             weekday=checked.apply(weekday, axis=1))
    k, n = VARS["surge_multiplier"], checked["n"]
    old_rule = (n >= VARS["surge_min_complaints"]) & (n * base_days >= k * checked["baseline"])
    surge = old_rule & (n * recent_days >= k * checked["recent"]) & (n * weeks >= k * checked["weekday"])
    want = {(r.branch_id, r.category, r.received.date(), int(r.n), int(r.baseline), int(r.recent), int(r.weekday))
            for r in checked[surge].itertuples()}
    got = set(q(warehouse, """SELECT branch_id, category, received_date, n_complaints, baseline_total, recent_total,
                                     weekday_total FROM marts.fct_complaint_surge_checks WHERE is_surge"""))
    assert got == want
    assert q(warehouse, "SELECT count(*) FROM marts.fct_complaint_surge_checks")[0][0] == len(checked) == 458
    # the 28-day baseline alone (until issue 20) made 38 incidents on 8 of the 9 received days
    assert int(old_rule.sum()) == 38 and checked[old_rule]["received"].nunique() == 8
    assert len(got) == SURGES_ON_THE_SAMPLE and checked[surge]["received"].nunique() == SURGE_DAYS_ON_THE_SAMPLE


def test_busiest_day_by_category_and_state(warehouse, expected):
    exp = expected
    per_day = exp.groupby("received_date").size()
    busiest = per_day[per_day == per_day.max()].index.min()
    got_day = q(warehouse, """SELECT received_date, count(*) FROM marts.fct_complaints GROUP BY 1
                              ORDER BY 2 DESC, 1 LIMIT 1""")[0]
    assert got_day == (busiest, int(per_day.max())) == (dt.date(2013, 9, 10), 262)
    got = {(c, b): n for c, b, n in q(warehouse, """SELECT category, branch_id, count(*) FROM marts.fct_complaints
                                                    WHERE received_date = ? GROUP BY ALL""", [busiest])}
    day = exp[exp["received_date"] == busiest]
    want = {(c, None if pd.isna(b) else b): int(n)
            for (c, b), n in day.groupby(["category", "branch_id"], dropna=False).size().items()}
    assert got == want


def test_dim_complainants_uses_the_proxy_key(warehouse, expected):
    exp = expected
    got = q(warehouse, """SELECT count(*), max(n_complaints), count(*) FILTER (WHERE n_complaints > 1),
                                 count(full_name_token) + count(national_id_token) + count(phone_token)
                          FROM marts.dim_complainants""")[0]
    sizes = exp.groupby("complainant").size()
    assert got == (len(sizes), int(sizes.max()), int((sizes > 1).sum()), 0)
    assert got[:3] == (987, 3, 11)


# ------------------------------------------------------------------ bad input: clear errors, nothing written


def _rewrite_sample(path: Path, *, drop: str | None = None, set_cell: tuple[int, str, str] | None = None) -> Path:
    with open(SAMPLE, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    columns = [c for c in rows[0] if c != drop]
    if set_cell:
        i, col, value = set_cell
        rows[i][col] = value
    buf = io.StringIO()
    w = csv.DictWriter(buf, columns, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    path.write_text(buf.getvalue(), encoding="utf-8")
    return path


def _nothing_written(landing: Path) -> bool:
    return not (landing / "complaints").exists() or not any((landing / "complaints").iterdir())


def test_missing_column_is_named(tmp_path):
    bad = _rewrite_sample(tmp_path / "no_channel.csv", drop="submitted_via")
    with pytest.raises(ImportSourceError) as info:
        import_cfpb(bad, tmp_path / "landing")
    assert info.value.column == "submitted_via"
    assert "no_channel.csv" in str(info.value) and "missing column 'submitted_via'" in str(info.value)
    assert _nothing_written(tmp_path / "landing")


def test_bad_date_is_reported_with_line_and_column(tmp_path):
    bad = _rewrite_sample(tmp_path / "bad_date.csv", set_cell=(41, "date_received", "31/08/2013"))
    with pytest.raises(ImportSourceError) as info:
        import_cfpb(bad, tmp_path / "landing")
    assert (info.value.line, info.value.column) == (43, "date_received")  # header = line 1, row 41 -> line 43
    assert "bad_date.csv, line 43, column 'date_received': '31/08/2013' is not a date" in str(info.value)
    assert _nothing_written(tmp_path / "landing")


def test_cli_exit_codes_and_messages(source, tmp_path, capsys):
    from vigil.cli import main

    landing = tmp_path / "landing"
    assert main(["import", "cfpb", str(SAMPLE), "--landing", str(landing), "--as-of", "2014-01-10"]) == 0
    out = capsys.readouterr().out
    assert "complaints/2014-01-10/complaints.csv: 1,000 rows" in out and "complainants.csv: 987 rows" in out
    # the folder is taken: usage error; --force replaces it
    assert main(["import", "cfpb", str(SAMPLE), "--landing", str(landing), "--as-of", "2014-01-10"]) == 2
    assert main(["import", "cfpb", str(SAMPLE), "--landing", str(landing), "--as-of", "2014-01-10", "--force"]) == 0
    # a complaint received after --as-of cannot be in D's delivery: named by line and column
    capsys.readouterr()
    line = int(source.index[source["date_received"] == "10/15/2013"][0]) + 2  # header = line 1
    assert main(["import", "cfpb", str(SAMPLE), "--landing", str(landing), "--as-of", "2013-10-14"]) == 1
    assert (f"line {line}, column 'date_received': 2013-10-15 is after --as-of 2013-10-14"
            in capsys.readouterr().err.replace("\n", " "))
    assert not (landing / "complaints" / "2013-10-14").exists()
    bad = _rewrite_sample(tmp_path / "no_id.csv", drop="complaint_id")
    assert main(["import", "cfpb", str(bad), "--landing", str(tmp_path / "other")]) == 1
    assert "missing column 'complaint_id'" in capsys.readouterr().err


def test_cfpb_headers_multiline_records_and_the_narrative(tmp_path):
    """The CFPB's own header spelling is accepted; a narrative with line breaks keeps physical line
    numbers right and never reaches the output."""
    header = ("Date received,Product,Sub-product,Issue,Sub-issue,Consumer complaint narrative,Company public response,"
              "Company,State,ZIP code,Tags,Consumer consent provided?,Submitted via,Date sent to company,"
              "Company response to consumer,Timely response?,Consumer disputed?,Complaint ID")
    text = (header + "\n"
            '2019-03-01,Checking or savings account,,Managing an account,,"CANARY-NARRATIVE line one\nline two",,'
            "Bank A,NY,10001,,Consent provided,Web,2019-03-02,Closed with explanation,Yes,N/A,3150001\n"
            "2019-03-0x,Mortgage,,Trouble during payment process,,,,Bank A,NY,10001,,,Phone,2019-03-04,In progress,Yes,,3150002\n")
    src = tmp_path / "cfpb_api.csv"
    src.write_text(text, encoding="utf-8")
    with pytest.raises(ImportSourceError) as info:
        import_cfpb(src, tmp_path / "landing")
    assert (info.value.line, info.value.column) == (4, "date_received")  # record 2 starts on physical line 4
    src.write_text(text.replace("2019-03-0x", "2019-03-03"), encoding="utf-8")
    result = import_cfpb(src, tmp_path / "landing")
    assert result.date == dt.date(2019, 3, 4)
    body = (result.folder / "complaints.csv").read_text()
    assert "CANARY" not in body and "line two" not in body
    rows = list(csv.DictReader(io.StringIO(body)))
    assert [(r["channel"], r["category"], r["status"], r["outcome"], r["escalated_externally"]) for r in rows] == [
        ("online", "service", "closed", "rejected", "false"), ("phone", "service", "in_progress", "", "")]
    assert rows[0]["complainant_id"] == rows[1]["complainant_id"]  # same company, state and ZIP


def test_doc_lists_the_issue_table():
    """docs/cfpb-import.md shows the module's issue -> category table, row by row."""
    from vigil.ingest.importers.cfpb import ISSUE_CATEGORIES

    doc = (REPO / "docs" / "cfpb-import.md").read_text()
    for category, issues in ISSUE_CATEGORIES.items():
        row = next(line for line in doc.splitlines() if line.startswith(f"| `{category}` |"))
        assert row == f"| `{category}` | " + "; ".join(issues) + " |"


# ------------------------------------------------------------------ mapping choices (docs/cfpb-import.md, issue 20)

_HEADER = ("date_received,product,issue,company,state,zipcode,submitted_via,date_sent_to_company,"
           "company_response_to_consumer,timely_response,consumer_disputed?,complaint_id")


def _import_rows(tmp_path, rows: list[str]) -> tuple[list[dict], object]:
    src = tmp_path / "export.csv"
    src.write_text(_HEADER + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    result = import_cfpb(src, tmp_path / "landing")
    return list(csv.DictReader(io.StringIO((result.folder / "complaints.csv").read_text()))), result


def test_consumer_disputed_na_is_false_and_empty_is_null(tmp_path):
    """N/A: the CFPB retired the dispute option (April 2017), so no dispute was made: false, as the doc says."""
    rows, _ = _import_rows(tmp_path, [
        "2019-03-01,Mortgage,Trouble during payment process,Bank A,NY,10001,Web,2019-03-02,Closed with explanation,Yes,N/A,1",
        "2019-03-01,Mortgage,Trouble during payment process,Bank A,NY,10002,Web,2019-03-02,Closed with explanation,Yes,,2",
        "2013-03-01,Mortgage,Trouble during payment process,Bank A,NY,10003,Web,2013-03-02,Closed with explanation,Yes,Yes,3",
        "2013-03-01,Mortgage,Trouble during payment process,Bank A,NY,10004,Web,2013-03-02,Closed with explanation,Yes,No,4",
    ])
    assert [r["escalated_externally"] for r in rows] == ["false", "", "true", "false"]
    doc = (REPO / "docs" / "cfpb-import.md").read_text()
    assert "`Yes`→`true`, `No` and `N/A`→`false`, empty→null" in doc


def test_referrals_are_not_a_regulator_escalation(tmp_path):
    """Every CFPB complaint sits with a regulator: a referral by another agency is correspondence."""
    rows, result = _import_rows(tmp_path, [
        "2019-03-01,Mortgage,Trouble during payment process,Bank A,NY,10001,Referral,2019-03-02,Closed,Yes,No,1",
        "2019-03-01,Mortgage,Trouble during payment process,Bank A,NY,10002,Web Referral,2019-03-02,Closed,Yes,No,2",
    ])
    assert [r["channel"] for r in rows] == ["letter", "online"]
    assert "regulator" not in result.counts["channel"]


def test_masked_zip_codes_never_merge_complainants(tmp_path):
    """A masked ZIP (first three digits, 021XX) is a complainant of its own; 5 digits (or 4, padded) merge."""
    rows, result = _import_rows(tmp_path, [
        "2019-03-01,Mortgage,Trouble during payment process,Equifax,MA,021XX,Web,2019-03-02,Closed,Yes,N/A,1",
        "2019-03-01,Mortgage,Trouble during payment process,Equifax,MA,021XX,Web,2019-03-02,Closed,Yes,N/A,2",
        "2019-03-01,Mortgage,Trouble during payment process,Equifax,MA,02921,Web,2019-03-02,Closed,Yes,N/A,3",
        "2019-03-01,Mortgage,Trouble during payment process,Equifax,MA,2921,Web,2019-03-02,Closed,Yes,N/A,4",
        "2019-03-01,Mortgage,Trouble during payment process,Equifax,MA,,Web,2019-03-02,Closed,Yes,N/A,5",
    ])
    ids = [r["complainant_id"] for r in rows]
    assert ids[:2] == ["CFPB-U-1", "CFPB-U-2"] and ids[4] == "CFPB-U-5"
    assert ids[2] == ids[3] and ids[2].startswith("CFPB-P-")
    assert any(w.startswith("2 complaints have a masked ZIP code") for w in result.warnings)


# The commonest issue names of the complaint form the CFPB introduced in April 2017, each with the
# category of its pre-2017 predecessor (docs/cfpb-import.md, "Issue -> category").
NEWER_ISSUES = {
    "Took or threatened to take negative or legal action": "service",
    "Threatened to contact someone or share information improperly": "data_privacy",
    "Applying for a mortgage or refinancing an existing mortgage": "mis_selling",
    "Closing on a mortgage": "fees",
    "Problem when making payments": "service",
    "Trouble using your card": "service",
    "Other features, terms, or problems": "service",
    "Advertising and marketing, including promotional offers": "mis_selling",
    "Credit monitoring or identity theft protection services": "mis_selling",
    "Problem with a lender or other company charging your account": "fees",
    "Unable to get your credit report or credit score": "service",
    "Struggling to pay your loan": "service",
    "Getting a loan or lease": "mis_selling",
    "Problem with a company's investigation into an existing problem": "credit_dispute",
    "Received a loan you didn't apply for": "fraud",
    "Money was taken from your bank account on the wrong day or for the wrong amount": "fees",
}


@pytest.mark.parametrize("issue", sorted(NEWER_ISSUES))
def test_newer_cfpb_issue_names_have_a_category(issue):
    from vigil.ingest.importers.cfpb import category_for

    assert category_for("Debt collection", issue) == (NEWER_ISSUES[issue], True)
    assert category_for("Debt collection", "An issue the CFPB adds next year") == ("other", False)


def test_complainant_tiers_on_the_sample(warehouse):
    """Before issue 20 every referral (+4 points, 92 complaints) made its complainant medium or high:
    high 103, medium 215, low 669. Now escalation points come from a dispute with the CFPB only."""
    tiers = dict(q(warehouse, "SELECT tier, count(*) FROM marts.fct_complainant_risk_tiers GROUP BY ALL"))
    assert tiers == TIERS_ON_THE_SAMPLE
    escalated = q(warehouse, "SELECT complainant_id FROM marts.fct_complainant_risk_tiers WHERE points_escalation > 0")
    disputed = q(warehouse, "SELECT DISTINCT complainant_id FROM marts.fct_complaints WHERE escalated_externally")
    assert sorted(escalated) == sorted(disputed)
    assert q(warehouse, "SELECT count(*) FROM marts.fct_complaints WHERE channel = 'regulator'") == [(0,)]
