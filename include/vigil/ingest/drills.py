"""Drills (docs/drills.md): a marked synthetic leaver injected into night D's raw HR and IAM rows, or
a marked synthetic incident injected into its raw incident register.

`vigil drill` writes ``<landing>/drills/<D>/drill.json``; night D's load of the ``hr`` and ``iam``
feeds (a leaver drill) or of the ``incidents`` feed (an incident drill) adds the drill's rows to the
night's raw partitions (lineage: the drill file, never the bank's file), and from there the night's
own rules, tickets, cases and alerts handle it like any leaver or incident. Every id a drill injects
starts with ``DRILL-`` (vigil.config.DRILL_PREFIX): that mark routes its tickets, cases and alerts to
the drill channels only and keeps it out of every KPI.

The file's contract (strict: unknown fields are refused; the fields after started_at depend on kind)::

    {"schema": "vigil.drill/1", "drill_id": "DRILL-...", "kind": "leaver", "run_date": "YYYY-MM-DD",
     "started_at": "YYYY-MM-DDTHH:MM:SSZ", "employee_id": "DRILL-...", "termination_date": "YYYY-MM-DD",
     "system": "AD", "account_ids": ["DRILL-..."], "privileged": true, "login_after_termination": true}
    {"schema": "vigil.drill/1", "drill_id": "DRILL-...", "kind": "incident", "run_date": "YYYY-MM-DD",
     "started_at": "YYYY-MM-DDTHH:MM:SSZ", "incident_id": "DRILL-...", "severity": "high"}

A bad file stops the night's extract with one line naming the file, the line and the field.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from vigil.config import DRILL_PREFIX
from vigil.ingest.contract import INCIDENT_SEVERITIES, TABLES_BY_FEED

SCHEMA = "vigil.drill/1"
KINDS = ("leaver", "incident")
FILE_NAME = "drill.json"
SAFE_ID = re.compile(r"^DRILL-[A-Za-z0-9_.-]{1,60}$")
SAFE_SYSTEM = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")
COMMON_FIELDS = ("schema", "drill_id", "kind", "run_date", "started_at")
FIELDS_BY_KIND = {
    "leaver": COMMON_FIELDS + ("employee_id", "termination_date", "system", "account_ids", "privileged",
                               "login_after_termination"),
    "incident": COMMON_FIELDS + ("incident_id", "severity"),
}
#: The feeds whose raw rows a drill of each kind adds to (night D's load of that feed injects them).
FEEDS_BY_KIND = {"leaver": ("hr", "iam"), "incident": ("incidents",)}
#: The contract tables a drill may add rows to, per feed.
TABLES_BY_DRILL_FEED = {"hr": ("employees",), "iam": ("accounts",), "incidents": ("incidents",)}
#: A synthetic incident's fixed facts: a channel no complaint uses, so it matches no real complaint or surge.
INCIDENT_CHANNEL = "drill"


class DrillFileError(ValueError):
    """A drill file breaks its contract: one line naming the file, the line and the field."""

    def __init__(self, path: Path | str, line: int, field: str, message: str):
        self.path, self.line, self.field = str(path), line, field
        super().__init__(f"{path}, line {line}, field '{field}': {message}")


@dataclass(frozen=True)
class Drill:
    drill_id: str
    kind: str
    run_date: dt.date
    started_at: dt.datetime
    # kind leaver
    employee_id: str | None = None
    termination_date: dt.date | None = None
    system: str | None = None
    account_ids: tuple[str, ...] = ()
    privileged: bool = False
    login_after_termination: bool = False
    # kind incident
    incident_id: str | None = None
    severity: str | None = None
    path: str = ""
    sha256: str = ""

    @property
    def subject_id(self) -> str:
        """The drill's synthetic subject: its leaver's employee id, or its incident id."""
        return self.incident_id if self.kind == "incident" else self.employee_id

    def to_dict(self) -> dict:
        head = {"schema": SCHEMA, "drill_id": self.drill_id, "kind": self.kind, "run_date": self.run_date.isoformat(),
                "started_at": self.started_at.strftime("%Y-%m-%dT%H:%M:%SZ")}
        if self.kind == "incident":
            return head | {"incident_id": self.incident_id, "severity": self.severity}
        return head | {"employee_id": self.employee_id, "termination_date": self.termination_date.isoformat(),
                       "system": self.system, "account_ids": list(self.account_ids), "privileged": self.privileged,
                       "login_after_termination": self.login_after_termination}


def drill_path(landing: str | Path, run_date: dt.date) -> Path:
    return Path(str(landing)) / "drills" / run_date.isoformat() / FILE_NAME


def _line_of(text: str, field: str) -> int:
    """The line of the field's key in the file (1 when it is not there: a missing field)."""
    m = re.search(r'"' + re.escape(field) + r'"\s*:', text)
    return text.count("\n", 0, m.start()) + 1 if m else 1


