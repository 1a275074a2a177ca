"""What a revocation ticket is: its facts, its deterministic id, its document and its CSV line.

A ticket is one (kind, employee_id, system):

* ``leaver_revocation`` (rule AL-01, publish.pub_leaver_access_exposure + pub_leaver_entitlements):
  disable each enabled account of a leaver on the system, and remove each entitlement it holds;
* ``notice_restriction`` (rule AL-02, publish.pub_notice_restrictions): remove (freeze) each
  privileged entitlement of an employee serving notice.

``ticket_id`` is a hash of the facts that make the ticket: rule, employee, system, account(s), the
termination or notice date, and the policy version. The same facts on a rerun give the same id.
Documents are serialised canonically (sorted keys, no whitespace), so the same ticket is always
the same bytes. No PII: employee_id is the bank's pseudonymous employee number, accounts are ids,
entitlements are role names.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
from dataclasses import dataclass
from pathlib import Path

from vigil.actions.delivery.wire import canonical_json, iso_utc, sha256_hex
from vigil.build.dbt_runner import DBT_PROJECT_DIR

DOCUMENT_VERSION = "vigil.revocation_ticket/1"

LEAVER = "leaver_revocation"
NOTICE = "notice_restriction"
KINDS = (LEAVER, NOTICE)
RULE_OF_KIND = {LEAVER: "AL-01", NOTICE: "AL-02"}

DISABLE = "disable_account"
REMOVE = "remove_entitlement"

#: Lifecycle: created -> sent -> acknowledged -> closed, or dead_lettered.
STATUSES = ("created", "sent", "acknowledged", "closed", "dead_lettered")

#: dbt var: a ticket is never due before 23:59:59 UTC of its night D + this many days.
GRACE_VAR = "ticket_grace_days"

CSV_COLUMNS = (
    "ticket_id", "revision", "kind", "priority", "due_by", "policy_due_by", "employee_id", "system", "account_id", "account_ids",
    "actions", "reason", "rule_id", "rule_version", "event_date", "run_id", "run_date", "created_at",
)


def ticket_id_for(rule_id: str, employee_id: str, system: str, account_ids: list[str], event_date: dt.date,
                  policy_version: str) -> str:
    """Deterministic id: the same facts give the same id on every run and every engine."""
    facts = {
        "rule_id": rule_id, "employee_id": employee_id, "system": system,
        "account_ids": sorted(account_ids), "event_date": event_date.isoformat(), "policy_version": policy_version,
    }
    return "VGL-" + sha256_hex(canonical_json(facts))[:32]


def group_key_for(kind: str, employee_id: str, system: str, event_date: dt.date) -> str:
    """What makes a ticket "the same" across nights even when its accounts or policy change."""
    return f"{kind}|{employee_id}|{system}|{event_date.isoformat()}"


def action_key(action: dict) -> tuple:
    return (action["account_id"], 0 if action["action"] == DISABLE else 1, action.get("entitlement") or "")


@dataclass
class Candidate:
    """A ticket tonight's tables ask for (before we know whether it already exists)."""

    document: dict

    @property
    def ticket_id(self) -> str:
        return self.document["ticket_id"]

    @property
    def group_key(self) -> str:
        d = self.document
        return group_key_for(d["kind"], d["employee_id"], d["system"], dt.date.fromisoformat(d["event_date"]))

    @property
    def actions(self) -> list[dict]:
        return self.document["actions"]

    @property
    def content_sha256(self) -> str:
        return content_sha256(self.document)


def content_sha256(document: dict) -> str:
    """The part of a ticket a consumer acts on; a change of it under one id is refused (a new
    priority is not part of it: it is a revision of the same ticket, see store.create_tickets)."""
    keys = ("ticket_id", "kind", "employee_id", "system", "account_ids", "actions", "due_by", "rule_id",
            "rule_version", "event_date")
    return sha256_hex(canonical_json({k: document[k] for k in keys}))


@functools.lru_cache(maxsize=8)
def _vars_of(path: Path, mtime_ns: int, size: int) -> dict:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C loader: 0.2 s less per read on the react path
    return yaml.load(path.read_text(), Loader=loader).get("vars") or {}


def dbt_vars(project_dir: Path | None = None) -> dict:
    """``vars`` of dbt_project.yml, parsed once per version of the file (`vigil react` reads several)."""
    path = Path(project_dir or DBT_PROJECT_DIR) / "dbt_project.yml"
    stat = path.stat()
    return dict(_vars_of(path, stat.st_mtime_ns, stat.st_size))


def ticket_grace_days(project_dir: Path | None = None) -> int:
    """The policy's ticket grace (``vars.ticket_grace_days`` in dbt_project.yml, at least 1)."""
    path = Path(project_dir or DBT_PROJECT_DIR) / "dbt_project.yml"
    value = dbt_vars(project_dir).get(GRACE_VAR, 1)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{path}: vars.{GRACE_VAR} must be a whole number of days >= 1, got {value!r}")
    return value


#: dbt var: an HR event's ticket and the nightly rule's are one departure when their termination (or
#: notice) days are at most this many days apart (docs/events.md, "The same departure").
WINDOW_VAR = "hr_event_window_days"


def hr_event_window_days(project_dir: Path | None = None) -> int:
    """The policy's same-departure window (``vars.hr_event_window_days`` in dbt_project.yml, >= 0)."""
    path = Path(project_dir or DBT_PROJECT_DIR) / "dbt_project.yml"
    value = dbt_vars(project_dir).get(WINDOW_VAR, 3)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{path}: vars.{WINDOW_VAR} must be a whole number of days >= 0, got {value!r}")
    return value


