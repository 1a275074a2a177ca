"""dispatch_alerts: ledger, storm collapse, routing, sending, and the night's alerts.jsonl.

    dispatch_alerts(warehouse_url, alerts, run_date=D, run_id=..., out=Path("vigil_out"),
                    config_path=Path("config/alerting.yml"))   # None: demo mode, nothing sent

1. Alerts whose alert_id is already in ``audit.alerts_sent`` are dropped (sent, or recorded, by an
   earlier run: a rerun of the same night sends nothing new).
2. Storms: when more than the kind's threshold of alerts of one kind would be recorded for night D
   (earlier dispatches of D included), tonight's new ones of that kind are replaced by one
   ``alert_storm`` summary (routed like the kind); the members are recorded as ``collapsed``.
3. The new alerts and summaries are recorded in one transaction, each with the destinations it is
   owed (``team/email``, ``team/webhook``), before anything is sent.
4. Sending: one e-mail digest per team (HTML + text) and the team's chat messages, for everything
   owed (tonight's, and anything a failed channel left owed in the last RETRY_DAYS nights). Each
   accepted message adds its alerts' rows to ``audit.alert_deliveries``. A failed channel is a
   warning, not an exception: the night's data is published; the next dispatch retries it.
5. ``<out>/alerts/<D>/alerts.jsonl`` is rewritten from the ledger rows of night D: every alert first
   recorded on D (the same bytes however often the night reruns).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from collections import Counter
from pathlib import Path

from vigil.actions.alerts import ledger
from vigil.actions.alerts.channels import DeliveryError, post_webhook, send_email
from vigil.actions.alerts.config import AlertingConfig, load_config
from vigil.actions.alerts.model import (
    ALERT_STORM,
    CASE_ALERT_KINDS,
    SEVERITY_RANK,
    Alert,
    DispatchCounts,
    canonical_json,
    make_alert_id,
    sort_key,
)
from vigil.actions.alerts.render import chat_payloads, digest_message
from vigil.config import ConfigError, is_drill_id
from vigil.store.warehouse import Warehouse

log = logging.getLogger(__name__)

RETRY_DAYS = 7
MAX_SUMMARY_IDS = 200


def _date(value) -> dt.date:
    return value if isinstance(value, dt.date) and not isinstance(value, dt.datetime) else dt.date.fromisoformat(str(value)[:10])


def alerts_path(out: Path, run_date: dt.date) -> Path:
    return Path(out) / "alerts" / run_date.isoformat() / "alerts.jsonl"


def storm_summary(kind: str, members: list[Alert], threshold: int, *, run_date: dt.date, run_id: str,
                  already_tonight: int = 0) -> Alert:
    """One alert standing for `members` (all of one kind): counts, the subjects, and where the rest is."""
    members = sorted(members, key=sort_key)
    severity = min((m.severity for m in members), key=SEVERITY_RANK.get)
    subjects = sorted({m.subject_id for m in members})
    facts = {
        "kind": kind,
        "n_alerts": len(members),
        "threshold": threshold,
        "already_sent_tonight": already_tonight,
        "by_severity": dict(sorted(Counter(m.severity for m in members).items(), key=lambda kv: SEVERITY_RANK[kv[0]])),
        "subject_type": members[0].subject_type,
        "n_subjects": len(subjects),
        "subject_ids": subjects[:MAX_SUMMARY_IDS],
        "alert_ids": [m.alert_id for m in members][:MAX_SUMMARY_IDS],
        "details": f"alerts/{run_date.isoformat()}/alerts.jsonl",
    }
    return Alert.build(
        kind=ALERT_STORM, severity=severity, subject_type="kind", subject_id=kind, facts=facts,
        identity=sorted(m.alert_id for m in members), run_id=run_id, run_date=run_date,
        title=f"Alert storm: {len(members)} new '{members[0].label}' alerts on {run_date.isoformat()} "
              f"(more than {threshold}); collapsed into this summary",
        rule_id=members[0].rule_id, policy_version=members[0].policy_version,
    )


def _destinations(cfg: AlertingConfig, kind: str, severity: str,
                  owner_team: str | None = None) -> tuple[list[str], list[str]]:
    """(team names routed, 'team/channel' destinations owed) for an alert of `kind` (of a case owned by
    `owner_team`, if any)."""
    teams = cfg.teams_for(kind, owner_team)
    dests = []
    for t in teams:
        if t.email:
            dests.append(f"{t.name}/email")
        if t.webhook and t.webhook.wants(severity):
            dests.append(f"{t.name}/webhook")
    return [t.name for t in teams], dests


def dispatch_alerts(warehouse_url: str, alerts: list, *, run_date, run_id: str, out: Path,
                    config_path: Path | None = None, now: dt.datetime | None = None) -> dict:
    """Record, collapse, route and send tonight's alerts; write <out>/alerts/<D>/alerts.jsonl.

    Returns counts (see DispatchCounts): alerts, new, already_sent, collapsed, summaries, recorded,
    to_send, unrouted, emails, webhook_messages, delivered, failed, plus warnings and the jsonl path.
    """
    run_date = _date(run_date)
    cfg = load_config(config_path)
    now = now or dt.datetime.now(dt.timezone.utc)
    counts = DispatchCounts()
    sink_rows: list[Alert] = []
    unique: dict[str, Alert] = {}
    for a in alerts:
        a = a if isinstance(a, Alert) else Alert.from_dict(a)
        unique.setdefault(a.alert_id, a)
    counts.alerts = len(unique)

    wh = Warehouse.open(warehouse_url)
    with wh.transaction() as con:
        ledger.ensure_ledger(con)
        known = ledger.existing(wh, con, list(unique))
        fresh = [a for i, a in unique.items() if i not in known]
        counts.new, counts.already_sent = len(fresh), len(unique) - len(fresh)
        tonight = Counter(r["kind"] for r in ledger.night_rows(wh, con, run_date) if r["kind"] != ALERT_STORM)
        by_kind: dict[str, list[Alert]] = {}
        drills = [a for a in fresh if is_drill_alert(a)]  # docs/drills.md: never a production team
        for a in fresh:
            if not is_drill_alert(a):
                by_kind.setdefault(a.kind, []).append(a)
        rows: list[tuple] = []
        for a in drills:
            teams = cfg.drill_teams()
            dests = [f"{t.name}/{c}" for t in teams for c in t.destinations
                     if c == "email" or t.webhook.wants(a.severity)]
            rows.append(_row(a, run_date, "routed" if dests else DRILL_SINK_STATUS, None, [t.name for t in teams],
                             dests, now))
            if not dests:
                sink_rows.append(a)
        for kind, members in sorted(by_kind.items()):
            threshold = cfg.threshold_for(kind)
            if kind != ALERT_STORM and tonight[kind] + len(members) > threshold:
                summary = storm_summary(kind, members, threshold, run_date=run_date, run_id=run_id,
                                        already_tonight=tonight[kind])
                counts.collapsed += len(members)
                counts.summaries += 1
                rows += [_row(m, run_date, "collapsed", summary.alert_id, [], [], now) for m in members]
                members = [summary]
            for a in members:
                routed_kind = a.subject_id if a.kind == ALERT_STORM else a.kind
                owner = a.facts.get("owner_team") if a.kind in CASE_ALERT_KINDS else None
                teams, dests = _destinations(cfg, routed_kind, a.severity, owner)
                if cfg.sends and not dests:
                    counts.unrouted += 1
                rows.append(_row(a, run_date, "routed" if dests else "recorded", None, teams, dests, now))
        ledger.insert_alerts(con, rows)
        counts.recorded = len(rows)

    if sink_rows:
        write_jsonl(drill_sink_path(out, run_date), [
            {"payload": a.to_json(), "status": DRILL_SINK_STATUS, "collapsed_into": None, "teams": ""}
            for a in sink_rows], append=True)
    if cfg.sends:
        _send_owed(wh, cfg, run_date, run_id, counts)
    elif any(r[7] == "routed" for r in rows):  # pragma: no cover - routed implies a config
        counts.warnings.append("alerts routed but no configuration to send them")
    elif rows and any(r[7] != DRILL_SINK_STATUS for r in rows):  # said plainly in the run output: written to alerts.jsonl, sent to nobody
        counts.warnings.append(f"{len(rows)} alert{'s' if len(rows) != 1 else ''} written but not sent: "
                               "no alerting configuration (--alerting-config or VIGIL_ALERTING_CONFIG)")

    with wh.connection() as con:
        night = ledger.night_rows(wh, con, run_date)
    counts.jsonl = str(write_jsonl(alerts_path(out, run_date), night))
    for w in counts.warnings:
        log.warning("alerts: %s", w)
    log.info("alerts %s: %d handed in, %d new, %d already sent, %d collapsed into %d summaries, %d e-mails, "
             "%d chat messages, %d failed", run_date, counts.alerts, counts.new, counts.already_sent,
             counts.collapsed, counts.summaries, counts.emails, counts.webhook_messages, counts.failed)
    return counts.to_dict()


def _row(a: Alert, run_date: dt.date, status: str, collapsed_into: str | None, teams: list[str],
         dests: list[str], now: dt.datetime) -> tuple:
    return (a.alert_id, a.kind, a.severity, a.subject_type, a.subject_id, run_date, a.run_id, status,
            collapsed_into, ",".join(teams), ",".join(dests), now, a.to_json())


def _send_owed(wh: Warehouse, cfg: AlertingConfig, run_date: dt.date, run_id: str, counts: DispatchCounts) -> None:
    with wh.connection() as con:
        owed = ledger.owed_rows(wh, con, run_date - dt.timedelta(days=RETRY_DAYS), run_date)
        done = ledger.delivered(wh, con, [r["alert_id"] for r in owed])
    # (team, channel) -> alerts still owed there
    queues: dict[tuple[str, str], list[Alert]] = {}
    for r in owed:
        alert = Alert.from_dict(json.loads(r["payload"]))
        for dest in filter(None, r["destinations"].split(",")):
            team, channel = dest.split("/", 1)
            if (r["alert_id"], team, channel) not in done:
                queues.setdefault((team, channel), []).append(alert)
    counts.to_send = len({a.alert_id for q in queues.values() for a in q})
    accepted: list[tuple] = []
    for (team_name, channel), queue in sorted(queues.items()):
        team = cfg.teams.get(team_name)
        if team is None:
            counts.failed += 1
            counts.warnings.append(f"team {team_name} is no longer configured: {len(queue)} alert(s) owed to it")
            continue
        try:
            if channel == "email":
                if cfg.smtp is None:
                    raise ConfigError("no smtp section")
                msg = digest_message(team.name, team.email, cfg.smtp.sender, run_date.isoformat(), queue)
                outcome = send_email(cfg.smtp, msg, team.email)
                counts.emails += 1
                accepted += [(a.alert_id, team.name, "email", run_id, dt.datetime.now(dt.timezone.utc), outcome)
                             for a in queue]
            elif channel == "webhook" and team.webhook:
                for chunk, payload in chat_payloads(team.webhook.format, team.name, run_date.isoformat(), queue,
                                                    team.webhook.max_alerts_per_message):
                    outcome = post_webhook(team.webhook, payload)
                    counts.webhook_messages += 1
                    accepted += [(a.alert_id, team.name, "webhook", run_id, dt.datetime.now(dt.timezone.utc),
                                  outcome) for a in chunk]
            else:
                raise ConfigError(f"team {team_name} has no {channel} channel any more")
        except (DeliveryError, ConfigError) as exc:
            counts.failed += 1
            counts.warnings.append(f"alerts to {team_name}/{channel} not delivered ({exc}); "
                                   f"they stay owed and the next dispatch retries them")
        if accepted:
            # recorded as each channel succeeds, so a later failure does not resend what arrived
            with wh.transaction() as con:
                ledger.insert_deliveries(con, accepted)
            accepted = []
    with wh.connection() as con:
        still = {r["alert_id"] for r in ledger.owed_rows(wh, con, run_date - dt.timedelta(days=RETRY_DAYS), run_date)}
    counts.delivered = len({r["alert_id"] for r in owed} - still)


def is_drill_alert(a: Alert) -> bool:
    """A drill's alert (docs/drills.md): its subject, the employee it names, or its case is a drill's."""
    return is_drill_id(a.subject_id) or is_drill_id((a.facts or {}).get("employee_id")) \
        or (a.facts or {}).get("is_drill") is True


#: A drill's alert with no drill team configured: written to the dry-run sink, sent to nobody.
DRILL_SINK_STATUS = "drill_sink"


def drill_sink_path(out: Path, run_date: dt.date) -> Path:
    """The drills' dry-run sink for alerts (docs/drills.md): <out>/drills/sink/alerts/<D>/alerts.jsonl."""
    return Path(out) / "drills" / "sink" / "alerts" / run_date.isoformat() / "alerts.jsonl"


def write_jsonl(path: Path, night: list[dict], *, append: bool = False) -> Path:
    """The night's alerts, one JSON object per line, in a stable order; written atomically (``append``:
    added to what the file holds, for the drills' sink)."""
    lines = path.read_text(encoding="utf-8").splitlines() if append and path.is_file() else []
    records = []
    for r in night:
        alert = Alert.from_dict(json.loads(r["payload"]))
        records.append((sort_key(alert), alert, r))
    for _, alert, r in sorted(records, key=lambda t: t[0]):
        record = alert.to_dict() | {
            "status": r["status"],
            "collapsed_into": r["collapsed_into"],
            "teams": [t for t in r["teams"].split(",") if t],
        }
        lines.append(canonical_json(record))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".jsonl.tmp")
    tmp.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    os.replace(tmp, path)
    return path


__all__ = ["dispatch_alerts", "storm_summary", "alerts_path", "write_jsonl", "make_alert_id"]
