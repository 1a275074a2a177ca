"""CFPB Consumer Complaint Database export -> Vigil's complaints feed.

    vigil import cfpb FILE --landing DIR [--as-of YYYY-MM-DD] [--force]

Reads a CSV export of the CFPB's public Consumer Complaint Database (the columns of
https://www.consumerfinance.gov/data-research/consumer-complaints/, in the export's own spelling
"Date received", "ZIP code" … or snake_case "date_received", "zipcode" …) and writes one delivery of
the complaints feed: ``<landing>/complaints/<D>/complaints.csv``, ``complainants.csv`` and
``_manifest.json``, exactly per docs/feeds.md.

The export has no complainant identifier, no resolution timestamp, no employee and no insider flag.
What is derived, and how, is documented field by field in docs/cfpb-import.md; the mapping tables
are below, as data. In short:

* complaint_id   = "CFPB-" + Complaint ID
* complainant_id = a PROXY: "CFPB-P-" + sha256(company | state | 5-digit ZIP)[:16]; rows without a
                   5-digit ZIP (none, or masked: 021XX) get a complainant of their own ("CFPB-U-" + ID). It merges different
                   people of one ZIP complaining about one company and splits one person who moved
                   or complained about two companies.
* received_at    = Date received, 00:00Z (CFPB dates carry no time or zone)
* resolved_at    = Date sent to company, 00:00Z, for complaints with a closing response: a LOWER
                   BOUND (the company answered on or after that day; the day itself is not published)
* updated_at     = the latest date in the row (received, sent to company)
* branch_id      = State (the "branch" is the consumer's US state; the bank's branch is unknown)
* D (the folder) = --as-of, default the latest date anywhere in the file. With an earlier --as-of,
                   complaints received after D are refused, and complaints forwarded to the company
                   after D are loaded as they stood on D under the proxy: open, no outcome, no dispute.
* channel        = how the consumer complained (Web -> online, ...); a referral by another agency is
                   correspondence (letter), never `regulator`: every CFPB complaint sits with a regulator.

The consumer's narrative, the tags and the company's public response are never read into the output.
"""

from __future__ import annotations

import csv
import datetime as dt
import difflib
import hashlib
import re
import shutil
from collections import Counter
from pathlib import Path

from vigil.ingest.importers import (
    ContractCsvWriter,
    ImportResult,
    ImportSourceError,
    check_target,
    csv_records,
    publish,
    staging_folder,
    write_manifest,
)
from vigil.ingest.contract import COMPLAINT_CATEGORIES, table

FEED = "complaints"
COMPLAINTS = table(FEED, "complaints")
COMPLAINANTS = table(FEED, "complainants")

# --------------------------------------------------------------------------- the export's columns

#: Source columns the mapping reads (the export has more; they are ignored, the narrative included).
REQUIRED_COLUMNS: tuple[str, ...] = (
    "complaint_id",
    "date_received",
    "product",
    "issue",
    "company",
    "state",
    "zipcode",
    "submitted_via",
    "date_sent_to_company",
    "company_response_to_consumer",
    "consumer_disputed?",
)

#: Header spellings of the CFPB's own export, after normalising (lower case, spaces and dashes -> _).
COLUMN_ALIASES: dict[str, str] = {
    "zip_code": "zipcode",
    "consumer_disputed": "consumer_disputed?",
    "timely_response?": "timely_response",
    "consumer_consent_provided?": "consumer_consent_provided",
}

# --------------------------------------------------------------------------- mapping tables

