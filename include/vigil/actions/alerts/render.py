"""How alerts read: the e-mail digest (text and HTML) and chat messages (Slack and Teams JSON).

Everything rendered comes from the alert itself (ids, title, facts), which carries no PII; HTML
and Slack mrkdwn are escaped, so an id or term can never inject markup.
"""

from __future__ import annotations

import html
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from vigil.actions.alerts.model import KIND_LABELS, KINDS, SEVERITY_RANK, Alert, sort_key

MAX_LIST_ITEMS = 20
SEVERITY_COLOURS = {"critical": "#8b0000", "high": "#c0392b", "medium": "#d68910", "low": "#566573"}
TEAMS_COLOURS = {"critical": "Attention", "high": "Attention", "medium": "Warning", "low": "Default"}
SLACK_HEADER_MAX = 150
SLACK_SECTION_MAX = 3000


def fact_text(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "-"
    if isinstance(value, list):
        shown = ", ".join(fact_text(v) for v in value[:MAX_LIST_ITEMS])
        more = len(value) - MAX_LIST_ITEMS
        return shown + (f" ... and {more} more" if more > 0 else "")
    if isinstance(value, dict):
        return "; ".join(f"{k}={fact_text(v)}" for k, v in value.items())
    return str(value)


def fact_lines(alert: Alert) -> list[tuple[str, str]]:
    """(label, value) of the facts worth reading (the long lists of failures get one line each)."""
    lines = []
    for key, value in alert.facts.items():
        if key == "failures" and isinstance(value, list):
            for f in value[:MAX_LIST_ITEMS]:
                what = f"{f.get('unexpected_count')} of {f.get('element_count')} rows" \
                    if f.get("unexpected_count") is not None else (f.get("error") or f"observed {f.get('observed')}")
                lines.append(("failed", f"{f.get('suite')} {f.get('expectation')}: {what}"))
            if len(value) > MAX_LIST_ITEMS:
                lines.append(("failed", f"... and {len(value) - MAX_LIST_ITEMS} more"))
            continue
        lines.append((key.replace("_", " "), fact_text(value)))
    return lines


def _grouped(alerts: list[Alert]) -> list[tuple[str, list[Alert]]]:
    groups: dict[str, list[Alert]] = {}
    for a in sorted(alerts, key=sort_key):
        groups.setdefault(a.kind, []).append(a)
    return sorted(groups.items(), key=lambda kv: (min(SEVERITY_RANK[a.severity] for a in kv[1]),
                                                   KINDS.index(kv[0]) if kv[0] in KINDS else 99))


def _counts(alerts: list[Alert]) -> str:
    by = {}
    for a in alerts:
        by[a.severity] = by.get(a.severity, 0) + 1
    return ", ".join(f"{by[s]} {s}" for s in sorted(by, key=SEVERITY_RANK.get))


def digest_subject(team: str, run_date: str, alerts: list[Alert]) -> str:
    n = len(alerts)
    return f"[Vigil] {run_date}: {n} alert{'s' if n != 1 else ''} for {team} ({_counts(alerts)})"


def digest_text(team: str, run_date: str, alerts: list[Alert]) -> str:
    out = [f"Vigil alerts for {team}, night {run_date}", f"{len(alerts)} alert(s): {_counts(alerts)}", ""]
    for kind, members in _grouped(alerts):
        out.append(f"== {KIND_LABELS.get(kind, kind)} ({len(members)}) ==")
        for a in members:
            out.append(f"[{a.severity.upper()}] {a.title}")
            out.append(f"    {a.subject_type} {a.subject_id} | alert {a.alert_id} | night {a.run_date}"
                       + (f" | rule {a.rule_id} {a.policy_version or ''}".rstrip() if a.rule_id else ""))
            for label, value in fact_lines(a):
                out.append(f"    {label}: {value}")
            out.append("")
    out.append("Subjects are internal pseudonymous ids; look them up in the bank's own systems.")
    out.append(f"Every alert of the night: <out>/alerts/{run_date}/alerts.jsonl")
    return "\n".join(out) + "\n"


def digest_html(team: str, run_date: str, alerts: list[Alert]) -> str:
    e = html.escape
    parts = [
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\">",
        f"<title>{e(digest_subject(team, run_date, alerts))}</title></head>",
        "<body style=\"font-family: Arial, Helvetica, sans-serif; color: #1b2631; max-width: 860px;\">",
        f"<h1 style=\"font-size: 20px;\">Vigil alerts for {e(team)}, night {e(run_date)}</h1>",
        f"<p>{len(alerts)} alert(s): {e(_counts(alerts))}</p>",
    ]
    for kind, members in _grouped(alerts):
        parts.append(f"<h2 style=\"font-size: 16px; border-bottom: 1px solid #ccd1d1;\">"
                     f"{e(KIND_LABELS.get(kind, kind))} ({len(members)})</h2>")
        for a in members:
            colour = SEVERITY_COLOURS.get(a.severity, "#566573")
            parts.append("<div style=\"margin: 0 0 14px 0; padding: 8px 12px; border-left: 4px solid "
                         f"{colour}; background: #f8f9f9;\">")
            parts.append(f"<p style=\"margin: 0 0 4px 0;\"><strong style=\"color: {colour};\">"
                         f"{e(a.severity.upper())}</strong> {e(a.title)}</p>")
            parts.append(f"<p style=\"margin: 0 0 6px 0; font-size: 12px; color: #566573;\">{e(a.subject_type)} "
                         f"<code>{e(a.subject_id)}</code> &middot; alert <code>{e(a.alert_id)}</code> &middot; "
                         f"night {e(a.run_date)}"
                         + (f" &middot; rule {e(a.rule_id)} {e(a.policy_version or '')}" if a.rule_id else "")
                         + "</p>")
            parts.append("<table style=\"font-size: 13px; border-collapse: collapse;\">")
            for label, value in fact_lines(a):
                parts.append(f"<tr><td style=\"padding: 1px 12px 1px 0; color: #566573;\">{e(label)}</td>"
                             f"<td style=\"padding: 1px 0;\">{e(value)}</td></tr>")
            parts.append("</table></div>")
    parts.append("<p style=\"font-size: 12px; color: #566573;\">Subjects are internal pseudonymous ids; look "
                 "them up in the bank's own systems. Every alert of the night: "
                 f"<code>&lt;out&gt;/alerts/{e(run_date)}/alerts.jsonl</code></p></body></html>")
    return "\n".join(parts) + "\n"


def digest_message(team: str, recipients: tuple[str, ...], sender: str, run_date: str,
                   alerts: list[Alert]) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = digest_subject(team, run_date, alerts)
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1])
    msg["X-Vigil-Run-Date"] = run_date
    msg["X-Vigil-Team"] = team
    msg["X-Vigil-Alert-Count"] = str(len(alerts))
    msg.set_content(digest_text(team, run_date, alerts), charset="utf-8")
    msg.add_alternative(digest_html(team, run_date, alerts), subtype="html", charset="utf-8")
    return msg


