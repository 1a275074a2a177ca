"""Revocation tickets (issue 5): plan, create with a transactional outbox, deliver, close.

Public API (docs/tickets.md):

    plan_tickets(warehouse_url, run_date, run_id, *, schema="publish_candidate") -> list[dict]
    create_tickets(warehouse_url, run_date, run_id, *, out, schema="publish", config_path=None) -> dict
    deliver_tickets(warehouse_url, config_path, *, out, run_id, now=None) -> dict
    close_tickets(warehouse_url, run_date) -> dict
    acknowledge_ticket(warehouse_url, ticket_id, *, actor, reference=None) -> bool
    ensure_ticket_tables(wh, con)
    issue_tickets(warehouse_url, candidates, *, run_date, run_id, out, config_path=None) -> dict  (urgent path)
"""

from vigil.actions.tickets.delivery import deliver_tickets, outbox_counts
from vigil.actions.tickets.store import (
    acknowledge_ticket, close_tickets, create_tickets, ensure_ticket_tables, issue_tickets, plan_tickets,
    write_ticket_files,
)

__all__ = [
    "acknowledge_ticket", "close_tickets", "create_tickets", "deliver_tickets", "ensure_ticket_tables",
    "issue_tickets", "outbox_counts", "plan_tickets", "write_ticket_files",
]