#: submitted_via ("how the complaint was submitted to the CFPB", the CFPB's field reference) -> channel.
#: Every CFPB complaint reaches the bank through a regulator's portal, so none is marked `regulator`:
#: that channel means "escalated to a regulator" (CT-01 +4 points), and marking only the complaints
#: another agency forwarded to the CFPB ("Referral") would single out one route to the same regulator.
#: A referral arrives as an agency's forwarded correspondence: `letter`; a web referral: `online`.
CHANNELS: dict[str, str] = {
    "Web": "online",
    "Phone": "phone",
    "Postal mail": "letter",
    "Fax": "letter",  # a faxed letter: paper correspondence
    "Email": "email",
    "Referral": "letter",  # another agency forwarded the consumer's complaint to the CFPB
    "Web Referral": "online",  # later exports: referred through another agency's web form
}

#: company_response_to_consumer -> (status, outcome). Unknown values are an error (the CFPB's list
#: is short and stable: a new value needs a decision, not a guess).
RESPONSES: dict[str, tuple[str, str | None]] = {
    "Closed with monetary relief": ("closed", "upheld"),
    "Closed with non-monetary relief": ("closed", "partially_upheld"),
    "Closed with relief": ("closed", "partially_upheld"),  # pre-2012 value, relief of either kind
    "Closed with explanation": ("closed", "rejected"),  # explained, no relief
    "Closed without relief": ("closed", "rejected"),
    "Closed": ("closed", "rejected"),  # closed without relief or explanation
    "In progress": ("in_progress", None),
    "Untimely response": ("in_progress", None),  # the company has not answered in time
    "": ("in_progress", None),  # sent to the company, no response published (open if never sent)
}

#: consumer_disputed? -> escalated_externally (the consumer disputed the company's response with
#: the CFPB: a second escalation; the complaint itself already sits with a regulator). `N/A`: the
#: CFPB retired the dispute option in April 2017, so no dispute was made: `false`. Empty: not known
#: (no response yet, or an older export left it blank): null.
DISPUTED: dict[str, bool | None] = {"Yes": True, "No": False, "N/A": False, "": None}

