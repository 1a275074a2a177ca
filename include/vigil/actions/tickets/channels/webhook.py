"""The bodies of ticket webhooks; signing and sending are the delivery core's
(vigil.actions.delivery.signing). Formats: ``standard`` (``{type, timestamp, data}``),
``servicenow`` (incident-style) and ``jira`` (issue-create style); each embeds the ticket.
"""

from __future__ import annotations

from vigil.actions.tickets import model

URGENCY = {"P1": "1", "P2": "2", "P3": "3"}
JIRA_PRIORITY = {"P1": "Highest", "P2": "High", "P3": "Medium"}


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
