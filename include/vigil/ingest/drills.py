"""Drills (docs/drills.md): a marked synthetic leaver injected into night D's raw HR and IAM rows.

`vigil drill` writes ``<landing>/drills/<D>/drill.json``; night D's load of the ``hr`` and ``iam``
feeds adds the drill's employee and accounts to the night's raw partitions (lineage: the drill
file, never the bank's file), and from there the night's own rules, tickets, cases and alerts
handle it like any leaver. Every id a drill injects starts with ``DRILL-``
(vigil.config.DRILL_PREFIX): that mark routes its tickets, cases and alerts to the drill channels
only and keeps it out of every KPI.

The file's contract (strict: unknown fields are refused)::

    {"schema": "vigil.drill/1", "drill_id": "DRILL-...", "kind": "leaver", "run_date": "YYYY-MM-DD",
     "started_at": "YYYY-MM-DDTHH:MM:SSZ", "employee_id": "DRILL-...", "termination_date": "YYYY-MM-DD",
     "system": "AD", "account_ids": ["DRILL-..."], "privileged": true, "login_after_termination": true}

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
from vigil.ingest.contract import TABLES_BY_FEED

SCHEMA = "vigil.drill/1"
KINDS = ("leaver",)  # a synthetic incident is not built yet (docs/drills.md)
FILE_NAME = "drill.json"
SAFE_ID = re.compile(r"^DRILL-[A-Za-z0-9_.-]{1,60}$")
SAFE_SYSTEM = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")
FIELDS = ("schema", "drill_id", "kind", "run_date", "started_at", "employee_id", "termination_date", "system",
          "account_ids", "privileged", "login_after_termination")


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
    employee_id: str
    termination_date: dt.date
    system: str
    account_ids: tuple[str, ...]
    privileged: bool
    login_after_termination: bool
    path: str = ""
    sha256: str = ""

    def to_dict(self) -> dict:
        return {"schema": SCHEMA, "drill_id": self.drill_id, "kind": self.kind, "run_date": self.run_date.isoformat(),
                "started_at": self.started_at.strftime("%Y-%m-%dT%H:%M:%SZ"), "employee_id": self.employee_id,
                "termination_date": self.termination_date.isoformat(), "system": self.system,
                "account_ids": list(self.account_ids), "privileged": self.privileged,
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

    for name in data:
        if name not in FIELDS:
            raise bad(name, f"unknown field (fields: {', '.join(FIELDS)})")
    for name in FIELDS:
        if name not in data:
            raise bad(name, "missing")
    if data["schema"] != SCHEMA:
        raise bad("schema", f"must be {SCHEMA!r}")
    if data["kind"] not in KINDS:
        raise bad("kind", f"must be one of {', '.join(KINDS)}")
    for name in ("drill_id", "employee_id"):
        if not isinstance(data[name], str) or not SAFE_ID.match(data[name]):
            raise bad(name, f"must start with {DRILL_PREFIX} followed by 1-60 letters, digits, '_', '.', '-' "
                            f"(a drill's ids are marked synthetic)")
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
    dates = {}
    for name in ("run_date", "termination_date"):
        try:
            dates[name] = dt.date.fromisoformat(data[name]) if isinstance(data[name], str) else None
        except ValueError:
            dates[name] = None
        if dates[name] is None or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", data[name]):
            raise bad(name, "must be a date YYYY-MM-DD")
    if run_date is not None and dates["run_date"] != run_date:
        raise bad("run_date", f"is {dates['run_date']}, but the file is in the folder of {run_date}")
    if dates["termination_date"] > dates["run_date"]:
        raise bad("termination_date", "must be on or before run_date (the drill's leaver has left)")
    try:
        started = dt.datetime.fromisoformat(str(data["started_at"]).replace("Z", "+00:00"))
    except ValueError:
        started = None
    if started is None or started.tzinfo is None:
        raise bad("started_at", "must be a UTC timestamp YYYY-MM-DDTHH:MM:SSZ")
    for name in ("privileged", "login_after_termination"):
        if not isinstance(data[name], bool):
            raise bad(name, "must be true or false")
    return Drill(data["drill_id"], data["kind"], dates["run_date"], started.astimezone(dt.timezone.utc),
                 data["employee_id"], dates["termination_date"], data["system"], tuple(accounts),
                 data["privileged"], data["login_after_termination"], str(path),
                 hashlib.sha256(text.encode("utf-8")).hexdigest())


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
              privileged: bool = True, login_after_termination: bool = True) -> Drill:
    """A leaver drill for night D: left on D-1, an enabled (privileged) account, a login on D (after leaving)."""
    tag = f"{run_date:%Y%m%d}-{sequence:02d}"
    return Drill(f"{DRILL_PREFIX}{tag}", "leaver", run_date, now.astimezone(dt.timezone.utc).replace(microsecond=0),
                 f"{DRILL_PREFIX}E{tag}", run_date - dt.timedelta(days=1), system, (f"{DRILL_PREFIX}A{tag}",), privileged,
                 login_after_termination)


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
    No PII: the drill's employee has no name, national id or e-mail."""
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
    return {}


def drill_tables(feed: str) -> list:
    """The contract tables a drill may add rows to in `feed`."""
    names = {"hr": ("employees",), "iam": ("accounts",)}.get(feed, ())
    return [t for t in TABLES_BY_FEED.get(feed, ()) if t.name in names]