#: issue -> category. Issues are matched case-insensitively, whitespace collapsed. The CFPB's 2013
#: issue list is covered completely, and so are the issue names of the complaint form the CFPB
#: introduced in April 2017 (each placed where its pre-2017 predecessor is: "Took or threatened to
#: take negative or legal action" beside "Taking/threatening an illegal action", ...).
ISSUE_CATEGORIES: dict[str, tuple[str, ...]] = {
    "fraud": (
        "Identity theft / Fraud / Embezzlement",
        "Fraud or scam",
        "Unauthorized transactions/trans. issues",
        "Unauthorized transactions or other transaction problem",
        "Lost or stolen check",
        "Lost or stolen money order",
        "Received a loan I didn't apply for",
        "Problem with fraud alerts or security freezes",
        "Received a loan you didn't apply for",
    ),
    "credit_dispute": (
        "Incorrect information on credit report",
        "Incorrect information on your report",
        "Credit reporting company's investigation",
        "Problem with a credit reporting company's investigation into an existing problem",
        "Cont'd attempts collect debt not owed",
        "Attempts to collect debt not owed",
        "Disclosure verification of debt",
        "Written notification about debt",
        "Billing disputes",
        "Problem with a purchase shown on your statement",
        "Credit decision / Underwriting",
        "Credit determination",
        "Collection debt dispute",
        "Problem with a company's investigation into an existing problem",
        "Problem with a company's investigation into an existing issue",
    ),
    "mis_selling": (
        "Application, originator, mortgage broker",
        "Advertising and marketing",
        "Advertising, marketing or disclosures",
        "Incorrect/missing disclosures or info",
        "Confusing or missing disclosures",
        "Credit card protection / Debt protection",
        "Credit monitoring or identity protection",
        "Unsolicited issuance of credit card",
        "Taking out the loan or lease",
        "Shopping for a loan or lease",
        "Getting a credit card",
        "Convenience checks",
        "Applying for a mortgage or refinancing an existing mortgage",
        "Applying for a mortgage",
        "Advertising and marketing, including promotional offers",
        "Confusing or misleading advertising or marketing",
        "Credit monitoring or identity theft protection services",
        "Identity theft protection or other monitoring services",
        "Getting a loan or lease",
        "Getting a loan",
        "Getting a line of credit",
    ),
    "fees": (
        "Late fee",
        "Other fee",
        "Overlimit fee",
        "Cash advance fee",
        "Balance transfer fee",
        "Balance transfer",
        "APR or interest rate",
        "Settlement process and costs",
        "Problems caused by my funds being low",
        "Problem caused by your funds being low",
        "Fees or interest",
        "Charged fees or interest you didn't expect",
        "Wrong amount charged or received",
        "Incorrect exchange rate",
        "Excessive fees",
        "Charged bank acct wrong day or amt",
        "Closing on a mortgage",
        "Problem with a lender or other company charging your account",
        "Money was taken from your bank account on the wrong day or for the wrong amount",
        "Unexpected or other fees",
    ),
    "data_privacy": (
        "Improper contact or sharing of info",
        "Privacy",
        "Improper use of my credit report",
        "Improper use of your report",
        "Report improperly shared",
        "Threatened to contact someone or share information improperly",
    ),
    "service": (
        "Loan modification,collection,foreclosure",
        "Loan servicing, payments, escrow account",
        "Account opening, closing, or management",
        "Deposits and withdrawals",
        "Communication tactics",
        "Taking/threatening an illegal action",
        "False statements or representation",
        "Collection practices",
        "Repaying your loan",
        "Managing the loan or lease",
        "Problems when you are unable to pay",
        "Closing/Cancelling account",
        "Customer service / Customer relations",
        "Transaction issue",
        "Other transaction issues",
        "Making/receiving payments, sending money",
        "Money was not available when promised",
        "Using a debit or ATM card",
        "Application processing delay",
        "Forbearance / Workout plans",
        "Payoff process",
        "Billing statement",
        "Account terms and changes",
        "Delinquent account",
        "Credit line increase/decrease",
        "Rewards",
        "Unable to get credit report/credit score",
        "Sale of account",
        "Bankruptcy",
        "Payment to acct not credited",
        "Can't contact lender",
        "Can't repay my loan",
        "Managing an account",
        "Opening an account",
        "Closing an account",
        "Trouble during payment process",
        "Struggling to pay mortgage",
        "Dealing with your lender or servicer",
        "Took or threatened to take negative or legal action",
        "Electronic communications",
        "Problem when making payments",
        "Trouble using your card",
        "Trouble using the card",
        "Other features, terms, or problems",
        "Problem with customer service",
        "Struggling to pay your loan",
        "Struggling to repay your loan",
        "Problems at the end of the loan or lease",
        "Problem with the payoff process at the end of the loan",
        "Vehicle was repossessed or sold the vehicle",
        "Loan payment wasn't credited to your account",
        "Other transaction problem",
        "Problem getting a card or closing an account",
        "Unable to get your credit report or credit score",
        "Can't stop withdrawals from your bank account",
        "Managing, opening, or closing your mobile wallet account",
    ),
    "other": ("Other", "Arbitration"),
}

#: product -> category, for issues not in ISSUE_CATEGORIES (empty or new); anything else is "other".
PRODUCT_CATEGORIES: dict[str, str] = {
    "Credit reporting": "credit_dispute",
    "Credit reporting, credit repair services, or other personal consumer reports": "credit_dispute",
}


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


_ISSUE_LOOKUP: dict[str, str] = {_norm(i): cat for cat, issues in ISSUE_CATEGORIES.items() for i in issues}
_PRODUCT_LOOKUP: dict[str, str] = {_norm(p): cat for p, cat in PRODUCT_CATEGORIES.items()}
assert set(ISSUE_CATEGORIES) <= set(COMPLAINT_CATEGORIES) and set(_PRODUCT_LOOKUP.values()) <= set(COMPLAINT_CATEGORIES)
assert len(_ISSUE_LOOKUP) == sum(len(v) for v in ISSUE_CATEGORIES.values()), "an issue is listed under two categories"


