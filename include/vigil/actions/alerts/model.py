"""What an alert is: kind, severity, its subject (an internal id), the facts, a deterministic id.

``alert_id`` is ``<kind>:<24 hex of sha256>`` over the kind, the subject and the *identity* of the
event that triggered it (the publish table's key, e.g. ``CT-01:<complainant_id>:<as_of_date>``,
or the set of failed expectations of a night). The same event derived again on a rerun, or on a
later night while it is still current, gives the same id, so the ledger (``audit.alerts_sent``)
sends it once. Facts that grow every night (days overdue) are shown but are not part of the id.

Facts carry pseudonymous ids, dates, counts, flags and policy terms only: never a name, national
id, phone, email or complaint free text. ``check_facts`` enforces the shape (JSON scalars, lists
and small dicts of them; short strings) so a stray text column cannot slip in unnoticed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import asdict, dataclass, field

from vigil.actions.delivery.wire import canonical_json, plain

# The kinds, in the order digests list them.
COMPLAINANT_TIER_UP = "complainant_tier_up"
DEPARTURE_RISK_HIGH = "departure_risk_high"
HANDOVER_OVERDUE = "handover_overdue"
POST_TERMINATION_LOGIN = "post_termination_login"
COMPLAINT_SURGE = "complaint_surge"
COMPLAINT_DEADLINE_BREACH = "complaint_deadline_breach"
BREAKER_HOLD = "breaker_hold"
DATA_QUALITY_FAILURE = "data_quality_failure"
TICKETS_DEAD_LETTERED = "tickets_dead_lettered"
TICKETS_REFUSED = "tickets_refused"
TICKET_OVERDUE = "ticket_overdue"  # a delivered ticket past due_by whose access IAM still shows open
URGENT_HOLD = "urgent_hold"  # an HR event's freeze held: the event-rate or size breaker, or HR disagrees
URGENT_CONTRADICTED = "urgent_contradicted"  # a later HR snapshot contradicts an event already acted on
CASE_OVERDUE = "case_overdue"  # a response case past its due_by (docs/cases.md)
CASE_CLAIM_UNVERIFIED = "case_claim_unverified"  # resolved in the ITSM, not verified by the data after the grace
CASES_DIGEST = "cases_digest"  # go-live: one digest of the open cases per owner team, not one alert each
#: Alerts about a case: routed to the case's owner team when the alerting config has it (docs/alerts.md)
CASE_ALERT_KINDS = frozenset({CASE_OVERDUE, CASE_CLAIM_UNVERIFIED, CASES_DIGEST})
INCIDENT_SEVERE = "incident_severe"  # a registered incident of a severe level: the emergency leadership, at once
INCIDENT_REVIEW_OVERDUE = "incident_review_overdue"  # a restored incident's post-event review is late
COMPLAINANT_CONTACT_OVERDUE = "complainant_contact_overdue"  # a key complainant's due contact was missed
COMPLAINANT_HANDLING_PLANNED = "complainant_handling_planned"  # one digest of the night's new handling plans
ALERT_STORM = "alert_storm"  # the summary that replaces more than N alerts of one kind in one night

KINDS: tuple[str, ...] = (
    BREAKER_HOLD, URGENT_CONTRADICTED, URGENT_HOLD, DATA_QUALITY_FAILURE, TICKETS_DEAD_LETTERED, TICKETS_REFUSED, TICKET_OVERDUE, POST_TERMINATION_LOGIN,
    DEPARTURE_RISK_HIGH,
    HANDOVER_OVERDUE, COMPLAINANT_TIER_UP, COMPLAINT_DEADLINE_BREACH, COMPLAINT_SURGE,
    CASE_OVERDUE, CASE_CLAIM_UNVERIFIED, CASES_DIGEST, INCIDENT_SEVERE,
    INCIDENT_REVIEW_OVERDUE, COMPLAINANT_CONTACT_OVERDUE, COMPLAINANT_HANDLING_PLANNED, ALERT_STORM,
)
KIND_LABELS = {
    COMPLAINANT_TIER_UP: "Complainant moved into a higher risk tier",
    DEPARTURE_RISK_HIGH: "Departure risk turned high",
    HANDOVER_OVERDUE: "Client handover overdue",
    POST_TERMINATION_LOGIN: "Login after termination",
    COMPLAINT_SURGE: "Complaint surge",
    COMPLAINT_DEADLINE_BREACH: "Complaint past its response deadline",
    BREAKER_HOLD: "Night held by a circuit breaker",
    DATA_QUALITY_FAILURE: "Data-quality gate failed",
    TICKETS_DEAD_LETTERED: "Revocation tickets dead-lettered",
    TICKETS_REFUSED: "Revocation ticket change refused",
    TICKET_OVERDUE: "Revocation ticket overdue, access still open",
    URGENT_HOLD: "HR event held: same-day freeze waits for a person",
    URGENT_CONTRADICTED: "HR snapshot contradicts an HR event already acted on",
    CASE_OVERDUE: "Case past its due date",
    CASE_CLAIM_UNVERIFIED: "Case resolved in the ITSM but not verified by the data",
    CASES_DIGEST: "Open cases of your team (go-live digest)",
    INCIDENT_SEVERE: "Severe incident registered",
    INCIDENT_REVIEW_OVERDUE: "Incident post-event review overdue",
    COMPLAINANT_CONTACT_OVERDUE: "Key-complainant contact missed",
    COMPLAINANT_HANDLING_PLANNED: "Key-complainant handling plans made",
    ALERT_STORM: "Alert storm (summary)",
}

SEVERITIES: tuple[str, ...] = ("critical", "high", "medium", "low")
SEVERITY_RANK = {s: i for i, s in enumerate(SEVERITIES)}

#: Subjects are named by internal, pseudonymous ids only.
SUBJECT_TYPES = ("complainant", "employee", "client", "branch", "complaint", "night", "kind", "ticket", "case", "team",
                 "incident")

MAX_FACT_STRING = 300  # longer strings are refused: facts are ids and terms, never free text
MAX_FACT_ITEMS = 500


_plain = plain  # the delivery core's: alert ids are hashed over these spellings


def plain_facts(facts: dict) -> dict:
    return {str(k): _plain(v) for k, v in facts.items()}


def check_facts(facts: dict, *, where: str = "facts") -> None:
    """Refuse facts that are not small JSON values (see the module docstring)."""

    def check(value, path: str, depth: int) -> None:
        if value is None or isinstance(value, (bool, int, float)):
            return
        if isinstance(value, str):
            if len(value) > MAX_FACT_STRING or "\n" in value:
                raise ValueError(f"{path}: strings in alert facts are ids and terms, not text ({len(value)} chars)")
            return
        if isinstance(value, list) and depth < 3:
            if len(value) > MAX_FACT_ITEMS:
                raise ValueError(f"{path}: more than {MAX_FACT_ITEMS} items")
            for i, v in enumerate(value):
                check(v, f"{path}[{i}]", depth + 1)
            return
        if isinstance(value, dict) and depth < 3:
            for k, v in value.items():
                check(v, f"{path}.{k}", depth + 1)
            return
        raise ValueError(f"{path}: unsupported value of type {type(value).__name__}")

    for key, value in facts.items():
        check(value, f"{where}.{key}", 0)


def make_alert_id(kind: str, subject_type: str, subject_id: str, identity) -> str:
    digest = hashlib.sha256(canonical_json([kind, subject_type, str(subject_id), identity]).encode()).hexdigest()
    return f"{kind}:{digest[:24]}"


@dataclass
class Alert:
    """One alert. ``run_date`` is ISO text so alerts travel through XCom and JSON unchanged."""

    alert_id: str
    kind: str
    severity: str
    subject_type: str
    subject_id: str
    facts: dict
    run_id: str
    run_date: str
    title: str
    rule_id: str | None = None
    policy_version: str | None = None

    def __post_init__(self):
        if isinstance(self.run_date, dt.date):
            self.run_date = self.run_date.isoformat()
        self.subject_id = str(self.subject_id)
        if self.kind not in KINDS:
            raise ValueError(f"unknown alert kind {self.kind!r}")
        if self.severity not in SEVERITIES:
            raise ValueError(f"unknown severity {self.severity!r}")
        if self.subject_type not in SUBJECT_TYPES:
            raise ValueError(f"unknown subject type {self.subject_type!r}")
        self.facts = plain_facts(self.facts)
        check_facts(self.facts)

    @classmethod
    def build(cls, *, kind: str, severity: str, subject_type: str, subject_id, facts: dict, identity,
              run_id: str, run_date, title: str, rule_id: str | None = None,
              policy_version: str | None = None) -> Alert:
        return cls(make_alert_id(kind, subject_type, str(subject_id), _plain(identity)), kind, severity,
                   subject_type, str(subject_id), facts, run_id, run_date, title, rule_id, policy_version)

    @property
    def label(self) -> str:
        return KIND_LABELS.get(self.kind, self.kind)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Alert:
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in names})

    def to_json(self) -> str:
        return canonical_json(self.to_dict())


def sort_key(alert: Alert) -> tuple:
    return (SEVERITY_RANK.get(alert.severity, 9), KINDS.index(alert.kind) if alert.kind in KINDS else 99,
            alert.subject_type, alert.subject_id, alert.alert_id)


@dataclass
class DispatchCounts:
    """What one dispatch did (returned as a dict; every field a count except the path and warnings)."""

    alerts: int = 0           # distinct alerts handed in
    new: int = 0              # not in the ledger before
    already_sent: int = 0     # in the ledger from an earlier run: dropped
    collapsed: int = 0        # new alerts replaced by a storm summary
    summaries: int = 0        # storm summaries made
    recorded: int = 0         # ledger rows written (new alerts + summaries)
    to_send: int = 0          # alerts with at least one destination still owed
    unrouted: int = 0         # new alerts no team receives (recorded, not sent)
    emails: int = 0           # digests accepted by the SMTP server
    webhook_messages: int = 0  # chat messages accepted by a webhook
    delivered: int = 0        # alerts now delivered to every destination
    failed: int = 0           # destinations that failed (retried by the next dispatch)
    warnings: list[str] = field(default_factory=list)
    jsonl: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)