def parse_drill(text: str, path: Path | str, *, run_date: dt.date | None = None) -> Drill:
    """Validate a drill file's text; DrillFileError (file, line, field) on the first problem."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DrillFileError(path, exc.lineno, f"column {exc.colno}", f"not valid JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise DrillFileError(path, 1, "(top level)", "must be a JSON object")

    def bad(field: str, message: str) -> DrillFileError:
        return DrillFileError(path, _line_of(text, field), field, message)

    if "kind" not in data:
        raise bad("kind", "missing")
    if data["kind"] not in KINDS:
        raise bad("kind", f"must be one of {', '.join(KINDS)}")
    kind = data["kind"]
    fields = FIELDS_BY_KIND[kind]
    for name in data:
        if name not in fields:
            raise bad(name, f"unknown field (fields of kind {kind}: {', '.join(fields)})")
    for name in fields:
        if name not in data:
            raise bad(name, "missing")
    if data["schema"] != SCHEMA:
        raise bad("schema", f"must be {SCHEMA!r}")
    ids = ("drill_id", "employee_id") if kind == "leaver" else ("drill_id", "incident_id")
    for name in ids:
        if not isinstance(data[name], str) or not SAFE_ID.match(data[name]):
            raise bad(name, f"must start with {DRILL_PREFIX} followed by 1-60 letters, digits, '_', '.', '-' "
                            f"(a drill's ids are marked synthetic)")
    if kind == "leaver":
        accounts = data["account_ids"]
        if not isinstance(accounts, list) or not accounts:
            raise bad("account_ids", "must be a non-empty list")
        for a in accounts:
            if not isinstance(a, str) or not SAFE_ID.match(a):
                raise bad("account_ids", f"{a!r} must start with {DRILL_PREFIX} (a drill's ids are marked synthetic)")
        if len(set(accounts)) != len(accounts):
            raise bad("account_ids", "lists an account twice")
        if not isinstance(data["system"], str) or not SAFE_SYSTEM.match(data["system"]):
            raise bad("system", "must be a system name (letters, digits, '_', '.', '-')")
    elif data["severity"] not in INCIDENT_SEVERITIES:
        raise bad("severity", f"must be one of {', '.join(INCIDENT_SEVERITIES)}")
    dates = {}
    for name in ("run_date", "termination_date") if kind == "leaver" else ("run_date",):
        try:
            dates[name] = dt.date.fromisoformat(data[name]) if isinstance(data[name], str) else None
        except ValueError:
            dates[name] = None
        if dates[name] is None or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", data[name]):
            raise bad(name, "must be a date YYYY-MM-DD")
    if run_date is not None and dates["run_date"] != run_date:
        raise bad("run_date", f"is {dates['run_date']}, but the file is in the folder of {run_date}")
    if kind == "leaver" and dates["termination_date"] > dates["run_date"]:
        raise bad("termination_date", "must be on or before run_date (the drill's leaver has left)")
    try:
        started = dt.datetime.fromisoformat(str(data["started_at"]).replace("Z", "+00:00"))
    except ValueError:
        started = None
    if started is None or started.tzinfo is None:
        raise bad("started_at", "must be a UTC timestamp YYYY-MM-DDTHH:MM:SSZ")
    sha = hashlib.sha256(text.encode("utf-8")).hexdigest()
    head = (data["drill_id"], kind, dates["run_date"], started.astimezone(dt.timezone.utc))
    if kind == "incident":
        return Drill(*head, incident_id=data["incident_id"], severity=data["severity"], path=str(path), sha256=sha)
    for name in ("privileged", "login_after_termination"):
        if not isinstance(data[name], bool):
            raise bad(name, "must be true or false")
    return Drill(*head, employee_id=data["employee_id"], termination_date=dates["termination_date"],
                 system=data["system"], account_ids=tuple(accounts), privileged=data["privileged"],
                 login_after_termination=data["login_after_termination"], path=str(path), sha256=sha)


def read_drill(landing: str | Path, run_date: dt.date) -> Drill | None:
    """Night D's drill, or None when there is none."""
    path = drill_path(landing, run_date)
    if not path.is_file():
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DrillFileError(path, 1, "(file)", f"cannot be read ({exc})") from None
    return parse_drill(text, path, run_date=run_date)