def category_for(product: str, issue: str) -> tuple[str, bool]:
    """(category, matched): matched is False when neither the issue nor the product is in the tables."""
    cat = _ISSUE_LOOKUP.get(_norm(issue))
    if cat is not None:
        return cat, True
    cat = _PRODUCT_LOOKUP.get(_norm(product))
    if cat is not None:
        return cat, True
    return "other", False


# --------------------------------------------------------------------------- field rules

_US_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")
_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_ZIP_DIGITS = re.compile(r"\d{3,5}")
_ZIP5 = re.compile(r"\d{5}")


def parse_date(text: str) -> dt.date:
    """M/D/YYYY (the CFPB website's export) or YYYY-MM-DD (its API); ValueError otherwise."""
    text = text.strip()
    if m := _US_DATE.fullmatch(text):
        return dt.date(int(m[3]), int(m[1]), int(m[2]))
    if m := _ISO_DATE.fullmatch(text):
        return dt.date(int(m[1]), int(m[2]), int(m[3]))
    raise ValueError(text)


def midnight_utc(d: dt.date) -> str:
    return f"{d.isoformat()}T00:00:00Z"


def normalise_zip(zipcode: str) -> str:
    """Spreadsheet round-trips drop leading zeros (02921 -> 2921): 3-4 digits are padded back to 5.
    Masked ZIPs of later exports (e.g. 021XX) are kept as they are."""
    z = zipcode.strip()
    return z.zfill(5) if _ZIP_DIGITS.fullmatch(z) else z


def is_masked_zip(zipcode: str) -> bool:
    """A ZIP that names no 5-digit area: masked to its first three digits (021XX: the CFPB does so
    when the consumer consented to publishing the narrative) or otherwise not 5 digits after padding."""
    z = normalise_zip(zipcode)
    return bool(z) and not _ZIP5.fullmatch(z)


def complainant_for(complaint_id: str, company: str, state: str, zipcode: str) -> str:
    """The proxy complainant key (see the module docstring and docs/cfpb-import.md for its limits).

    Only a full 5-digit ZIP makes a key: a masked ZIP (021XX) covers a 3-digit area of hundreds of
    thousands of people, so keying on it would merge strangers; such a row, like one without a ZIP,
    is a complainant of its own. An unkeyed hash: its inputs are published by the CFPB, so it hides
    nothing and claims to hide nothing; it only makes a short, stable key out of them."""
    z = normalise_zip(zipcode)
    if not _ZIP5.fullmatch(z):
        return f"CFPB-U-{complaint_id}"
    key = "\x1f".join((company.strip().casefold(), state.strip().upper(), z))
    return "CFPB-P-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def _normalise_header(name: str) -> str:
    n = re.sub(r"[\s\-]+", "_", name.strip().lstrip("\ufeff").lower())
    return COLUMN_ALIASES.get(n, n)


# --------------------------------------------------------------------------- the import