def actionable_due(policy_due_at: dt.datetime, run_date: dt.date, grace_days: int) -> dt.datetime:
    """When a ticket made on night D is due: the rule's due time, but never before 23:59:59 UTC of
    D + grace_days. Night D runs at 00:00 UTC of D+1 (its feeds describe the end of D), so that is
    the first moment Vigil could know; a rule due on D itself (a privileged leaver, a notice-day
    freeze) would otherwise be overdue when its ticket is born."""
    floor = dt.datetime.combine(run_date + dt.timedelta(days=grace_days), dt.time(23, 59, 59),
                                tzinfo=dt.timezone.utc)
    if policy_due_at.tzinfo is None:
        policy_due_at = policy_due_at.replace(tzinfo=dt.timezone.utc)
    return max(policy_due_at, floor)


def _priority(values) -> str:
    return min(v for v in values if v) if any(values) else "P3"


def build_candidates(exposure: list[dict], entitlements: list[dict], notice: list[dict], *, run_date: dt.date,
                     run_id: str, input_hashes: dict[str, str], grace_days: int = 1) -> list[Candidate]:
    """Group the publish rows into tickets: one per (kind, employee_id, system).

    ``policy_due_by`` is the rule's due time (what the revocation KPIs measure against);
    ``due_by`` is when the consumer must have done it (:func:`actionable_due`)."""
    ents_by_account: dict[tuple[str, str], list[dict]] = {}
    for e in entitlements:
        ents_by_account.setdefault((e["system"], e["account_id"]), []).append(e)

    groups: dict[tuple[str, str, str], list[dict]] = {}
    for r in exposure:
        groups.setdefault((LEAVER, r["employee_id"], r["system"]), []).append(r)
    for r in notice:
        groups.setdefault((NOTICE, r["employee_id"], r["system"]), []).append(r)

    out = []
    for (kind, employee_id, system), rows in sorted(groups.items()):
        rows = sorted(rows, key=lambda r: (r["account_id"], r.get("entitlement") or ""))
        account_ids = sorted({r["account_id"] for r in rows})
        rule_id = rows[0]["rule_id"] or RULE_OF_KIND[kind]
        policy_version = max(r["policy_version"] for r in rows)
        actions: list[dict] = []
        if kind == LEAVER:
            event_date = rows[0]["termination_date"]
            for r in rows:
                actions.append({"action": DISABLE, "account_id": r["account_id"]})
                for e in ents_by_account.get((system, r["account_id"]), []):
                    actions.append({"action": REMOVE, "account_id": r["account_id"], "entitlement": e["entitlement"],
                                    "privileged": bool(e["is_privileged"])})
            criticality = rows[0].get("criticality") or "standard"
            reason = (
                f"Leaver: employee {employee_id} terminated on {event_date.isoformat()} and still holds "
                f"{len(account_ids)} enabled account(s) on {system} ({criticality} system); rule {rule_id} "
                f"requires revocation."
            )
        else:
            event_date = rows[0]["notice_date"]
            for r in rows:
                actions.append({"action": REMOVE, "account_id": r["account_id"], "entitlement": r["entitlement"],
                                "privileged": True})
            reason = (
                f"Notice period: employee {employee_id} gave notice on {event_date.isoformat()} and holds "
                f"{len(rows)} privileged entitlement(s) on {system}; rule {rule_id} requires them frozen."
            )
        actions = sorted({canonical_json(a): a for a in actions}.values(), key=action_key)
        due_at = min(r["due_at"] for r in rows)
        ticket_id = ticket_id_for(rule_id, employee_id, system, account_ids, event_date, policy_version)
        source_keys = sorted({r["ticket_key"] for r in rows})
        document = {
            "schema": DOCUMENT_VERSION,
            "ticket_id": ticket_id,
            "kind": kind,
            "employee_id": employee_id,
            "system": system,
            "account_id": account_ids[0],
            "account_ids": account_ids,
            "priority": _priority([r["priority"] for r in rows]),
            "revision": 1,
            "due_by": iso_utc(actionable_due(due_at, run_date, grace_days)),
            "policy_due_by": iso_utc(due_at),
            "actions": actions,
            "reason": reason,
            "rule_id": rule_id,
            "rule_version": policy_version,
            "event_date": event_date.isoformat(),
            "run_id": run_id,
            "run_date": run_date.isoformat(),
            "created_at": None,
            "evidence": {
                "run_id": run_id,
                "logical_date": run_date.isoformat(),
                "input_hashes": dict(sorted(input_hashes.items())),
                "source_keys": source_keys,
            },
        }
        out.append(Candidate(document))
    return out


# --------------------------------------------------------------------------- CSV for people


def _cell(value) -> str:
    """Text a spreadsheet will not evaluate: a leading = + - @ (or tab/CR) gets a quote."""
    text = "" if value is None else str(value)
    if text and text[0] in "=+-@\t\r":
        return "'" + text
    return text


def actions_summary(actions: list[dict]) -> str:
    parts = []
    for a in actions:
        if a["action"] == DISABLE:
            parts.append(f"disable {a['account_id']}")
        else:
            parts.append(f"remove {a['entitlement']} from {a['account_id']}")
    return "; ".join(parts)


def render_csv(documents: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for d in documents:
        row = dict(d, account_ids=" ".join(d["account_ids"]), actions=actions_summary(d["actions"]),
                   revision=d.get("revision", 1), policy_due_by=d.get("policy_due_by", d["due_by"]))
        w.writerow([_cell(row[c]) for c in CSV_COLUMNS])
    return buf.getvalue()


def render_jsonl(documents: list[dict]) -> str:
    return "".join(canonical_json(d) + "\n" for d in documents)
