"""Demo planting for key-complainant handling and the incident register (docs/demo-data.md).

Runs after the four feeds are written (``generate`` calls :func:`plant`): it appends a few
complainants, complaints and contacts to the complaints feed, writes the optional incidents feed
(``incidents/<D>/incidents.csv``, header-only on quiet nights) and rewrites the manifests of the
folders it touched. Everything is fixed relative to the first day F and the last day L, so the same
arguments give the same bytes.

Planted (``planted.json`` cases):

* ``key_complainant_missed_contact``: one person under two complainant ids (P98000001, P98000002, the same
  national id), two fraud complaints each, resolved in time: 4 complaints together make the person
  high (each id alone is medium). Last called on F - 12: the go-live plan is due F - 5, overdue on night 1.
* ``key_complainant_on_time``: an insider by token (P98000003): the national id of an active employee, the
  feed's insider_link false; one fees complaint, so high only because Vigil matched the token. Called
  on F - 6 (due F + 1) and again on F + 1: every contact on time.
* ``incident_with_surge``: a high internal failure at the planted surge's branch from L 07:00 (open):
  the surge of L links to it, no complaint_surge case; alerted to the emergency leadership.
* ``incident_without_surge``: a critical cyber incident on the online channel, F - 20 .. F - 18,
  reported late, its post-event review due F - 4 and missing on night 1 (escalated); the review
  arrives on F + 2 (a re-delivered row) when the demo runs that long.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from datetime import date, timedelta
from pathlib import Path

from vigil.ingest.contract import TABLES_BY_FEED, table

__all__ = ["plant"]

_PERSON = "KC-NID-70012"  # P98000001 and P98000002's national id (fake, like every demo identity)


def _ts(day: date, hhmm: str = "10:00") -> str:
    return f"{day.isoformat()}T{hhmm}:00Z"


def _complaint(cid: str, who: str, received: date, category: str, satisfaction: int) -> dict:
    return dict(complaint_id=cid, complainant_id=who, received_at=_ts(received), updated_at=_ts(received + timedelta(5)),
                channel="phone", category=category, product="current account", branch_id="", employee_id="",
                status="resolved", resolved_at=_ts(received + timedelta(5)), outcome="partially_upheld",
                escalated_externally="false", satisfaction=str(satisfaction), amount="")


def _append(path: Path, feed: str, name: str, rows: list[dict]) -> None:
    columns = table(feed, name).column_names
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(",".join(columns) + "\n", encoding="utf-8")
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    for r in rows:
        w.writerow([r.get(c, "") for c in columns])
    with open(path, "a", encoding="utf-8", newline="") as fh:
        fh.write(buf.getvalue())


def _manifest(folder: Path, feed: str, day: date) -> None:
    files = {}
    for t in TABLES_BY_FEED[feed]:
        data = (folder / f"{t.file_stem}.csv").read_bytes()
        rows = len(list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))) - 1
        files[f"{t.file_stem}.csv"] = {"rows": rows, "sha256": hashlib.sha256(data).hexdigest()}
    text = json.dumps({"feed": feed, "date": day.isoformat(), "files": files}, indent=2) + "\n"
    (folder / "_manifest.json").write_text(text, encoding="utf-8")


def _employee_national_id(landing: Path, day: date) -> tuple[str, str]:
    with open(landing / "hr" / day.isoformat() / "employees.csv", newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["status"] == "active" and row["national_id"]:
                return row["employee_id"], row["national_id"]
    raise ValueError("the demo roster has no active employee with a national id")


def plant(landing: Path, start: date, days: int, summary: dict) -> dict:
    """Plant the cases above into the feeds under `landing`; returns their planted.json entries."""
    landing = Path(landing)
    F, L = start, start + timedelta(days - 1)
    nights = [F + timedelta(i) for i in range(days)]
    employee_id, employee_nid = _employee_national_id(landing, F)
    surge = summary["cases"]["complaint_surge"][0]

    complaints = {F: [
        _complaint("C98000001", "P98000001", F - timedelta(40), "fraud", 2),
        _complaint("C98000002", "P98000001", F - timedelta(30), "fraud", 2),
        _complaint("C98000003", "P98000002", F - timedelta(25), "fraud", 1),
        _complaint("C98000004", "P98000002", F - timedelta(20), "credit_dispute", 2),
        _complaint("C98000005", "P98000003", F - timedelta(10), "fees", 4),
    ]}
    complainants = {F: [
        dict(complainant_id="P98000001", full_name="Kim Kaplan", national_id=_PERSON, phone="+44 20 7946 0701",
             client_id="", insider_link="false"),
        dict(complainant_id="P98000002", full_name="K. Kaplan", national_id=_PERSON.lower(), phone="",
             client_id="", insider_link="false"),
        dict(complainant_id="P98000003", full_name="Lee Insider", national_id=employee_nid, phone="",
             client_id="", insider_link="false"),
    ]}

    def contact(cid, who, day, outcome="reached"):
        return dict(contact_id=cid, complainant_id=who, contacted_at=_ts(day, "11:00"), channel="phone",
                    outcome=outcome, handler_id=employee_id)

    contacts = {F: [contact("KCT-1", "P98000001", F - timedelta(12)), contact("KCT-2", "P98000003", F - timedelta(6)),
                    contact("KCT-3", "P98000002", F - timedelta(2), "no_answer")]}
    if days > 1:
        contacts[F + timedelta(1)] = [contact("KCT-4", "P98000003", F + timedelta(1))]

    surge_day = date.fromisoformat(surge["date"])
    with_surge = dict(incident_id="INC-DEMO-1", kind="internal_failure", started_at=_ts(surge_day, "07:00"),
                      reported_at=_ts(surge_day, "07:45"), location_type="branch", location=surge["branch_id"],
                      services_affected="branch counter and card terminals", customers_affected="400",
                      severity="high", activated_at=_ts(surge_day, "09:00"))
    without = dict(incident_id="INC-DEMO-2", kind="cyber", started_at=_ts(F - timedelta(20), "06:00"),
                   reported_at=_ts(F - timedelta(20), "09:00"), location_type="channel", location="online",
                   services_affected="online banking", customers_affected="5000", severity="critical",
                   activated_at=_ts(F - timedelta(20), "10:00"), restored_at=_ts(F - timedelta(18), "18:00"))
    incidents = {F: [without]}
    if days > 3:
        incidents[F + timedelta(2)] = [dict(without, post_review_at=_ts(F + timedelta(2), "15:00"), effectiveness="3")]
    incidents.setdefault(surge_day, []).append(with_surge)

    for day in nights:
        folder = landing / "complaints" / day.isoformat()
        touched = False
        for name, rows in (("complaints", complaints), ("complainants", complainants), ("contacts", contacts)):
            if rows.get(day):
                _append(folder / f"{name}.csv", "complaints", name, rows[day])
                touched = True
        if touched:
            _manifest(folder, "complaints", day)
        folder = landing / "incidents" / day.isoformat()
        _append(folder / "incidents.csv", "incidents", "incidents", incidents.get(day, []))
        _manifest(folder, "incidents", day)

    return {
        "key_complainant_missed_contact": [{
            "person_key": "P98000001", "complainant_ids": ["P98000001", "P98000002"], "tier": "high",
            "last_contact": (F - timedelta(12)).isoformat(), "next_contact_due": (F - timedelta(5)).isoformat()}],
        "key_complainant_on_time": [{
            "person_key": "P98000003", "complainant_ids": ["P98000003"], "tier": "high", "insider_by_token_of": employee_id,
            "contacts": [(F - timedelta(6)).isoformat()] + ([(F + timedelta(1)).isoformat()] if days > 1 else [])}],
        "incident_with_surge": [{"incident_id": "INC-DEMO-1", "branch_id": surge["branch_id"],
                                 "surge_date": surge["date"], "severity": "high"}],
        "incident_without_surge": [{"incident_id": "INC-DEMO-2", "location": "online", "severity": "critical",
                                    "post_review_due": (F - timedelta(4)).isoformat(),
                                    "post_review_at": (F + timedelta(2)).isoformat() if days > 3 else None}],
    }