def import_cfpb(
    path: str | Path,
    landing: str | Path,
    *,
    as_of: dt.date | None = None,
    overwrite: bool = False,
) -> ImportResult:
    """Map one CFPB export into ``<landing>/complaints/<D>/``; see the module docstring.

    Streams the file (one row in memory at a time, plus the set of complaint and complainant ids).
    Raises ImportSourceError (file, line, column) for input it cannot map, TargetExistsError when
    the date folder already holds a delivery and overwrite is False; nothing is written then.
    """
    path, landing = Path(path), Path(landing)
    if as_of is not None:
        check_target(landing, FEED, as_of, overwrite)
    tmp = staging_folder(landing, FEED)
    try:
        result = _convert(path, tmp, as_of)
        target = check_target(landing, FEED, result.date, overwrite)
        publish(tmp, target)
        result.folder = target
        return result
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _convert(path: Path, out: Path, as_of: dt.date | None) -> ImportResult:
    complaints = ContractCsvWriter(out / "complaints.csv", COMPLAINTS)
    complainant_ids: dict[str, None] = {}  # insertion-ordered set: first appearance in the file
    seen: dict[str, int] = {}  # complaint_id -> line
    latest: dt.date | None = None  # the latest date anywhere in the file: the default D
    counts = {name: Counter() for name in ("category", "status", "outcome", "channel")}
    unmapped: Counter = Counter()
    padded_zips = 0
    masked_zips = 0
    rewound = 0  # complaints forwarded to the company after an explicit --as-of D
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh, strict=True)
            line = 1
            try:
                header = next(reader)
            except StopIteration:
                raise ImportSourceError(path, "the file is empty (no header)") from None
            cols = _index_header(path, header)
            for line, record in csv_records(path, reader, header):
                row = {name: record[i] for name, i in cols.items()}

                def date_of(column: str, required: bool) -> dt.date | None:
                    text = row[column].strip()
                    if not text:
                        if required:
                            raise ImportSourceError(path, "is empty; a date is required", line=line, column=column)
                        return None
                    try:
                        return parse_date(text)
                    except ValueError:
                        raise ImportSourceError(
                            path, f"{text!r} is not a date (M/D/YYYY or YYYY-MM-DD)", line=line, column=column,
                        ) from None

                cid = row["complaint_id"].strip()
                if not cid:
                    raise ImportSourceError(path, "is empty; every complaint needs its ID", line=line, column="complaint_id")
                if cid in seen:
                    raise ImportSourceError(
                        path, f"complaint {cid!r} appears twice (lines {seen[cid]} and {line})",
                        line=line, column="complaint_id")
                seen[cid] = line
                received = date_of("date_received", True)
                sent = date_of("date_sent_to_company", False)
                if as_of is not None and received > as_of:
                    raise ImportSourceError(
                        path, f"{received.isoformat()} is after --as-of {as_of.isoformat()}: a complaint received "
                        "after D cannot be in D's delivery (omit --as-of, or pass a later date)",
                        line=line, column="date_received")
                latest = max(d for d in (latest, received, sent) if d is not None)

                via = row["submitted_via"].strip()
                channel = CHANNELS.get(via)
                if channel is None:
                    raise ImportSourceError(
                        path, f"{via!r} is not a known channel (known: {', '.join(CHANNELS)})",
                        line=line, column="submitted_via")
                response = row["company_response_to_consumer"].strip()
                if response not in RESPONSES:
                    raise ImportSourceError(
                        path, f"{response!r} is not a known company response (known: "
                        + ", ".join(r for r in RESPONSES if r) + ")", line=line, column="company_response_to_consumer")
                status, outcome = RESPONSES[response]
                if status == "in_progress" and not response and sent is None:
                    status = "open"  # not even sent to the company yet
                disputed = row["consumer_disputed?"].strip()
                if disputed not in DISPUTED:
                    raise ImportSourceError(
                        path, f"{disputed!r} is not Yes, No, N/A or empty", line=line, column="consumer_disputed?")
                escalated = DISPUTED[disputed]
                if as_of is not None and sent is not None and sent > as_of:
                    # On D the CFPB had not yet forwarded the complaint: under the resolution proxy
                    # (answered on the day it was forwarded) it stood open, unanswered, undisputed.
                    status, outcome, sent = "open", None, None
                    escalated = None if escalated is None else False
                    rewound += 1

                product, issue = row["product"].strip(), row["issue"].strip()
                category, matched = category_for(product, issue)
                if not matched:
                    unmapped[f"{product} / {issue}"] += 1

                # Dates: the CFPB sometimes dates the forwarding a day before the receipt; clamp, so
                # that no complaint is resolved or updated before it was received.
                sent_or_received = max(received, sent) if sent else received
                resolved_at = midnight_utc(sent_or_received) if status in ("closed", "resolved") else None
                zipcode = row["zipcode"].strip()
                if zipcode and normalise_zip(zipcode) != zipcode:
                    padded_zips += 1
                if is_masked_zip(zipcode):
                    masked_zips += 1
                complainant = complainant_for(cid, row["company"], row["state"], zipcode)
                complainant_ids[complainant] = None

                complaints.write({
                    "complaint_id": f"CFPB-{cid}",
                    "complainant_id": complainant,
                    "received_at": midnight_utc(received),
                    "updated_at": midnight_utc(sent_or_received),
                    "channel": channel,
                    "category": category,
                    "product": product or None,
                    "branch_id": row["state"].strip() or None,
                    "employee_id": None,
                    "status": status,
                    "resolved_at": resolved_at,
                    "outcome": outcome,
                    "escalated_externally": None if escalated is None else ("true" if escalated else "false"),
                    "satisfaction": None,
                    "amount": None,
                })
                counts["category"][category] += 1
                counts["status"][status] += 1
                counts["outcome"][outcome or "(none)"] += 1
                counts["channel"][channel] += 1
    except UnicodeDecodeError as exc:
        raise ImportSourceError(path, f"not UTF-8 ({exc.reason} at byte {exc.start} of the record)", line=line) from None
    finally:
        written_complaints = complaints.close()

    if as_of is None:
        if latest is None:
            raise ImportSourceError(path, "no complaints in the file; pass --as-of to deliver an empty night")
        as_of = latest

    complainants = ContractCsvWriter(out / "complainants.csv", COMPLAINANTS)
    for cp in complainant_ids:
        # The CFPB publishes no name, national ID or phone: the PII columns stay empty, so no token
        # is ever made from them; nothing links a CFPB consumer to a client or an employee.
        complainants.write({"complainant_id": cp, "full_name": None, "national_id": None, "phone": None,
                            "client_id": None, "insider_link": "false"})
    written_complainants = complainants.close()
    files = [written_complaints, written_complainants]
    write_manifest(out, FEED, as_of, files)

    warnings = []
    if unmapped:
        warnings.append(
            f"{sum(unmapped.values())} complaints with a product/issue not in the mapping tables went to "
            f"'other': " + "; ".join(f"{k} ({v})" for k, v in sorted(unmapped.items())))
    if rewound:
        warnings.append(
            f"{rewound} complaints were forwarded to the company after {as_of.isoformat()}: loaded as they stood "
            "on that day (open, no response, no dispute); a later import carries their answers")
    if padded_zips:
        warnings.append(f"{padded_zips} ZIP codes had lost their leading zeros and were padded to 5 digits")
    if masked_zips:
        warnings.append(f"{masked_zips} complaints have a masked ZIP code (e.g. 021XX): each is a complainant of its "
                        "own (a 3-digit area would merge different people)")
    return ImportResult(
        feed=FEED, date=as_of, folder=out, files=files,
        counts={k: dict(sorted(v.items())) for k, v in counts.items()}, warnings=warnings,
    )


def _index_header(path: Path, header: list[str]) -> dict[str, int]:
    names = [_normalise_header(h) for h in header]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ImportSourceError(path, f"column {dupes[0]!r} appears more than once in the header", line=1, column=dupes[0])
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        hints = []
        for c in missing:
            close = difflib.get_close_matches(c, names, n=1, cutoff=0.75)
            hints.append(f"{c!r}" + (f" (is {close[0]!r} it, renamed?)" if close else ""))
        if len(names) == 1 and ("\t" in header[0] or ";" in header[0]):
            hints.append("the header is not comma-separated")
        raise ImportSourceError(
            path, "missing column" + ("s " if len(missing) > 1 else " ") + ", ".join(hints),
            line=1, column=missing[0])
    return {c: names.index(c) for c in REQUIRED_COLUMNS}