def new_drill(run_date: dt.date, *, now: dt.datetime, system: str = "AD", sequence: int = 1,
              privileged: bool = True, login_after_termination: bool = True, kind: str = "leaver",
              severity: str = "high") -> Drill:
    """Night D's drill. A leaver: left on D-1, an enabled (privileged) account, a login on D (after
    leaving). An incident: a `severity` incident (high: severe, alerted at once) reported on D."""
    tag = f"{run_date:%Y%m%d}-{sequence:02d}"
    head = (f"{DRILL_PREFIX}{tag}", kind, run_date, now.astimezone(dt.timezone.utc).replace(microsecond=0))
    if kind == "incident":
        return Drill(*head, incident_id=f"{DRILL_PREFIX}I{tag}", severity=severity)
    if kind != "leaver":
        raise ValueError(f"drill kind must be one of {', '.join(KINDS)}, not {kind!r}")
    return Drill(*head, employee_id=f"{DRILL_PREFIX}E{tag}", termination_date=run_date - dt.timedelta(days=1),
                 system=system, account_ids=(f"{DRILL_PREFIX}A{tag}",), privileged=privileged,
                 login_after_termination=login_after_termination)


def write_drill(landing: str | Path, drill: Drill) -> Path:
    """Write ``<landing>/drills/<D>/drill.json``; refuses to replace a drill already planned for D."""
    path = drill_path(landing, drill.run_date)
    if path.exists():
        raise FileExistsError(f"{path} exists: night {drill.run_date} already has a drill")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(drill.to_dict(), indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def drill_rows(drill: Drill, feed: str) -> dict[str, list[dict]]:
    """The raw rows a drill adds to `feed` ({table: [row by contract column name]}); none for other feeds.
    No PII: the drill's employee has no name, national id or e-mail; its incident names no person."""
    if feed not in FEEDS_BY_KIND.get(drill.kind, ()):
        return {}
    if feed == "hr":
        return {"employees": [{
            "employee_id": drill.employee_id, "full_name": None, "national_id": None, "email": None,
            "department": "Drill", "position": "Drill subject", "manager_id": None,
            "employment_type": "permanent", "hire_date": drill.termination_date - dt.timedelta(days=365),
            "contract_end_date": None, "status": "terminated", "notice_date": None,
            "termination_date": drill.termination_date, "termination_reason": "resignation",
        }]}
    if feed == "iam":
        left = dt.datetime.combine(drill.termination_date, dt.time(), dt.timezone.utc)
        return {"accounts": [{
            "account_id": a, "system": drill.system, "username": a.lower(), "employee_id": drill.employee_id,
            "status": "enabled", "is_privileged": drill.privileged, "created_at": left - dt.timedelta(days=365),
            "last_login_at": (dt.datetime.combine(drill.run_date, dt.time(10), dt.timezone.utc)
                              if drill.login_after_termination else None),
            "disabled_at": None,
        } for a in drill.account_ids]}
    if feed == "incidents":
        # started 08:00 UTC of D, reported 15 minutes later; not yet activated, restored or reviewed: the
        # night opens its incident case (and alerts a severe one). A channel no complaint uses: its
        # customer impact and surge links stay empty (a drill never touches real complaints).
        start = dt.datetime.combine(drill.run_date, dt.time(8), dt.timezone.utc)
        return {"incidents": [{
            "incident_id": drill.incident_id, "kind": "other", "started_at": start,
            "reported_at": start + dt.timedelta(minutes=15), "location_type": "channel",
            "location": INCIDENT_CHANNEL, "services_affected": "drill (synthetic incident)", "customers_affected": 0,
            "severity": drill.severity, "activated_at": None, "restored_at": None, "post_review_at": None,
            "effectiveness": None,
        }]}
    return {}


def drill_tables(feed: str) -> list:
    """The contract tables a drill may add rows to in `feed` (of any kind: a rerun replaces what the
    night's drill file put there)."""
    names = TABLES_BY_DRILL_FEED.get(feed, ())
    return [t for t in TABLES_BY_FEED.get(feed, ()) if t.name in names]