# --------------------------------------------------------------------------- chat


def _mrkdwn(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _short_facts(a: Alert, limit: int = 6) -> str:
    lines = fact_lines(a)
    shown = "; ".join(f"{label}: {value}" for label, value in lines[:limit])
    return shown + (f"; ... ({len(lines) - limit} more)" if len(lines) > limit else "")


def slack_payload(team: str, run_date: str, alerts: list[Alert], *, part: int = 1, parts: int = 1) -> dict:
    n = len(alerts)
    suffix = f" (part {part}/{parts})" if parts > 1 else ""
    headline = f"Vigil {run_date}: {n} alert{'s' if n != 1 else ''} for {team}{suffix}"
    blocks: list[dict] = [{"type": "header", "text": {"type": "plain_text", "text": headline[:SLACK_HEADER_MAX]}}]
    for a in sorted(alerts, key=sort_key):
        body = (f"*[{a.severity.upper()}]* {_mrkdwn(a.title)}\n"
                f"{_mrkdwn(a.subject_type)} `{_mrkdwn(a.subject_id)}` · `{_mrkdwn(a.alert_id)}`\n"
                f"{_mrkdwn(_short_facts(a))}")
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": body[:SLACK_SECTION_MAX]}})
    blocks.append({"type": "context", "elements": [
        {"type": "mrkdwn", "text": _mrkdwn(f"{_counts(alerts)} · full list: alerts/{run_date}/alerts.jsonl")}]})
    return {"text": headline + ": " + _counts(alerts), "blocks": blocks}


def teams_payload(team: str, run_date: str, alerts: list[Alert], *, part: int = 1, parts: int = 1) -> dict:
    n = len(alerts)
    suffix = f" (part {part}/{parts})" if parts > 1 else ""
    body: list[dict] = [{"type": "TextBlock", "size": "Medium", "weight": "Bolder", "wrap": True,
                         "text": f"Vigil {run_date}: {n} alert{'s' if n != 1 else ''} for {team}{suffix}"}]
    for a in sorted(alerts, key=sort_key):
        body.append({"type": "TextBlock", "wrap": True, "weight": "Bolder", "separator": True,
                     "color": TEAMS_COLOURS.get(a.severity, "Default"),
                     "text": f"[{a.severity.upper()}] {a.title}"})
        facts = [{"title": "subject", "value": f"{a.subject_type} {a.subject_id}"},
                 {"title": "alert", "value": a.alert_id}]
        facts += [{"title": label, "value": value} for label, value in fact_lines(a)[:8]]
        body.append({"type": "FactSet", "facts": facts})
    body.append({"type": "TextBlock", "wrap": True, "isSubtle": True, "size": "Small",
                 "text": f"{_counts(alerts)} · full list: alerts/{run_date}/alerts.jsonl"})
    return {"type": "message", "attachments": [{
        "contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None,
        "content": {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard",
                    "version": "1.4", "body": body},
    }]}


def chat_payloads(fmt: str, team: str, run_date: str, alerts: list[Alert], per_message: int) -> list[tuple[list[Alert], dict]]:
    """The messages for one team's webhook: (alerts in it, JSON payload), at most per_message each."""
    ordered = sorted(alerts, key=sort_key)
    chunks = [ordered[i:i + per_message] for i in range(0, len(ordered), per_message)] or []
    build = slack_payload if fmt == "slack" else teams_payload
    return [(chunk, build(team, run_date, chunk, part=i + 1, parts=len(chunks))) for i, chunk in enumerate(chunks)]
