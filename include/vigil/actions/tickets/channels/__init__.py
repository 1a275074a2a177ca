"""Ticket-specific channel parts: SCIM 2.0 account changes and the ticket webhook bodies
(signing, sending, file drops and retries are the delivery core's: vigil.actions.delivery)."""
