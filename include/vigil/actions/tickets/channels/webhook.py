"""Signed webhooks to a ticketing system, per the Standard Webhooks specification.

Headers: ``webhook-id`` (the outbox idempotency key: the same on every retry, so the consumer can
drop duplicates), ``webhook-timestamp`` (Unix seconds of this attempt) and ``webhook-signature:
v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`` with the channel's secret (>= 24 bytes).
The body is the same bytes on every attempt. Formats: ``standard`` (``{type, timestamp, data}``),
``servicenow`` (incident-style) and ``jira`` (issue-create style); each embeds the ticket.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import httpx

from vigil.actions.tickets import model
from vigil.actions.tickets.channels.base import Call, SendResult, raise_for, timed_request
from vigil.actions.tickets.config import Channel

URGENCY = {"P1": "1", "P2": "2", "P3": "3"}
JIRA_PRIORITY = {"P1": "Highest", "P2": "High", "P3": "Medium"}


def sign(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def _summary(doc: dict) -> str:
    what = "Revoke leaver access" if doc["kind"] == model.LEAVER else "Freeze privileged access (notice)"
    return f"[{doc['priority']}] {what}: employee {doc['employee_id']} on {doc['system']}"


def _description(doc: dict) -> str:
    lines = [doc["reason"], "", "Actions:"]
    lines += [f"- {a}" for a in model.actions_summary(doc["actions"]).split("; ")]
    lines += ["", f"Due by {doc['due_by']}. Rule {doc['rule_id']} version {doc['rule_version']}; "
                  f"run {doc['run_id']}; ticket {doc['ticket_id']}."]
    return "\n".join(lines)


def render_body(doc: dict, options: dict) -> bytes:
    fmt = options.get("format", "standard")
    if fmt == "servicenow":
        body = {
            "correlation_id": doc["ticket_id"],
            "short_description": _summary(doc),
            "description": _description(doc),
            "category": options.get("category", "Access"),
            "subcategory": doc["kind"],
            "urgency": URGENCY[doc["priority"]],
            "impact": URGENCY[doc["priority"]],
            "assignment_group": (options.get("assignment_groups") or {}).get(doc["system"],
                                                                             options.get("assignment_group", doc["system"])),
            "due_date": doc["due_by"].replace("T", " ").rstrip("Z"),
            "u_vigil_ticket": doc,
        }
    elif fmt == "jira":
        body = {
            "fields": {
                "project": {"key": options.get("project", "IAM")},
                "issuetype": {"name": options.get("issue_type", "Task")},
                "summary": _summary(doc),
                "description": _description(doc),
                "priority": {"name": JIRA_PRIORITY[doc["priority"]]},
                "labels": ["vigil", doc["kind"], doc["rule_id"], doc["system"]],
                "duedate": doc["due_by"][:10],
            },
            "properties": [{"key": "vigil.ticket", "value": doc}],
        }
    else:
        event = "updated" if doc.get("revision", 1) > 1 else "created"
        body = {"type": f"vigil.{doc['kind']}.{event}", "timestamp": doc["created_at"], "data": doc}
    return model.canonical_json(body).encode()


class WebhookChannel:
    type = "webhook"

    def __init__(self, channel: Channel, client: httpx.Client):
        self.channel = channel
        self.client = client
        self.url = channel.options["url"]
        self.key = channel.webhook_key()
        self.extra_headers = {str(k): str(v) for k, v in (channel.options.get("headers") or {}).items()}

    def send(self, document: dict, key: str) -> SendResult:
        calls: list[Call] = []
        body = render_body(document, self.channel.options)
        ts = int(time.time())
        headers = {
            **self.extra_headers,
            "Content-Type": "application/json",
            "webhook-id": key,
            "webhook-timestamp": str(ts),
            "webhook-signature": sign(self.key, key, ts, body),
        }
        r = timed_request(self.client, "POST", self.url, "POST webhook", calls, headers=headers, content=body)
        if not r.is_success:
            raise_for(r, "POST webhook", calls)
        return SendResult("delivered", str(r.status_code), calls, confirms=False)
