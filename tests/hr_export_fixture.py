"""A real-looking HR export, as an HR system's "all workers" report delivers it (issue 20, realism).

Not the feed contract: what a bank's HR system actually sends, which the source mapping
config/source_mappings/hr_export.example.yml makes loadable (docs/feeds.md, "Source mappings"):

* **quiet days**: the roster only changes on a few days (a hire, a notice, a leaver); on most nights
  the report is byte-for-byte the one of the night before;
* dates as the system exports them: ``M/D/YYYY`` without leading zeros (``3/7/2026``);
* column names of the system (``Employee ID``, ``Worker``, ``Worker Status`` ...) and its values
  (``Regular``, ``Leave of Absence``);
* free-text termination reasons, typed with varying case and spacing (``resigned -  better opportunity``);
* trailing blanks in text fields (a fixed-width heritage);
* managers identified by **name**, not by id.

Deterministic for a seed. ``write_hr_export(root, start, days)`` writes ``<root>/<D>/Worker_Report.csv``
per day and returns the per-day rosters (for the test's own expectations).
"""

from __future__ import annotations

import csv
import datetime as dt
import random
from pathlib import Path

FILE = "Worker_Report.csv"
HEADER = ["Employee ID", "Worker", "National ID", "Work Email", "Department", "Job Title", "Manager", "Worker Type",
          "Hire Date", "Contract End Date", "Worker Status", "Notice Given On", "Termination Date", "Termination Reason"]
_FIRST = ("Anna", "James", "Maria", "David", "Sophie", "Oliver", "Emma", "Lucas", "Nora", "Mateo", "Ines", "Hugo")
_LAST = ("Smith", "Jones", "Taylor", "Brown", "Wilson", "Patel", "Garcia", "Müller", "Rossi", "Novak", "Kowalski",
         "Dubois", "Silva")
_DEPTS = ("Retail Banking", "Payments", "Compliance", "IT", "Finance")
#: free text as HR staff type it: the seed table lists the canonical spelling, the export varies case and spacing
_REASONS = ("Resigned - Better Opportunity", "resigned -  better opportunity", "Retired", "TERMINATED - MISCONDUCT",
            "End of Fixed Term Contract", "Mutual Agreement")
_TYPES = ("Regular",) * 8 + ("Fixed Term", "Contingent Worker")


def us_date(d: dt.date | None) -> str:
    return "" if d is None else f"{d.month}/{d.day}/{d.year}"


def _blank(seed: int, worker: str, field: int, text: str) -> str:
    """Trailing blanks on some fields, the same for a worker's field every night (quiet days stay identical)."""
    return text + " " * random.Random(f"{seed}:{worker}:{field}").choice((0, 0, 1, 3))


def write_hr_export(root: Path, start: dt.date, days: int, *, workers: int = 40, seed: int = 7,
                    change_every: int = 4) -> dict[dt.date, list[dict]]:
    """One report per day from ``start``; the roster changes only every ``change_every`` days
    (quiet days in between). Returns {day: [worker dicts with contract-side values]}."""
    rng = random.Random(seed)
    names = rng.sample([f"{f} {l}" for f in _FIRST for l in _LAST], workers + days)  # unique names
    roster: list[dict] = []
    for i in range(workers):
        hire = start - dt.timedelta(days=rng.randint(60, 4000))
        kind = rng.choice(_TYPES)
        roster.append(dict(
            id=f"{100 + i:06d}", name=names[i], nid=f"NI{rng.randint(10**6, 10**7 - 1)}",
            email=f"{names[i].split()[0].lower()}.{100 + i}@bank.example", dept=_DEPTS[i % len(_DEPTS)],
            title="Team Lead" if i % 10 == 0 else "Analyst", manager=None if i == 0 else (i // 10) * 10 if i % 10 else 0,
            type=kind, hire=hire, contract_end=start + dt.timedelta(days=rng.randint(30, 400)) if kind == "Fixed Term" else None,
            status="Active", notice=None, term=None, reason=""))
    out: dict[dt.date, list[dict]] = {}
    for k in range(days):
        day = start + dt.timedelta(days=k)
        if k and k % change_every == 0:  # a change day: a hire, a notice and a leaver
            n = len(roster)
            roster.append(dict(id=f"{100 + n:06d}", name=names[n], nid=f"NI{rng.randint(10**6, 10**7 - 1)}",
                               email=f"new.{100 + n}@bank.example", dept=_DEPTS[n % len(_DEPTS)], title="Analyst",
                               manager=0, type="Regular", hire=day, contract_end=None, status="Active", notice=None,
                               term=None, reason=""))
            active = [w for w in roster[1:] if w["status"] == "Active" and w["id"] != roster[-1]["id"]
                      and int(w["id"]) % 10]
            leaver, noticer = active[0], active[1]
            leaver.update(status="Terminated", term=day, reason=rng.choice(_REASONS))
            noticer.update(status="On Notice", notice=day)
        out[day] = [dict(w) for w in roster]
        folder = root / day.isoformat()
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / FILE, "w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh, lineterminator="\r\n")  # the HR system's own line endings
            w.writerow(HEADER)
            for p in roster:
                mgr = "" if p["manager"] is None else roster[p["manager"]]["name"]
                b = lambda field, text: _blank(seed, p["id"], field, text)  # noqa: E731
                w.writerow([p["id"], b(1, p["name"]), p["nid"], p["email"], b(4, p["dept"]), b(5, p["title"]),
                            b(6, mgr) if mgr else "", p["type"], us_date(p["hire"]), us_date(p["contract_end"]),
                            p["status"], us_date(p["notice"]), us_date(p["term"]), b(13, p["reason"]) if p["reason"] else ""])
    return out
